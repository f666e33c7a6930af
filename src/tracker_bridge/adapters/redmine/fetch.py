"""Reading a project into a Snapshot: issues, relations, versions, time entries, custom fields.

* ``GET /issues.json`` returns open issues only unless ``status_id=*``; pages hold at most 100.
* ``include=relations`` on the list gives every issue's relations in the canonical direction
  (``follows``/``blocked`` are stored as ``precedes``/``blocks`` with the ids swapped).

What the snapshot holds is in the docstring of :meth:`RedmineAdapter.fetch`; risks and
three-point ranges are read by :mod:`.risks`, the incremental merge is :mod:`.incremental`.

Request budget
--------------
Endpoints of a full fetch, in order (``⌈N/100⌉ + 4`` requests plus the time-entry
pages, at least one; one more for ``/issue_statuses.json`` on servers whose issue JSON lacks
``status.is_closed``, and one ``/versions/:id.json`` per version an issue uses that
the project does not list):

* ``GET /users/current.json`` — the key is valid (not Anonymous)
* ``GET /projects/:identifier.json?include=enabled_modules,trackers``
* ``GET /projects/:id/versions.json`` — own and shared versions
* ``GET /issues.json?project_id=&status_id=*&include=relations&sort=id&subproject_id=``
  (``!*`` or ``*``), paged by 100; ``progress(done, total)`` after each page
* ``GET /time_entries.json?project_id=&subproject_id=``, paged by 100
* ``GET /enumerations/issue_priorities.json`` — the priorities in Redmine's order (an
  issue names only its priority's id and name; the order makes it a rank)

**Incremental fetch** (``since`` *and* ``cached`` given: ``since`` is the
``cursor`` of the fetch that produced ``cached``). The result has the same
shape as, and equals, a full fetch at the same moment, except for the limitation
in :mod:`.incremental`. After the first three requests above:

* ``GET /issues.json?...&updated_on=>=<since - 2 s, UTC Z>`` (the filter has 1-second
  precision), paged: the changed issues. Each replaces its cached item; the cached
  dependencies touching it are dropped and rebuilt from its fresh relations (a
  relation is listed on both its issues, so that is complete for the pair).
* ``GET /issues.json?...&tracker_id=<risk tracker>``: every risk, always (a small
  register; its relations give ``threatens`` exactly). One ``GET /trackers.json``
  first when the project does not list the risk tracker.
* ``GET /issues.json?...&limit=1``: ``total_count`` must equal the merged items plus
  the risks, otherwise an issue was deleted, moved away or hidden: full fetch.
* ``GET /time_entries.json``, in full (Redmine 5.0 cannot filter time entries by
  ``updated_on``, and logging time does not bump an issue's ``updated_on``). Items
  whose time entries differ from the cached ones are re-read with
  ``GET /issues.json?issue_id=a,b,...`` (their ``spent_hours`` changed).
* ``/issue_statuses.json``, ``/versions/:id.json`` and the priority list as in a full fetch.

So ``⌈changed/100⌉ + 6`` requests plus the time-entry pages (the priority list only
when some issue changed), +1 per 100 items with new time entries (measured: 8 for one
changed issue and one time-entry page, against 6 for a full fetch of 30 issues; a full
fetch costs ``⌈N/100⌉ + 4`` plus the same time-entry pages, so incremental fetches save
requests from about 300 issues on, and always save the server rendering every issue).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tracker_bridge import errors
from tracker_bridge.adapters.dates import item_dates
from tracker_bridge.adapters.redmine import risks
from tracker_bridge.adapters.redmine.client import RedmineClient
from tracker_bridge.adapters.redmine.context import Context
from tracker_bridge.adapters.redmine.fields import FieldPlan, FieldResolver, cf_string
from tracker_bridge.adapters.redmine.risks import RiskFields
from tracker_bridge.adapters.values import parse_date, parse_datetime
from tracker_bridge.model import (
    Dependency,
    DependencyType,
    Milestone,
    Project,
    Risk,
    Snapshot,
    Status,
    TimeEntry,
    WorkItem,
)

__all__ = ["Fetched", "Fetcher", "latest_update", "start_candidates"]

log = logging.getLogger(__package__)  # the package's logger: log lines name the adapter


def latest_update(issues: list[dict[str, Any]]) -> dt.datetime | None:
    """The latest ``updated_on`` among raw issues (None when there is none)."""
    stamps = [d for raw in issues if (d := parse_datetime(raw.get("updated_on"))) is not None]
    return max(stamps) if stamps else None


def start_candidates(raw: dict[str, Any]) -> list[dt.date]:
    """What a work issue contributes to the derived project start: start date, creation."""
    return [
        d
        for d in (parse_date(raw.get("start_date")), parse_date(raw.get("created_on")))
        if d is not None
    ]


@dataclass
class Fetched:
    """A snapshot as read, with the latest ``updated_on`` read (None: no issue)."""

    snapshot: Snapshot
    latest: dt.datetime | None
    #: Issues an incremental fetch re-read; None after a full fetch.
    changed: int | None = None


class Fetcher:
    """Reads one project: the lookups every fetch starts with, the full fetch, and the raw
    JSON -> model mapping the incremental fetch shares."""

    def __init__(self, ctx: Context, client: RedmineClient, resolver: FieldResolver) -> None:
        self._ctx = ctx
        self._client = client
        self._resolver = resolver
        self._priorities: dict[int, int] | None = None  # read once per fetch, when needed

    def start(self) -> tuple[dt.datetime | None, dict[str, Any], list[dict[str, Any]]]:
        """The first three requests of every fetch: the key, the project, its versions.
        Also the server's clock when the fetch started (None when it sends no ``Date``)."""
        client = self._client
        self._priorities = None  # an administrator may have reordered them since
        client.current_user()
        server_start = client.server_time()
        project = client.project()
        project_id = int(project["id"])
        versions_raw = (
            client.get(f"/projects/{project_id}/versions.json", what="version list").get("versions")
            or []
        )
        return server_start, project, versions_raw

    def scope(self, project_id: int) -> dict[str, Any]:
        """Filters every issue list of this project uses."""
        return {
            "project_id": project_id,
            "status_id": "*",
            "subproject_id": "*" if self._ctx.project.include_subprojects else "!*",
        }

    def time_entry_list(self, project_id: int) -> list[dict[str, Any]]:
        scope = self.scope(project_id)
        return self._client.paged(
            "/time_entries.json",
            "time_entries",
            {"project_id": project_id, "subproject_id": scope["subproject_id"]},
            what="time entry list",
        )

    def full(
        self,
        project: dict[str, Any],
        versions_raw: list[dict[str, Any]],
        progress: Callable[[int, int], None] | None = None,
    ) -> Fetched:
        """Every issue and time entry of the project (after :meth:`start`)."""
        project_id = int(project["id"])
        issues_raw = self._client.paged(
            "/issues.json",
            "issues",
            {**self.scope(project_id), "include": "relations", "sort": "id"},
            on_page=progress,
            what="issue list",
        )
        by_id: dict[int, dict[str, Any]] = {}
        for raw in issues_raw:  # pages are read at different moments: de-duplicate
            by_id[int(raw["id"])] = raw
        issues = [by_id[i] for i in sorted(by_id)]

        closed_status_ids = self.closed_statuses(issues)
        entries_raw = self.time_entry_list(project_id)

        snapshot = self._build_snapshot(
            project, versions_raw, issues, closed_status_ids, entries_raw
        )
        return Fetched(snapshot, latest_update(issues))

    def closed_statuses(self, issues: list[dict[str, Any]]) -> set[int]:
        closed: set[int] = set()
        unknown = False
        for raw in issues:
            status = raw.get("status") or {}
            flag = status.get("is_closed")
            if isinstance(flag, bool):
                if flag:
                    closed.add(int(status["id"]))
            else:
                unknown = True
        if unknown:
            data = self._client.get("/issue_statuses.json", what="status list")
            closed = {int(s["id"]) for s in data.get("issue_statuses") or [] if s.get("is_closed")}
        return closed

    def _build_snapshot(
        self,
        project: dict[str, Any],
        versions_raw: list[dict[str, Any]],
        issues: list[dict[str, Any]],
        closed_status_ids: set[int],
        entries_raw: list[dict[str, Any]],
    ) -> Snapshot:
        ctx = self._ctx
        project_id = int(project["id"])
        ids = {int(raw["id"]) for raw in issues}
        risk_issues = [raw for raw in issues if ctx.is_risk(raw)]
        work_issues = [raw for raw in issues if not ctx.is_risk(raw)]
        risk_ids = {int(raw["id"]) for raw in risk_issues}
        item_ids = ids - risk_ids

        milestones = self.version_milestones(versions_raw, project_id)
        for raw in work_issues:
            version = raw.get("fixed_version")
            if version and f"redmine:version:{version['id']}" not in milestones:
                milestones[f"redmine:version:{version['id']}"] = self.extra_version(
                    version, project_id
                )

        catalogue: dict[str, str] = {}
        for raw in issues:
            for cf in raw.get("custom_fields") or []:
                catalogue.setdefault(str(cf["name"]), str(cf["id"]))
        plan = self._resolver.resolve(catalogue)
        risk_fields = risks.risk_fields(ctx.risk, catalogue)

        items: list[WorkItem] = []
        for raw in work_issues:
            items.append(self.item(raw, item_ids, risk_ids, closed_status_ids, plan, risk_fields))

        dependencies, threatened = self.relations(issues, item_ids, risk_ids)
        register = risks.register(ctx, risk_issues, closed_status_ids, risk_fields, threatened)

        time_entries = self.time_entries(entries_raw, project_id, item_ids, risk_ids)

        start = ctx.project.start
        if start is None:
            candidates = [d for raw in work_issues for d in start_candidates(raw)]
            start = (
                min(candidates)
                if candidates
                else (parse_date(project.get("created_on")) or dt.date.today())
            )

        return self.snapshot(
            project, start, items, dependencies, milestones, time_entries, register, catalogue
        )

    def snapshot(
        self,
        project: dict[str, Any],
        start: dt.date,
        items: list[WorkItem],
        dependencies: list[Dependency],
        milestones: dict[str, Milestone],
        time_entries: list[TimeEntry],
        register: list[Risk],
        catalogue: dict[str, str],
    ) -> Snapshot:
        """The Snapshot of what was read (milestones sorted by version id)."""
        return Snapshot(
            project=Project(name=str(project.get("name") or self._ctx.pid), start=start),
            items=items,
            dependencies=dependencies,
            milestones=sorted(milestones.values(), key=lambda m: int(m.native_id or 0)),
            time_entries=time_entries,
            risks=register,
            source=self._ctx.source(),
            fetched_at=dt.datetime.now(dt.UTC),
            custom_fields=catalogue,
        )

    def time_entries(
        self,
        entries_raw: list[dict[str, Any]],
        project_id: int,
        item_ids: set[int],
        risk_ids: set[int],
    ) -> list[TimeEntry]:
        """Time entries of the project, with the item they are logged on (None: on the
        project, on a risk, or on an issue that was not fetched; noted)."""
        ctx = self._ctx
        time_entries: list[TimeEntry] = []
        outside_entries = 0
        on_risks = 0
        for te in entries_raw:
            if (
                not ctx.project.include_subprojects
                and int((te.get("project") or {}).get("id", project_id)) != project_id
            ):
                continue
            issue_id = (te.get("issue") or {}).get("id")
            item_key = None
            if issue_id is not None:
                if int(issue_id) in item_ids:
                    item_key = f"redmine:{issue_id}"
                elif int(issue_id) in risk_ids:
                    on_risks += 1
                else:
                    outside_entries += 1
            time_entries.append(
                TimeEntry(
                    item=item_key,
                    person=(te.get("user") or {}).get("name"),
                    activity=(te.get("activity") or {}).get("name"),
                    hours=max(0.0, float(te.get("hours") or 0)),
                    date=parse_date(te.get("spent_on")) or dt.date.today(),
                )
            )
        if outside_entries:
            ctx.note(
                f"{outside_entries} time entries are logged on issues that were not "
                "fetched (not visible to the API user); counted without an item"
            )
        if on_risks:
            ctx.note(
                f"{on_risks} time entries are logged on risks (tracker "
                f"'{ctx.risk.risk_tracker}'); counted for the project, without an item"
            )
        return time_entries

    # ------------------------------------------------------------------ versions

    def version_milestones(
        self, versions_raw: list[dict[str, Any]], project_id: int
    ) -> dict[str, Milestone]:
        """The project's version list as milestones, by key."""
        return {f"redmine:version:{v['id']}": self._milestone(v, project_id) for v in versions_raw}

    @staticmethod
    def _milestone(v: dict[str, Any], project_id: int) -> Milestone:
        name = str(v.get("name") or f"version {v['id']}")
        owner = v.get("project") or {}
        if owner.get("id") is not None and int(owner["id"]) != project_id and owner.get("name"):
            name = f"{owner['name']} - {name}"  # shared from another project, as Redmine shows
        status: Literal["open", "locked", "closed"] = "open"
        if v.get("status") == "locked":
            status = "locked"
        elif v.get("status") == "closed":
            status = "closed"
        return Milestone(
            key=f"redmine:version:{v['id']}",
            name=name,
            due=parse_date(v.get("due_date") or v.get("effective_date")),
            status=status,
            native_id=str(v["id"]),
        )

    def extra_version(self, ref: dict[str, Any], project_id: int) -> Milestone:
        """A version an issue uses that the project's version list does not show."""
        try:
            data = self._client.get(f"/versions/{int(ref['id'])}.json", what="version lookup")
        except (errors.NotFoundError, errors.AuthError):
            self._ctx.note(
                f"version {ref['id']} ('{ref.get('name')}') of some issues is not "
                "visible; used without a due date"
            )
            return Milestone(
                key=f"redmine:version:{ref['id']}",
                name=str(ref.get("name") or ref["id"]),
                native_id=str(ref["id"]),
            )
        return self._milestone(dict(data.get("version") or ref), project_id)

    # ------------------------------------------------------------------ issues

    def priority_rank(self, raw: dict[str, Any]) -> int | None:
        """An issue's priority as its position in Redmine's priority list (1 = the lowest,
        "Low" in the default data; higher is more important), None when unknown.

        The list comes from ``GET /enumerations/issue_priorities.json``, in Redmine's order
        (by position), once per fetch; inactive priorities keep their place.
        """
        ref = raw.get("priority") or {}
        if ref.get("id") is None:
            return None
        if self._priorities is None:
            try:
                data = self._client.get(
                    "/enumerations/issue_priorities.json", what="issue priority list"
                )
            except (errors.NotFoundError, errors.AuthError):
                self._ctx.note("the issue priority list is not readable; priorities not used")
                data = {}
            listed = data.get("issue_priorities") or []
            self._priorities = {int(p["id"]): rank for rank, p in enumerate(listed, start=1)}
        return self._priorities.get(int(ref["id"]))

    def item(
        self,
        raw: dict[str, Any],
        ids: set[int],
        risk_ids: set[int],
        closed: set[int],
        plan: FieldPlan,
        risk_fields: RiskFields,
    ) -> WorkItem:
        """A work issue as a WorkItem (``ids``: the work items, ``closed``: closed statuses)."""
        ctx = self._ctx
        iid = int(raw["id"])
        parent_key = None
        parent = (raw.get("parent") or {}).get("id")
        if parent is not None:
            if int(parent) in ids:
                parent_key = f"redmine:{parent}"
            elif int(parent) in risk_ids:
                ctx.note(
                    f"issue #{iid}: parent #{parent} is a risk (tracker "
                    f"'{ctx.risk.risk_tracker}'); treated as a top-level item"
                )
            else:
                ctx.note(
                    f"issue #{iid}: parent #{parent} is outside the fetched issues; "
                    "treated as a top-level item"
                )
        status = raw.get("status") or {}
        is_closed = int(status.get("id", 0)) in closed
        version = raw.get("fixed_version")
        fields: dict[str, str | None] = {}
        values = {int(cf["id"]): cf.get("value") for cf in raw.get("custom_fields") or []}
        for logical, field_id in plan.ids.items():
            if field_id in values:
                fields[logical] = cf_string(values[field_id])
        estimate = raw.get("estimated_hours")
        likely = max(0.0, float(estimate)) if estimate is not None else None
        dates = item_dates(
            ctx.project,
            start=parse_date(raw.get("start_date")),
            due=parse_date(raw.get("due_date")),
            fields={str(cf.get("name")): cf.get("value") for cf in raw.get("custom_fields") or []},
            where=f"issue #{iid}",
            note=ctx.note,
        )
        return WorkItem(
            key=f"redmine:{iid}",
            native_id=str(iid),
            title=str(raw.get("subject") or ""),
            url=f"{ctx.base_url}/issues/{iid}",
            status=Status.CLOSED if is_closed else Status.OPEN,
            closed_on=parse_date(raw.get("closed_on")) if is_closed else None,
            estimate_hours=likely,
            estimate_range=risks.estimate_range(
                ctx, iid, likely, values, risk_fields, quiet=is_closed
            ),
            spent_hours=max(0.0, float(raw.get("spent_hours") or 0)),
            done_ratio=min(100, max(0, int(raw.get("done_ratio") or 0))),
            **dates,
            assignee=(raw.get("assigned_to") or {}).get("name"),
            priority=self.priority_rank(raw),
            milestone=f"redmine:version:{version['id']}" if version else None,
            parent=parent_key,
            tracker=(raw.get("tracker") or {}).get("name"),
            updated_on=parse_datetime(raw.get("updated_on")),
            fields=fields,
        )

    def relations(
        self, issues: list[dict[str, Any]], ids: set[int], risk_ids: set[int]
    ) -> tuple[list[Dependency], dict[int, set[int]]]:
        """Dependencies between work items (``ids``), and risk id -> ids of the work items
        it is related to by any relation (those relations are never dependencies)."""
        seen: set[int] = set()
        best: dict[tuple[int, int], tuple[int, str]] = {}
        threatened: dict[int, set[int]] = {}
        outside = 0
        risk_outside = 0
        for raw in issues:
            for rel in raw.get("relations") or []:
                rel_id = int(rel.get("id", 0))
                if rel_id in seen:
                    continue  # both issues list the relation
                seen.add(rel_id)
                kind = str(rel.get("relation_type"))
                pred, succ = int(rel["issue_id"]), int(rel["issue_to_id"])
                if pred in risk_ids or succ in risk_ids:
                    for risk, other in ((pred, succ), (succ, pred)):
                        if risk not in risk_ids or other in risk_ids:
                            continue
                        if other in ids:
                            threatened.setdefault(risk, set()).add(other)
                        else:
                            risk_outside += 1
                    continue
                if kind in ("follows", "blocked"):  # not stored by Redmine, but be safe
                    pred, succ = succ, pred
                    kind = "precedes" if kind == "follows" else "blocks"
                if kind not in ("precedes", "blocks") or pred == succ:
                    continue
                if pred not in ids or succ not in ids:
                    outside += 1
                    log.info(
                        "redmine %s: %s relation #%s -> #%s leaves the fetched issues; dropped",
                        self._ctx.pid,
                        kind,
                        pred,
                        succ,
                    )
                    continue
                lag = int(rel.get("delay") or 0) if kind == "precedes" else 0
                current = best.get((pred, succ))
                if current is None or lag > current[0]:
                    best[(pred, succ)] = (lag, kind)
        if outside:
            self._ctx.note(
                f"{outside} relation(s) point to issues outside the fetched set "
                "(another project, or not visible); dropped"
            )
        if risk_outside:
            self._ctx.note(
                f"{risk_outside} relation(s) of risks point to issues outside the "
                "fetched set; those issues are not counted as threatened"
            )
        dependencies = [
            Dependency(
                predecessor=f"redmine:{p}",
                successor=f"redmine:{s}",
                type=DependencyType.FS,
                lag_days=lag,
                origin=kind,
            )
            for (p, s), (lag, kind) in sorted(best.items())
        ]
        return dependencies, threatened
