"""Incremental fetch: the issues changed since the last fetch, merged into the cached snapshot.

``fetch(since=..., cached=...)`` reads only the issues whose ``updated_on`` moved (plus every
risk, the time entries and a count that detects deletions) and merges them into the cached
snapshot; relations added between otherwise unchanged issues are only seen by a full fetch.
The requests it makes are in the request budget of :mod:`.fetch`.

**Limitation**: a relation added or removed between two issues that did not otherwise
change does not bump ``updated_on`` and is *not* seen (relations of risks are, since
risks are re-read in full). The pipeline therefore does a periodic full fetch
(``ProjectSettings.full_fetch_hours``).

The fetch falls back to a full one (:class:`FullFetchNeeded`; the result's ``fallback_reason``
says why, its ``mode`` is "full") when the counts differ, when the cache is of another project
or has no items, when a custom-field name appears that the cache does not know, when an issue
that existed before ``since`` shows up as a new item (tracker changed from the risk
tracker, moved into the project, made visible), or when the issue that set the
derived project start moved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from tracker_bridge.adapters.redmine import risks
from tracker_bridge.adapters.redmine.client import PAGE_SIZE, RedmineClient
from tracker_bridge.adapters.redmine.context import Context
from tracker_bridge.adapters.redmine.fetch import Fetched, Fetcher, latest_update, start_candidates
from tracker_bridge.adapters.redmine.fields import FieldResolver
from tracker_bridge.adapters.values import parse_datetime
from tracker_bridge.model import Snapshot, TimeEntry, WorkItem

__all__ = ["INCREMENTAL_MARGIN", "FullFetchNeeded", "IncrementalFetcher"]

#: Subtracted from ``since`` in the ``updated_on`` filter of an incremental fetch: the filter
#: has 1-second precision, and the server's clocks may differ a little.
INCREMENTAL_MARGIN = dt.timedelta(seconds=2)


class FullFetchNeeded(Exception):
    """An incremental fetch cannot be trusted; the message says why (a full fetch follows)."""


def _key_id(key: str) -> int | None:
    """The Redmine id in a key ``redmine:<id>`` (None for anything else)."""
    tail = key.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _entries_by_item(entries: list[TimeEntry]) -> dict[str, list[tuple[str, str, float, str]]]:
    """Time entries per item key, comparable (order-independent)."""
    grouped: dict[str, list[tuple[str, str, float, str]]] = {}
    for e in entries:
        if e.item is not None:
            grouped.setdefault(e.item, []).append(
                (e.person or "", e.activity or "", e.hours, e.date.isoformat())
            )
    return {key: sorted(rows) for key, rows in grouped.items()}


class IncrementalFetcher:
    """Merges the changed issues and every risk into a cached snapshot."""

    def __init__(
        self, ctx: Context, client: RedmineClient, fetcher: Fetcher, resolver: FieldResolver
    ) -> None:
        self._ctx = ctx
        self._client = client
        self._fetcher = fetcher
        self._resolver = resolver

    def _risk_issues(self, project: dict[str, Any]) -> list[dict[str, Any]]:
        """Every issue of the risk tracker in the project (all of them: a small register)."""
        wanted = self._ctx.risk.risk_tracker.strip().casefold()
        if not wanted:
            return []
        trackers = project.get("trackers") or []
        ids = [
            int(t["id"]) for t in trackers if str(t.get("name") or "").strip().casefold() == wanted
        ]
        if not ids:  # not enabled here (a subproject may still use it): the global list
            data = self._client.get("/trackers.json", what="tracker list")
            ids = [
                int(t["id"])
                for t in data.get("trackers") or []
                if str(t.get("name") or "").strip().casefold() == wanted
            ]
        if not ids:
            return []
        return self._client.paged(
            "/issues.json",
            "issues",
            {
                **self._fetcher.scope(int(project["id"])),
                "include": "relations",
                "sort": "id",
                "tracker_id": "|".join(str(i) for i in ids),
            },
            what="risk list",
        )

    def fetch(
        self,
        project: dict[str, Any],
        versions_raw: list[dict[str, Any]],
        since: dt.datetime,
        cached: Snapshot,
        progress: Callable[[int, int], None] | None = None,
    ) -> Fetched:
        """Changed issues and all risks, merged into ``cached`` (after :meth:`Fetcher.start`);
        :class:`FullFetchNeeded` when the merge cannot be trusted."""
        ctx, client, fetcher = self._ctx, self._client, self._fetcher
        if cached.source != ctx.source():
            raise FullFetchNeeded("the cached snapshot is of another tracker or project")
        cached_items: dict[int, WorkItem] = {}
        for item in cached.items:
            iid = _key_id(item.key)
            if iid is None:
                raise FullFetchNeeded(f"the cached snapshot has a foreign key {item.key!r}")
            cached_items[iid] = item
        if not cached_items:
            raise FullFetchNeeded("the cached snapshot has no items")
        project_id = int(project["id"])
        scope = fetcher.scope(project_id)
        since_utc = (since if since.tzinfo else since.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
        bound = since_utc - INCREMENTAL_MARGIN

        # 1. the issues changed since the last fetch, and every risk
        changed_raw = client.paged(
            "/issues.json",
            "issues",
            {
                **scope,
                "include": "relations",
                "sort": "id",
                "updated_on": ">=" + bound.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            on_page=progress,
            what="changed issue list",
        )
        risk_by_id = {int(raw["id"]): raw for raw in self._risk_issues(project)}
        work: dict[int, dict[str, Any]] = {}
        for raw in changed_raw:
            iid = int(raw["id"])
            if ctx.is_risk(raw):
                risk_by_id.setdefault(iid, raw)
            elif iid in risk_by_id:
                raise FullFetchNeeded(f"issue #{iid} changed tracker while being read")
            else:
                work[iid] = raw
        n_changed = len({int(raw["id"]) for raw in changed_raw})
        risk_ids = set(risk_by_id)
        for iid, raw in work.items():
            if iid in cached_items:
                continue
            created = parse_datetime(raw.get("created_on"))
            if created is None or created < bound:
                raise FullFetchNeeded(
                    f"issue #{iid} existed before the last fetch but was not one of its items "
                    "(moved into the project, made visible, or no longer a risk)"
                )
        item_ids = (set(cached_items) - risk_ids) | set(work)

        # 2. deletions: the project's issue count must match what the merge holds
        total = int(
            client.get("/issues.json", {**scope, "limit": 1}, what="issue count").get(
                "total_count", -1
            )
        )
        if total != len(item_ids) + len(risk_ids):
            raise FullFetchNeeded(
                f"Redmine counts {total} issues, the merged snapshot {len(item_ids)} items and "
                f"{len(risk_ids)} risks (issues deleted, moved away or hidden)"
            )

        # 3. time entries, in full; items with other entries than cached have a new spent time
        time_entries = fetcher.time_entries(
            fetcher.time_entry_list(project_id), project_id, item_ids, risk_ids
        )
        old_entries, new_entries = (
            _entries_by_item(cached.time_entries),
            _entries_by_item(time_entries),
        )
        reread = sorted(
            i
            for i in item_ids - set(work)
            if old_entries.get(f"redmine:{i}", []) != new_entries.get(f"redmine:{i}", [])
        )
        for offset in range(0, len(reread), PAGE_SIZE):
            chunk = reread[offset : offset + PAGE_SIZE]
            for raw in client.paged(
                "/issues.json",
                "issues",
                {
                    **scope,
                    "include": "relations",
                    "sort": "id",
                    "issue_id": ",".join(str(i) for i in chunk),
                },
                what="issue list (new time entries)",
            ):
                if ctx.is_risk(raw):
                    raise FullFetchNeeded(f"issue #{raw['id']} changed tracker while being read")
                work[int(raw["id"])] = raw

        fresh = [work[i] for i in sorted(work)]
        risks_raw = [risk_by_id[i] for i in sorted(risk_by_id)]
        closed_status_ids = fetcher.closed_statuses(fresh + risks_raw)

        # 4. custom fields: a new name could change how unchanged items are read
        catalogue = dict(cached.custom_fields)
        for raw in fresh + risks_raw:
            for cf in raw.get("custom_fields") or []:
                if str(cf["name"]) not in catalogue:
                    raise FullFetchNeeded(f"custom field '{cf['name']}' is new")
        plan = self._resolver.resolve(catalogue)
        risk_fields = risks.risk_fields(ctx.risk, catalogue)

        # 5. the project start, when derived from the items
        start = ctx.project.start
        if start is None:
            start = cached.project.start
            for iid, old in cached_items.items():
                if old.start != start or (iid not in work and iid not in risk_ids):
                    continue
                raw_now = work.get(iid)
                now = start_candidates(raw_now) if raw_now is not None else []
                if not now or min(now) > start:
                    raise FullFetchNeeded(f"issue #{iid}, which set the project start, moved")
            start = min([start, *(d for raw in fresh for d in start_candidates(raw))])

        # 6. items: the fresh ones replace theirs; an unchanged item keeps its parent only if
        #    that is still an item (a parent that became a risk: top-level, as in a full fetch)
        items_by_id: dict[int, WorkItem] = {}
        for iid, item in cached_items.items():
            if iid not in item_ids or iid in work:
                continue
            parent = _key_id(item.parent) if item.parent else None
            if parent is not None and parent not in item_ids:
                ctx.note(
                    f"issue #{iid}: parent #{parent} is a risk (tracker "
                    f"'{ctx.risk.risk_tracker}'); treated as a top-level item"
                )
                item = item.model_copy(update={"parent": None})
            items_by_id[iid] = item
        for iid, raw in work.items():
            items_by_id[iid] = fetcher.item(
                raw, item_ids, risk_ids, closed_status_ids, plan, risk_fields
            )
        items = [items_by_id[i] for i in sorted(items_by_id)]

        # 7. dependencies: keep those between untouched items, rebuild the others
        touched = set(work) | risk_ids
        kept = [
            d
            for d in cached.dependencies
            if _key_id(d.predecessor) not in touched and _key_id(d.successor) not in touched
        ]
        rebuilt, threatened = fetcher.relations(fresh + risks_raw, item_ids, risk_ids)
        dependencies = sorted(
            kept + rebuilt, key=lambda d: (_key_id(d.predecessor) or 0, _key_id(d.successor) or 0)
        )
        register = risks.register(ctx, risks_raw, closed_status_ids, risk_fields, threatened)

        # 8. milestones: the version list (read again) and the versions items use besides
        milestones = fetcher.version_milestones(versions_raw, project_id)
        cached_milestones = {m.key: m for m in cached.milestones}
        for item in items:
            if item.milestone is None or item.milestone in milestones:
                continue
            raw_now = work.get(_key_id(item.key) or 0)
            ref = (raw_now or {}).get("fixed_version") or {
                "id": _key_id(item.milestone),
                "name": getattr(cached_milestones.get(item.milestone), "name", None),
            }
            milestones[item.milestone] = fetcher.extra_version(ref, project_id)

        snapshot = fetcher.snapshot(
            project, start, items, dependencies, milestones, time_entries, register, catalogue
        )
        latest = latest_update(changed_raw + fresh + risks_raw)
        return Fetched(
            snapshot,
            max(latest, since_utc) if latest is not None else since_utc,
            changed=n_changed + len(reread),
        )
