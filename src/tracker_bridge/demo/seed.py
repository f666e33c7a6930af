"""Seeding a local Redmine with the MedCo example.

A public project with the example's team as members, its milestones as versions, its issues
with estimates, its precedes/blocks relations and the time logged on them. The example's
dates are shifted by whole weeks (:func:`tracker_bridge.demo.example.week_shift`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from tracker_bridge.demo.example import REFERENCE_AS_OF, person_name, week_shift
from tracker_bridge.demo.instance import LocalRedmine
from tracker_bridge.demo.prepare import add_member
from tracker_bridge.model import Snapshot, Status

PROJECT_IDENTIFIER = "medco"
# Relations that do not drive the schedule, seeded to show that they are read and ignored.
EXTRA_RELATIONS = [("medco:15", "medco:27", "relates"), ("medco:23", "medco:25", "relates")]


@dataclass
class SeededProject:
    identifier: str
    issue_ids: dict[str, int]
    as_of: dt.date


class _Admin:
    """Minimal REST calls as the admin, for seeding only."""

    def __init__(self, instance: LocalRedmine) -> None:
        self.base = instance.url
        self.session = requests.Session()
        self.session.headers["X-Redmine-API-Key"] = instance.admin_key

    def call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        resp = self.session.request(method, f"{self.base}{path}", json=payload, timeout=60)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {resp.status_code}: {resp.text[:300]}")
        return resp.json() if resp.content else None


def _login_for(name: str) -> str:
    return re.sub(r"[^a-z]+", ".", person_name(name).lower()).strip(".")


def seed(
    instance: LocalRedmine,
    snapshot: Snapshot,
    today: dt.date,
    say: Callable[[str], None] = lambda _m: None,
    identifier: str = PROJECT_IDENTIFIER,
) -> SeededProject:
    """Create the project, people, versions, issues, relations and time entries."""
    seeding = _Seeding(instance, _Admin(instance), snapshot, identifier, week_shift(today))
    seeding.read_defaults()
    say("creating project 'MedCo order management system'")
    seeding.create_project()
    seeding.add_people()
    seeding.add_versions()
    say(f"creating {len(snapshot.items)} issues")
    seeding.create_issues()
    seeding.close_finished()
    say(
        f"creating {len(snapshot.dependencies)} relations, "
        f"logging {len(snapshot.time_entries)} time entries"
    )
    seeding.relate_date_and_log()
    return SeededProject(identifier, seeding.issue_ids, REFERENCE_AS_OF + seeding.shift)


@dataclass
class _Seeding:
    """One seeding run: its inputs, Redmine's default ids and the ids it created."""

    instance: LocalRedmine
    admin: _Admin
    snapshot: Snapshot
    identifier: str
    shift: dt.timedelta
    trackers: dict[str, int] = field(default_factory=dict)
    closed_status: int = 0
    activities: dict[str, int] = field(default_factory=dict)
    roles: dict[str, int] = field(default_factory=dict)
    project_id: int = 0
    user_ids: dict[str, int] = field(default_factory=dict)
    version_ids: dict[str, int] = field(default_factory=dict)
    issue_ids: dict[str, int] = field(default_factory=dict)

    def moved(self, day: dt.date | None) -> str | None:
        return str(day + self.shift) if day else None

    def read_defaults(self) -> None:
        """Trackers, the closed status, activities and roles of a fresh Redmine."""
        call = self.admin.call
        self.trackers = {t["name"]: t["id"] for t in call("GET", "/trackers.json")["trackers"]}
        statuses = call("GET", "/issue_statuses.json")["issue_statuses"]
        self.closed_status = next(s["id"] for s in statuses if s.get("is_closed"))
        self.activities = {
            a["name"]: a["id"]
            for a in call("GET", "/enumerations/time_entry_activities.json")[
                "time_entry_activities"
            ]
        }
        self.roles = {r["name"]: r["id"] for r in call("GET", "/roles.json")["roles"]}

    def create_project(self) -> None:
        """The public project, with the planner bot as a member."""
        project = self.admin.call(
            "POST",
            "/projects.json",
            {
                "project": {
                    "name": self.snapshot.project.name,
                    "identifier": self.identifier,
                    "description": "Example from the IT project management guide: a new order "
                    "management system in 7 months (design 2, build 3, test 1, launch 1).",
                    "is_public": True,
                    "enabled_module_names": ["issue_tracking", "time_tracking", "wiki", "gantt"],
                    "tracker_ids": list(self.trackers.values()),
                }
            },
        )["project"]
        self.project_id = project["id"]
        add_member(self.instance, self.identifier)

    def add_people(self) -> None:
        """A user per assignee (reused when one exists), each a Developer of the project."""
        for person in sorted({i.assignee for i in self.snapshot.items if i.assignee}):
            user = self._user_for(person)
            self.user_ids[person] = user["id"]
            self.admin.call(
                "POST",
                f"/projects/{self.identifier}/memberships.json",
                {"membership": {"user_id": user["id"], "role_ids": [self.roles["Developer"]]}},
            )

    def _user_for(self, person: str) -> Any:
        first, _, rest = person_name(person).partition(" ")
        login = _login_for(person)
        existing = self.admin.call("GET", f"/users.json?name={login}")["users"]
        return (
            next((u for u in existing if u["login"] == login), None)
            or self.admin.call(
                "POST",
                "/users.json",
                {
                    "user": {
                        "login": login,
                        "firstname": first,
                        "lastname": rest or first,
                        "mail": f"{login}@medco.example",
                        "password": "medco-demo-123",
                        "mail_notification": "none",
                    }
                },
            )["user"]
        )

    def add_versions(self) -> None:
        """A version per milestone, due on the milestone's (shifted) date."""
        for milestone in self.snapshot.milestones:
            version = self.admin.call(
                "POST",
                f"/projects/{self.identifier}/versions.json",
                {"version": {"name": milestone.name, "due_date": self.moved(milestone.due)}},
            )["version"]
            self.version_ids[milestone.key] = version["id"]

    def create_issues(self) -> None:
        """An issue per item: Support for zero-estimate items, Feature for the others."""
        trackers = self.trackers
        for item in self.snapshot.items:
            tracker = trackers["Support"] if item.estimate_hours == 0 else trackers["Feature"]
            fields: dict[str, Any] = {
                "project_id": self.project_id,
                "tracker_id": tracker,
                "subject": item.title,
                "estimated_hours": item.estimate_hours,
                "start_date": self.moved(item.start),
                "done_ratio": item.done_ratio,
            }
            if item.milestone:
                fields["fixed_version_id"] = self.version_ids[item.milestone]
            if item.assignee:
                fields["assigned_to_id"] = self.user_ids[item.assignee]
            issue = self.admin.call("POST", "/issues.json", {"issue": fields})["issue"]
            self.issue_ids[item.key] = issue["id"]

    def close_finished(self) -> None:
        # Before the relations: Redmine refuses to close a blocked issue.
        for item in self.snapshot.items:
            if item.status is Status.CLOSED:
                self.admin.call(
                    "PUT",
                    f"/issues/{self.issue_ids[item.key]}.json",
                    {"issue": {"status_id": self.closed_status}},
                )

    def relate_date_and_log(self) -> None:
        """Relations, the example's dates and the time entries, in one runner call.

        One POST each took half the seeding; Redmine's own model rules still validate every
        row (create! fails loudly). Rows of numbers, null, names and ISO dates only: safe
        inside a Ruby %q() literal.
        """
        self.instance.runner(
            "admin = User.find_by!(login: 'admin'); User.current = admin; "
            f"project = Project.find_by!(identifier: %q({self.identifier})); "
            "ActiveRecord::Base.transaction { "  # one SQLite commit, not one per row
            f"JSON.parse(%q({json.dumps(self._relation_rows())})).each {{ |f, t, k, d| "
            "IssueRelation.create!(issue_from: Issue.find(f), issue_to: Issue.find(t), "
            "relation_type: k, delay: d) }; "
            # Relations make Redmine reschedule successors with dates of its own; closing
            # stamped closed_on with "now": put back the example's dates (start, due, closed).
            f"JSON.parse(%q({json.dumps(self._date_rows())})).each {{ |id, (s, d, c)| "
            "Issue.where(id: id.to_i).update_all(start_date: s, due_date: d, "
            "closed_on: c && Time.parse(c + ' 17:00:00 UTC')) }; "
            f"JSON.parse(%q({json.dumps(self._time_entry_rows())})).each {{ |i, u, h, d, a| "
            "issue = i && Issue.find(i); TimeEntry.create!(project: issue ? issue.project : "
            "project, issue: issue, user: u ? User.find(u) : admin, author: admin, hours: h, "
            "spent_on: d, activity_id: a) } }"
        )

    def _relation_rows(self) -> list[list[Any]]:
        ids = self.issue_ids
        relations: list[list[Any]] = [
            [
                ids[dep.predecessor],
                ids[dep.successor],
                "blocks" if dep.origin == "blocks" else "precedes",
                None if dep.origin == "blocks" else dep.lag_days,
            ]
            for dep in self.snapshot.dependencies
        ]
        return relations + [[ids[a], ids[b], kind, None] for a, b, kind in EXTRA_RELATIONS]

    def _date_rows(self) -> dict[int, list[str | None]]:
        moved = self.moved
        return {
            self.issue_ids[item.key]: [
                moved(item.start),
                moved(item.closed_on or item.due)
                if item.status is Status.CLOSED
                else moved(item.due),
                moved(item.closed_on),
            ]
            for item in self.snapshot.items
        }

    def _time_entry_rows(self) -> list[list[Any]]:
        assignees = {i.key: i.assignee for i in self.snapshot.items}
        default_activity = next(iter(self.activities.values()))
        return [
            [
                self.issue_ids[entry.item] if entry.item else None,
                self.user_ids.get(entry.person or assignees.get(entry.item or "") or ""),
                entry.hours,
                self.moved(entry.date),
                self.activities.get(entry.activity or "", default_activity),
            ]
            for entry in self.snapshot.time_entries
        ]
