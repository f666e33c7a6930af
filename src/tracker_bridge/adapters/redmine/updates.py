"""Our values in the issues' custom fields: the diff against the snapshot, and the writes.

Every ``PUT /issues/:id.json`` bumps ``updated_on`` and fires webhooks: ``diff`` compares
normalised values (:func:`values_equal`) and ``apply`` writes only real changes, one PUT per
issue with all its changed fields. Only our logical fields (:class:`FieldNames`) are ever
written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tracker_bridge import errors
from tracker_bridge.adapters.redmine.client import RedmineClient
from tracker_bridge.adapters.redmine.context import Context
from tracker_bridge.adapters.redmine.fields import (
    EXPECTED_FORMATS,
    FieldResolver,
    format_value,
    values_equal,
)
from tracker_bridge.model import ApplyReport, DesiredState, FieldChange, Snapshot

__all__ = ["IssueUpdates"]

log = logging.getLogger(__package__)  # the package's logger: log lines name the adapter


class IssueUpdates:
    """Diffs and writes our field values on the issues of one project."""

    def __init__(self, ctx: Context, client: RedmineClient, resolver: FieldResolver) -> None:
        self._ctx = ctx
        self._client = client
        self._resolver = resolver

    def diff(self, snapshot: Snapshot, desired: DesiredState) -> list[FieldChange]:
        """The field changes of :meth:`RedmineAdapter.diff` (no request)."""
        ctx = self._ctx
        plan = self._resolver.resolve(snapshot.custom_fields)
        items = snapshot.item_map()
        changes: list[FieldChange] = []
        missing_on_item: dict[str, int] = {}
        unknown_logical: set[str] = set()
        skipped_optional: set[str] = set()
        logical_names = set(ctx.field_names.logical_names())
        for key, values in desired.fields.items():
            item = items.get(key)
            if item is None:
                ctx.note(f"desired values for {key}, which is not in the snapshot; skipped")
                continue
            for logical, value in values.items():
                if logical not in logical_names:
                    unknown_logical.add(logical)
                    continue
                if logical in plan.missing:
                    raise self._resolver.missing_error(logical, plan.missing[logical])
                if logical in plan.optional_missing:
                    skipped_optional.add(logical)
                    continue
                if logical not in item.fields:
                    missing_on_item[logical] = missing_on_item.get(logical, 0) + 1
                    continue
                new = format_value(value, EXPECTED_FORMATS.get(logical))
                old = item.fields[logical]
                if not values_equal(old, new):
                    changes.append(FieldChange(item=key, field=logical, old=old, new=new))
        if skipped_optional:
            log.debug(
                "redmine diff %s: optional field(s) %s do not exist in the project; not written",
                ctx.pid,
                ", ".join(sorted(skipped_optional)),
            )
        for logical in sorted(unknown_logical):
            ctx.note(f"logical field '{logical}' has no Redmine field configured; not written")
        for logical, count in sorted(missing_on_item.items()):
            ctx.note(
                f"custom field for '{logical}' is not enabled on {count} issue(s) "
                "(their tracker or project lacks it); those values are not written"
            )
        return changes

    def apply(
        self, changes: list[FieldChange], report: ApplyReport, *, refresh: Callable[[], Snapshot]
    ) -> list[str]:
        """One ``PUT /issues/:id.json`` per issue; counted in ``report``. A 422 or 404 on one
        issue does not stop the others: their messages are returned. Without a diff on this
        adapter the field ids are learned from ``refresh()`` (a fresh fetch)."""
        if changes and self._resolver.ids is None:
            # apply() without diff() on this adapter: learn the ids from a fresh fetch.
            self._resolver.resolve(refresh().custom_fields)
        field_ids = self._resolver.ids or {}
        by_item: dict[str, list[FieldChange]] = {}
        for change in changes:
            by_item.setdefault(change.item, []).append(change)
        failures: list[str] = []
        for key, item_changes in by_item.items():
            native = key.rsplit(":", 1)[-1]
            if not key.startswith("redmine:") or not native.isdigit():
                raise errors.InputError(f"{key!r} is not a Redmine issue key ('redmine:<id>')")
            payload: dict[int, str] = {}
            for change in item_changes:
                if change.field not in field_ids:
                    raise errors.ConfigError(
                        f"no Redmine custom field resolved for logical field '{change.field}'"
                    )
                payload[field_ids[change.field]] = change.new
            path = f"/issues/{native}.json"
            try:
                with (
                    self._client.call(
                        "PUT",
                        path,
                        what=f"update of issue #{native}",
                        not_found=f"issue #{native} no longer exists (or is hidden)",
                    ),
                    self._client.session.idempotent(),
                ):
                    # the same values again: a retry after a dropped connection is harmless
                    self._client.rm.issue.update(
                        int(native),
                        custom_fields=[{"id": i, "value": v} for i, v in payload.items()],
                    )
            except (errors.RejectedError, errors.NotFoundError) as e:
                failures.append(str(e))
                continue
            report.issues_updated += 1
            report.fields_written += len(payload)
            report.items_written.append(key)
        return failures
