"""Reading a project into a Snapshot: issues, milestones, dependencies, sub-issues, estimates.

* The issue list includes pull requests. They are recognised by a ``pull_request`` object
  (even one with only URLs, as pull requests from before 2013 have, whose ``html_url`` is
  under ``/issues/``) or ``"/pull/" in html_url`` of the list JSON (nothing is completed
  lazily, see :mod:`.client`), and the
  ``issue_dependencies_summary`` / ``sub_issues_summary`` roll-ups of the list JSON decide
  which issues need a relation request at all.
* ``due_on`` of a milestone is midnight US-Pacific as a UTC instant: the date is read in
  ``America/Los_Angeles``.

Request budget
--------------
``fetch`` (R repositories, I_r issues and pull requests and M_r milestones of repository r,
B issues with blockers, S parents whose sub-issues are not all named by ``parent_issue_url``
in the list, P items on the board)::

    sum_r (ceil(I_r/100) + ceil(M_r/100))  +  B  +  S  +  ceil(P/100)

(a list with no entries still costs its one page; B and S pages hold 100 entries). Pull
requests, lazy attributes and parents named by ``parent_issue_url`` cost nothing.
``diff`` costs no API request when ``fetch`` ran on the same adapter (one GraphQL query for
the board otherwise) plus one ``git clone`` per page. ``apply`` costs one
``addProjectV2ItemById`` per issue not yet on the board and one GraphQL mutation document per
issue with changed values (all its fields in one document, as aliases), writes at least
``write_interval_seconds`` apart; per page one commit and ``git push`` (plus one ``git
fetch`` per rejected push). ``check``: ``GET /user``, ``GET /repos/{o}/{r}`` per repository,
one GraphQL query, one ``git ls-remote``. Git operations are counted separately
(:attr:`GitHubAdapter.git_operations`).

Why a full read every pass
--------------------------
Adding or removing a dependency or a sub-issue does not bump the issue's ``updated_at``, so a
``since=`` cursor would miss it. Every pass therefore lists all issues (``state=all``); the
list JSON carries the roll-up counts (``issue_dependencies_summary.total_blocked_by``,
``sub_issues_summary.total``), which change with the edges, and the blockers of every issue
with a non-zero count are read in full on every pass. Projects field values do not bump it
either; the board is read in full too.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tracker_bridge.adapters.dates import ItemDates, item_dates
from tracker_bridge.adapters.github.board import Board
from tracker_bridge.adapters.github.client import GitHubClient
from tracker_bridge.adapters.github.context import Context
from tracker_bridge.adapters.github.estimates import estimate
from tracker_bridge.adapters.github.keys import body_dependencies, sort_key
from tracker_bridge.adapters.github.projects import Projects
from tracker_bridge.adapters.values import parse_date, parse_datetime
from tracker_bridge.model import (
    Dependency,
    DependencyType,
    EstimateRange,
    Milestone,
    Project,
    Snapshot,
    Source,
    Status,
    WorkItem,
)
from tracker_bridge.settings import ProjectSettings

__all__ = ["Fetcher", "pacific_date"]

log = logging.getLogger(__package__)  # the package's logger: log lines name the adapter

_PACIFIC_FALLBACK = dt.timedelta(hours=7)  # 07:00Z and 08:00Z both land on the right date

try:
    _PACIFIC: ZoneInfo | None = ZoneInfo("America/Los_Angeles")
except ZoneInfoNotFoundError:  # pragma: no cover - no tz database on this machine
    _PACIFIC = None

_RawIssues = dict[str, tuple[str, dict[str, Any]]]  # key -> (repository, list JSON)


def is_pull_request(raw: dict[str, Any]) -> bool:
    """True for a pull request in an issue list: it has a ``pull_request`` object (possibly
    with only URLs) or an ``html_url`` under ``/pull/``."""
    return raw.get("pull_request") is not None or "/pull/" in str(raw.get("html_url") or "")


def pacific_date(value: Any) -> dt.date | None:
    """The date of a milestone ``due_on``: GitHub stores midnight US-Pacific as UTC."""
    instant = parse_datetime(value)
    if instant is None:
        return None
    if _PACIFIC is None:  # pragma: no cover
        return (instant - _PACIFIC_FALLBACK).date()
    return instant.astimezone(_PACIFIC).date()


class Fetcher:
    """Reads the repositories and the board of one project into a Snapshot."""

    def __init__(
        self,
        ctx: Context,
        client: GitHubClient,
        projects: Projects,
        project: ProjectSettings,
    ) -> None:
        self._ctx = ctx
        self._client = client
        self._projects = projects
        self._project = project
        #: Dependencies from body lines whose predecessor is not in the snapshot (another
        #: tracker, e.g. ``redmine:123``, or a repository that is not configured).
        self.external_dependencies: list[Dependency] = []

    def fetch(self, progress: Callable[[int, int], None] | None = None) -> Snapshot:
        """The snapshot of :meth:`GitHubAdapter.fetch`; ``progress(done, total)`` per page."""
        started = self._client.requests_made
        self.external_dependencies = []
        self._projects.node_ids.clear()
        raw_issues: _RawIssues = {}
        milestones: dict[str, Milestone] = {}
        pull_requests = 0
        several = len(self._ctx.repositories) > 1
        for repo in self._ctx.repositories:
            pull_requests += self._read_repository(repo, several, raw_issues, milestones, progress)

        board = self._projects.load(with_items=True) if self._ctx.settings.project_v2 else None
        keys = set(raw_issues)
        items: list[WorkItem] = []
        for key, (repo, raw) in raw_issues.items():
            item = self.item(key, repo, raw, board, several)
            if item.milestone is not None and item.milestone not in milestones:
                embedded = raw.get("milestone") or {}
                milestones[item.milestone] = self._milestone(repo, embedded, several)
            items.append(item)
        parents = self._parents(raw_issues)
        dependencies = self._dependencies(raw_issues, keys)
        self._set_parents(items, parents, keys)

        snapshot = Snapshot(
            project=Project(name=self._ctx.name, start=self._start(raw_issues)),
            items=sorted(items, key=lambda i: sort_key(i.key)),
            dependencies=dependencies,
            milestones=sorted(milestones.values(), key=lambda m: sort_key(m.key)),
            source=Source(kind="github", base_url=self._ctx.api_base, project=self._ctx.name),
            fetched_at=dt.datetime.fromtimestamp(self._ctx.clock(), dt.UTC),
            custom_fields={f.name: f.id for f in board.fields.values()} if board else {},
        )
        log.info(
            "github fetch %s: %d issues (%d pull requests skipped), %d dependencies, "
            "%d milestones in %d requests",
            self._ctx.name,
            len(items),
            pull_requests,
            len(dependencies),
            len(milestones),
            self._client.requests_made - started,
        )
        return snapshot

    def _read_repository(
        self,
        repo: str,
        several: bool,
        raw_issues: _RawIssues,
        milestones: dict[str, Milestone],
        progress: Callable[[int, int], None] | None,
    ) -> int:
        """Adds a repository's issues and milestones; the number of pull requests skipped."""
        pull_requests = 0
        missing = (
            f"GitHub repository {repo} not found (or the token cannot see it: a "
            "fine-grained token must list it, an app must be installed on it)"
        )
        for batch in self._client.pages(
            f"/repos/{repo}/issues",
            {"state": "all", "sort": "created", "direction": "asc"},
            what=f"issue list of {repo}",
            not_found=missing,
        ):
            for raw in batch:
                if is_pull_request(raw):
                    pull_requests += 1
                    continue
                number = raw.get("number")
                if isinstance(number, int):
                    raw_issues[self._ctx.keys.key(repo, number)] = (repo, raw)
            if progress is not None:
                progress(len(raw_issues), len(raw_issues))
        for batch in self._client.pages(
            f"/repos/{repo}/milestones",
            {"state": "all"},
            what=f"milestone list of {repo}",
            not_found=missing,
        ):
            for m in batch:
                milestone = self._milestone(repo, m, several)
                milestones[milestone.key] = milestone
        return pull_requests

    def _set_parents(self, items: list[WorkItem], parents: dict[str, str], keys: set[str]) -> None:
        """Sets each item's parent when it is a fetched issue (noted otherwise); no loops."""
        for item in items:
            parent = parents.get(item.key)
            if parent is not None and parent in keys and parent != item.key:
                item.parent = parent
            elif parent is not None:
                self._ctx.notes.add(
                    f"{item.key}: parent {parent} is outside the fetched issues; "
                    "treated as a top-level item"
                )
        self._break_parent_loops(items)

    def _start(self, raw_issues: _RawIssues) -> dt.date:
        """The configured start, else the earliest ``created_at``, else today."""
        start = self._project.start
        if start is not None:
            return start
        created = [
            d
            for _, raw in raw_issues.values()
            if (d := parse_date(raw.get("created_at"))) is not None
        ]
        return (
            min(created) if created else dt.datetime.fromtimestamp(self._ctx.clock(), dt.UTC).date()
        )

    def _milestone(self, repo: str, m: dict[str, Any], several: bool) -> Milestone:
        number = m.get("number")
        title = str(m.get("title") or f"milestone {number}")
        return Milestone(
            key=self._ctx.keys.milestone(repo, number),
            name=f"{repo}: {title}" if several else title,
            due=pacific_date(m.get("due_on")),
            status="closed" if m.get("state") == "closed" else "open",
            native_id=str(m.get("node_id") or m.get("id") or number),
        )

    def item(
        self, key: str, repo: str, raw: dict[str, Any], board: Board | None, several: bool
    ) -> WorkItem:
        """The WorkItem of an issue JSON (list item or webhook payload)."""
        node_id = str(raw.get("node_id") or "")
        if node_id:
            self._projects.node_ids[key] = node_id
        closed = raw.get("state") == "closed"
        labels = [
            str(label.get("name") if isinstance(label, dict) else label)
            for label in raw.get("labels") or []
        ]
        fields: dict[str, str | None] = {}
        board_values: dict[str, str] = {}
        if board is not None and key in board.items:
            board_values = board.values.get(key, {})
            for logical in self._ctx.field_names.logical_names():
                target = board.field(str(getattr(self._ctx.field_names, logical)))
                if target is not None:
                    fields[logical] = board_values.get(target.id)
        hours, hours_range = self.estimate(key, raw, labels, board, board_values)
        dates = self._dates(key, board, board_values)
        milestone = raw.get("milestone")
        milestone_key = None
        if isinstance(milestone, dict) and milestone.get("number") is not None:
            milestone_key = self._ctx.keys.milestone(repo, milestone["number"])
        issue_type = raw.get("type")
        return WorkItem(
            key=key,
            native_id=node_id or None,
            title=str(raw.get("title") or ""),
            url=str(raw.get("html_url") or "") or None,
            status=Status.CLOSED if closed else Status.OPEN,
            closed_on=parse_date(raw.get("closed_at")) if closed else None,
            estimate_hours=hours,
            estimate_range=hours_range,
            assignee=(raw.get("assignee") or {}).get("login"),
            priority=self._priority(labels),
            milestone=milestone_key,
            labels=labels,
            tracker=issue_type.get("name") if isinstance(issue_type, dict) else None,
            updated_on=parse_datetime(raw.get("updated_at")),
            fields=fields,
            **dates,
        )

    def _priority(self, labels: list[str]) -> int | None:
        """The highest rank ``priority_labels`` gives any of the labels (None: no such label;
        names compared as ``estimate_labels`` are: trimmed, case-insensitive)."""
        ranks = {k.strip().casefold(): v for k, v in self._ctx.settings.priority_labels.items()}
        found = [ranks[name] for label in labels if (name := label.strip().casefold()) in ranks]
        return max(found) if found else None

    def _dates(self, key: str, board: Board | None, board_values: dict[str, str]) -> ItemDates:
        """The item's dates from the board's date fields named in the settings (issues
        themselves carry none; a milestone's ``due_on`` is the milestone's deadline)."""
        by_name: dict[str, str] = {}
        named = {
            "start": self._ctx.settings.start_date_field,
            "due": self._ctx.settings.due_date_field,
            "deadline": self._project.deadline_field,
            "not_before": self._project.start_no_earlier_than_field,
        }
        for name in named.values():
            target = board.field(name) if board is not None and name else None
            if name and target is not None and target.id in board_values:
                by_name[name] = board_values[target.id]
        start_name, due_name = named["start"], named["due"]
        return item_dates(
            self._project,
            start=parse_date(by_name.get(start_name)) if start_name else None,
            due=parse_date(by_name.get(due_name)) if due_name else None,
            fields=by_name,
            where=key,
            note=self._ctx.notes.add,
        )

    def estimate(
        self,
        key: str,
        raw: dict[str, Any],
        labels: list[str],
        board: Board | None,
        board_values: dict[str, str],
    ) -> tuple[float | None, EstimateRange | None]:
        """Hours (and a range) of an issue: :func:`.estimates.estimate`, with the value of the
        ``estimate_field`` on the board when one is configured."""
        field_value = None
        if self._ctx.settings.estimate_field and board is not None:
            target = board.field(self._ctx.settings.estimate_field)
            field_value = board_values.get(target.id) if target is not None else None
        return estimate(
            self._ctx.settings, key, raw.get("body"), labels, field_value, self._ctx.notes.add
        )

    def _parents(self, raw_issues: _RawIssues) -> dict[str, str]:
        """Child key -> parent key: ``parent_issue_url`` of the list JSON, and
        ``GET .../sub_issues`` for parents whose ``sub_issues_summary.total`` is not covered."""
        parents: dict[str, str] = {}
        for key, (_, raw) in raw_issues.items():
            parts = [
                p for p in urlsplit(str(raw.get("parent_issue_url") or "")).path.split("/") if p
            ]
            if len(parts) >= 4 and parts[-2] == "issues" and parts[-1].isdigit():
                parents[key] = self._ctx.keys.key("/".join(parts[-4:-2]), int(parts[-1]))
        named: dict[str, int] = {}
        for parent in parents.values():
            named[parent] = named.get(parent, 0) + 1
        for key, (repo, raw) in raw_issues.items():
            summary = raw.get("sub_issues_summary") or {}
            total = int(summary.get("total") or 0) if isinstance(summary, dict) else 0
            if total <= named.get(key, 0):
                continue
            number = raw["number"]
            for batch in self._client.pages(
                f"/repos/{repo}/issues/{number}/sub_issues", {}, what=f"sub-issues of {key}"
            ):
                for child in batch:
                    child_key = self._ctx.keys.issue_key(child)
                    if child_key is not None:
                        parents[child_key] = key
        return parents

    @staticmethod
    def _break_parent_loops(items: list[WorkItem]) -> None:
        by_key = {item.key: item for item in items}
        for item in items:
            seen = {item.key}
            parent = item.parent
            while parent is not None and parent in by_key:
                if parent in seen:
                    item.parent = None
                    break
                seen.add(parent)
                parent = by_key[parent].parent

    def _dependencies(self, raw_issues: _RawIssues, keys: set[str]) -> list[Dependency]:
        found: dict[tuple[str, str], str] = {}
        outside = 0
        for key, (repo, raw) in raw_issues.items():
            summary = raw.get("issue_dependencies_summary") or {}
            count = 0
            if isinstance(summary, dict):
                count = int(summary.get("total_blocked_by") or summary.get("blocked_by") or 0)
            if count > 0:
                number = raw["number"]
                for batch in self._client.pages(
                    f"/repos/{repo}/issues/{number}/dependencies/blocked_by",
                    {},
                    what=f"blockers of {key}",
                ):
                    for blocker in batch:
                        pred = self._ctx.keys.issue_key(blocker)
                        if pred is None or pred == key:
                            continue
                        if pred not in keys:
                            outside += 1
                            self.external_dependencies.append(
                                Dependency(predecessor=pred, successor=key, origin="blocked_by")
                            )
                            continue
                        found[(pred, key)] = "blocked_by"
            for pred in body_dependencies(raw.get("body"), repo, self._ctx.web_base):
                pred = self._ctx.keys.canonical_key(pred)
                if pred == key or (pred, key) in found:
                    continue
                if pred in keys:
                    found[(pred, key)] = "body"
                else:
                    self.external_dependencies.append(
                        Dependency(predecessor=pred, successor=key, origin="body")
                    )
        if outside:
            self._ctx.notes.add(
                f"{outside} blocked-by relation(s) point to issues outside the "
                "configured repositories; kept in external_dependencies"
            )
        external_body = sum(1 for d in self.external_dependencies if d.origin == "body")
        if external_body:
            self._ctx.notes.add(
                f"{external_body} 'Depends on' line(s) name items of another tracker or "
                "repository; kept in external_dependencies"
            )
        return [
            Dependency(predecessor=p, successor=s, type=DependencyType.FS, origin=origin)
            for (p, s), origin in sorted(
                found.items(), key=lambda kv: (sort_key(kv[0][0]), sort_key(kv[0][1]))
            )
        ]
