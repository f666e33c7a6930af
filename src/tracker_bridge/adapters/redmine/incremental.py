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
from tracker_bridge.model import Dependency, Milestone, Snapshot, TimeEntry, WorkItem

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
        ctx, fetcher = self._ctx, self._fetcher
        cached_items = self._cached_items(cached)
        project_id = int(project["id"])
        scope = fetcher.scope(project_id)
        since_utc = (since if since.tzinfo else since.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
        bound = since_utc - INCREMENTAL_MARGIN

        # 1. the issues changed since the last fetch, and every risk
        changed_raw = self._changed(scope, bound, progress)
        risk_by_id = {int(raw["id"]): raw for raw in self._risk_issues(project)}
        work = self._split_changed(changed_raw, risk_by_id)
        n_changed = len({int(raw["id"]) for raw in changed_raw})
        risk_ids = set(risk_by_id)
        self._check_new_items(work, cached_items, bound)
        item_ids = (set(cached_items) - risk_ids) | set(work)

        # 2. deletions: the project's issue count must match what the merge holds
        self._check_count(scope, item_ids, risk_ids)

        # 3. time entries, in full; items with other entries than cached have a new spent time
        time_entries = fetcher.time_entries(
            fetcher.time_entry_list(project_id), project_id, item_ids, risk_ids
        )
        reread = self._reread(scope, cached, time_entries, item_ids, work)

        fresh = [work[i] for i in sorted(work)]
        risks_raw = [risk_by_id[i] for i in sorted(risk_by_id)]
        closed_status_ids = fetcher.closed_statuses(fresh + risks_raw)

        # 4. custom fields: a new name could change how unchanged items are read
        catalogue = self._catalogue(cached, fresh + risks_raw)
        plan = self._resolver.resolve(catalogue)
        risk_fields = risks.risk_fields(ctx.risk, catalogue)

        # 5. the project start, when derived from the items
        start = ctx.project.start
        if start is None:
            start = self._derived_start(cached, cached_items, work, risk_ids, fresh)

        # 6. items: the fresh ones replace theirs, the unchanged ones are kept
        items_by_id = self._kept_items(cached_items, item_ids, work)
        for iid, raw in work.items():
            items_by_id[iid] = fetcher.item(
                raw, item_ids, risk_ids, closed_status_ids, plan, risk_fields
            )
        items = [items_by_id[i] for i in sorted(items_by_id)]

        # 7. dependencies: keep those between untouched items, rebuild the others
        dependencies, threatened = self._dependencies(
            cached, fresh + risks_raw, item_ids, risk_ids, set(work) | risk_ids
        )
        register = risks.register(ctx, risks_raw, closed_status_ids, risk_fields, threatened)

        # 8. milestones: the version list (read again) and the versions items use besides
        milestones = self._milestones(cached, versions_raw, project_id, items, work)

        snapshot = fetcher.snapshot(
            project, start, items, dependencies, milestones, time_entries, register, catalogue
        )
        latest = latest_update(changed_raw + fresh + risks_raw)
        return Fetched(
            snapshot,
            max(latest, since_utc) if latest is not None else since_utc,
            changed=n_changed + len(reread),
        )

    def _cached_items(self, cached: Snapshot) -> dict[int, WorkItem]:
        """The cached items by Redmine id; :class:`FullFetchNeeded` for an unusable cache."""
        if cached.source != self._ctx.source():
            raise FullFetchNeeded("the cached snapshot is of another tracker or project")
        cached_items: dict[int, WorkItem] = {}
        for item in cached.items:
            iid = _key_id(item.key)
            if iid is None:
                raise FullFetchNeeded(f"the cached snapshot has a foreign key {item.key!r}")
            cached_items[iid] = item
        if not cached_items:
            raise FullFetchNeeded("the cached snapshot has no items")
        return cached_items

    def _changed(
        self,
        scope: dict[str, Any],
        bound: dt.datetime,
        progress: Callable[[int, int], None] | None,
    ) -> list[dict[str, Any]]:
        """The issues (items and risks) updated at or after ``bound``."""
        return self._client.paged(
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

    def _split_changed(
        self, changed_raw: list[dict[str, Any]], risk_by_id: dict[int, dict[str, Any]]
    ) -> dict[int, dict[str, Any]]:
        """The changed items by id; changed risks join ``risk_by_id`` (if not there yet)."""
        work: dict[int, dict[str, Any]] = {}
        for raw in changed_raw:
            iid = int(raw["id"])
            if self._ctx.is_risk(raw):
                risk_by_id.setdefault(iid, raw)
            elif iid in risk_by_id:
                raise FullFetchNeeded(f"issue #{iid} changed tracker while being read")
            else:
                work[iid] = raw
        return work

    @staticmethod
    def _check_new_items(
        work: dict[int, dict[str, Any]], cached_items: dict[int, WorkItem], bound: dt.datetime
    ) -> None:
        """:class:`FullFetchNeeded` when an item new to the cache was created before ``bound``."""
        for iid, raw in work.items():
            if iid in cached_items:
                continue
            created = parse_datetime(raw.get("created_on"))
            if created is None or created < bound:
                raise FullFetchNeeded(
                    f"issue #{iid} existed before the last fetch but was not one of its items "
                    "(moved into the project, made visible, or no longer a risk)"
                )

    def _check_count(self, scope: dict[str, Any], item_ids: set[int], risk_ids: set[int]) -> None:
        """:class:`FullFetchNeeded` unless Redmine counts as many issues as the merge holds."""
        total = int(
            self._client.get("/issues.json", {**scope, "limit": 1}, what="issue count").get(
                "total_count", -1
            )
        )
        if total != len(item_ids) + len(risk_ids):
            raise FullFetchNeeded(
                f"Redmine counts {total} issues, the merged snapshot {len(item_ids)} items and "
                f"{len(risk_ids)} risks (issues deleted, moved away or hidden)"
            )

    def _reread(
        self,
        scope: dict[str, Any],
        cached: Snapshot,
        time_entries: list[TimeEntry],
        item_ids: set[int],
        work: dict[int, dict[str, Any]],
    ) -> list[int]:
        """Reads the unchanged items whose time entries changed into ``work``; their ids."""
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
            for raw in self._client.paged(
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
                if self._ctx.is_risk(raw):
                    raise FullFetchNeeded(f"issue #{raw['id']} changed tracker while being read")
                work[int(raw["id"])] = raw
        return reread

    @staticmethod
    def _catalogue(cached: Snapshot, raws: list[dict[str, Any]]) -> dict[str, str]:
        """The cached custom-field catalogue; :class:`FullFetchNeeded` if ``raws`` use a new one."""
        catalogue = dict(cached.custom_fields)
        for raw in raws:
            for cf in raw.get("custom_fields") or []:
                if str(cf["name"]) not in catalogue:
                    raise FullFetchNeeded(f"custom field '{cf['name']}' is new")
        return catalogue

    @staticmethod
    def _derived_start(
        cached: Snapshot,
        cached_items: dict[int, WorkItem],
        work: dict[int, dict[str, Any]],
        risk_ids: set[int],
        fresh: list[dict[str, Any]],
    ) -> dt.date:
        """The start derived from the items; :class:`FullFetchNeeded` if its setting issue moved."""
        start = cached.project.start
        for iid, old in cached_items.items():
            if old.start != start or (iid not in work and iid not in risk_ids):
                continue
            raw_now = work.get(iid)
            now = start_candidates(raw_now) if raw_now is not None else []
            if not now or min(now) > start:
                raise FullFetchNeeded(f"issue #{iid}, which set the project start, moved")
        return min([start, *(d for raw in fresh for d in start_candidates(raw))])

    def _kept_items(
        self,
        cached_items: dict[int, WorkItem],
        item_ids: set[int],
        work: dict[int, dict[str, Any]],
    ) -> dict[int, WorkItem]:
        """The unchanged cached items; one keeps its parent only if that is still an item."""
        ctx = self._ctx
        # a parent that became a risk: top-level, as in a full fetch
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
        return items_by_id

    def _dependencies(
        self,
        cached: Snapshot,
        raws: list[dict[str, Any]],
        item_ids: set[int],
        risk_ids: set[int],
        touched: set[int],
    ) -> tuple[list[Dependency], dict[int, set[int]]]:
        """The cached dependencies between untouched items plus those rebuilt from ``raws``."""
        kept = [
            d
            for d in cached.dependencies
            if _key_id(d.predecessor) not in touched and _key_id(d.successor) not in touched
        ]
        rebuilt, threatened = self._fetcher.relations(raws, item_ids, risk_ids)
        dependencies = sorted(
            kept + rebuilt, key=lambda d: (_key_id(d.predecessor) or 0, _key_id(d.successor) or 0)
        )
        return dependencies, threatened

    def _milestones(
        self,
        cached: Snapshot,
        versions_raw: list[dict[str, Any]],
        project_id: int,
        items: list[WorkItem],
        work: dict[int, dict[str, Any]],
    ) -> dict[str, Milestone]:
        """The project's versions plus every other version an item uses."""
        fetcher = self._fetcher
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
        return milestones
