"""The demo: a local Redmine seeded with the MedCo example, planned and published.

``tracker-bridge demo`` starts Debian's Redmine on 127.0.0.1 (installing it when missing),
loads ``config/medco-snapshot.json`` into a public project (team members, versions as
milestones, issues with estimates, precedes/blocks relations, time logged), writes a config
that points at it, runs ``tracker-bridge run`` and prints where to look.

The example's dates are shifted by whole weeks so that its status date falls in the current
week: the demo always shows a project in its build phase, whatever day it runs.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import requests

from tracker_bridge.local_redmine import LocalRedmine, add_member
from tracker_bridge.model import Plan, Snapshot, Status
from tracker_bridge.settings import settings_from_dict
from tracker_bridge.snapshot_file import load_snapshot

REFERENCE_AS_OF = dt.date(2026, 11, 26)  # the status date the example was written for
PROJECT_IDENTIFIER = "medco"
# Relations that do not drive the schedule, seeded to show that they are read and ignored.
EXTRA_RELATIONS = [("medco:15", "medco:27", "relates"), ("medco:23", "medco:25", "relates")]


def example_snapshot_path() -> Path:
    """The MedCo example shipped with the package (falls back to the checkout's config/)."""
    packaged = resources.files("tracker_bridge") / "examples" / "medco-snapshot.json"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "config" / "medco-snapshot.json"


def week_shift(today: dt.date) -> dt.timedelta:
    """Whole weeks from the example's status date to this week (weekdays stay aligned)."""
    return dt.timedelta(days=((today - REFERENCE_AS_OF).days // 7) * 7)


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
    return re.sub(r"[^a-z]+", ".", name.split(" (")[0].lower()).strip(".")


def seed(
    instance: LocalRedmine,
    snapshot: Snapshot,
    today: dt.date,
    say: Callable[[str], None] = lambda _m: None,
    identifier: str = PROJECT_IDENTIFIER,
) -> SeededProject:
    """Create the project, people, versions, issues, relations and time entries."""
    admin = _Admin(instance)
    shift = week_shift(today)

    def moved(day: dt.date | None) -> str | None:
        return str(day + shift) if day else None

    trackers = {t["name"]: t["id"] for t in admin.call("GET", "/trackers.json")["trackers"]}
    statuses = admin.call("GET", "/issue_statuses.json")["issue_statuses"]
    closed_status = next(s["id"] for s in statuses if s.get("is_closed"))
    activities = {
        a["name"]: a["id"]
        for a in admin.call("GET", "/enumerations/time_entry_activities.json")[
            "time_entry_activities"
        ]
    }
    roles = {r["name"]: r["id"] for r in admin.call("GET", "/roles.json")["roles"]}
    say("creating project 'MedCo order management system'")
    project = admin.call(
        "POST",
        "/projects.json",
        {
            "project": {
                "name": snapshot.project.name,
                "identifier": identifier,
                "description": "Example from the IT project management guide: a new order "
                "management system in 7 months (design 2, build 3, test 1, launch 1).",
                "is_public": True,
                "enabled_module_names": ["issue_tracking", "time_tracking", "wiki", "gantt"],
                "tracker_ids": list(trackers.values()),
            }
        },
    )["project"]
    add_member(instance, identifier)

    people = sorted({i.assignee for i in snapshot.items if i.assignee})
    user_ids: dict[str, int] = {}
    for person in people:
        first, _, rest = person.split(" (")[0].partition(" ")
        login = _login_for(person)
        existing = admin.call("GET", f"/users.json?name={login}")["users"]
        user = (
            next((u for u in existing if u["login"] == login), None)
            or admin.call(
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
        user_ids[person] = user["id"]
        admin.call(
            "POST",
            f"/projects/{identifier}/memberships.json",
            {"membership": {"user_id": user["id"], "role_ids": [roles["Developer"]]}},
        )

    version_ids: dict[str, int] = {}
    for milestone in snapshot.milestones:
        version = admin.call(
            "POST",
            f"/projects/{identifier}/versions.json",
            {"version": {"name": milestone.name, "due_date": moved(milestone.due)}},
        )["version"]
        version_ids[milestone.key] = version["id"]

    say(f"creating {len(snapshot.items)} issues")
    issue_ids: dict[str, int] = {}
    for item in snapshot.items:
        tracker = trackers["Support"] if item.estimate_hours == 0 else trackers["Feature"]
        fields: dict[str, Any] = {
            "project_id": project["id"],
            "tracker_id": tracker,
            "subject": item.title,
            "estimated_hours": item.estimate_hours,
            "start_date": moved(item.start),
            "done_ratio": item.done_ratio,
        }
        if item.milestone:
            fields["fixed_version_id"] = version_ids[item.milestone]
        if item.assignee:
            fields["assigned_to_id"] = user_ids[item.assignee]
        issue = admin.call("POST", "/issues.json", {"issue": fields})["issue"]
        issue_ids[item.key] = issue["id"]

    # Close finished work (before the relations: Redmine refuses to close a blocked issue).
    closed = [item for item in snapshot.items if item.status is Status.CLOSED]
    for item in closed:
        admin.call(
            "PUT", f"/issues/{issue_ids[item.key]}.json", {"issue": {"status_id": closed_status}}
        )
    dates = {
        issue_ids[item.key]: [
            moved(item.start),
            moved(item.closed_on or item.due) if item.status is Status.CLOSED else moved(item.due),
            moved(item.closed_on),
        ]
        for item in snapshot.items
    }
    # One runner call creates the relations and logs the time (one POST each took half the
    # seeding), then puts back the dates, all validated by Redmine's own model rules
    # (create! fails loudly). Rows of numbers, null, names and ISO dates only: safe inside a
    # Ruby %q() literal.
    say(
        f"creating {len(snapshot.dependencies)} relations, "
        f"logging {len(snapshot.time_entries)} time entries"
    )
    relations: list[list[Any]] = [
        [
            issue_ids[dep.predecessor],
            issue_ids[dep.successor],
            "blocks" if dep.origin == "blocks" else "precedes",
            None if dep.origin == "blocks" else dep.lag_days,
        ]
        for dep in snapshot.dependencies
    ]
    relations += [[issue_ids[a], issue_ids[b], kind, None] for a, b, kind in EXTRA_RELATIONS]
    assignees = {i.key: i.assignee for i in snapshot.items}
    default_activity = next(iter(activities.values()))
    entries = [
        [
            issue_ids[entry.item] if entry.item else None,
            user_ids.get(entry.person or assignees.get(entry.item or "") or ""),
            entry.hours,
            moved(entry.date),
            activities.get(entry.activity or "", default_activity),
        ]
        for entry in snapshot.time_entries
    ]
    instance.runner(
        "admin = User.find_by!(login: 'admin'); User.current = admin; "
        f"project = Project.find_by!(identifier: %q({identifier})); "
        "ActiveRecord::Base.transaction { "  # one SQLite commit, not one per row
        f"JSON.parse(%q({json.dumps(relations)})).each {{ |f, t, k, d| "
        "IssueRelation.create!(issue_from: Issue.find(f), issue_to: Issue.find(t), "
        "relation_type: k, delay: d) }; "
        # Relations make Redmine reschedule successors with dates of its own; closing stamped
        # closed_on with "now": put back the example's dates (start, due, closed).
        f"JSON.parse(%q({json.dumps(dates)})).each {{ |id, (s, d, c)| "
        "Issue.where(id: id.to_i).update_all(start_date: s, due_date: d, "
        "closed_on: c && Time.parse(c + ' 17:00:00 UTC')) }; "
        f"JSON.parse(%q({json.dumps(entries)})).each {{ |i, u, h, d, a| "
        "issue = i && Issue.find(i); TimeEntry.create!(project: issue ? issue.project : project, "
        "issue: issue, user: u ? User.find(u) : admin, author: admin, hours: h, spent_on: d, "
        "activity_id: a) } }"
    )
    return SeededProject(identifier, issue_ids, REFERENCE_AS_OF + shift)


# Hourly rates by role and the non-labour costs the guide's example budgets for.
DEMO_RATES = {
    "Sarah Okafor": 85.0,  # business analyst
    "Ana Ruiz": 95.0,  # developers
    "Ben Weber": 95.0,
    "Chen Li": 95.0,
    "Priya Nair": 90.0,  # scrum master
    "Tom Berg": 70.0,  # testers
    "Uma Rossi": 70.0,
}


def demo_config(url: str, key_file: Path, seeded: SeededProject) -> str:
    """The config the demo runs with: the local Redmine, the project and a budget."""
    return (
        "# Written by `tracker-bridge demo`; the key lives in the key file, not here.\n"
        f'[trackers.local]\nkind = "redmine"\nurl = "{url}"\n'
        f'api_key_file = "{key_file}"\nmarkup = "textile"\n\n'
        f'[projects.medco]\ntracker = "local"\nproject = "{seeded.identifier}"\n'
        'wiki_page = "Plan"\n\n'
        f'[store]\npath = "{key_file.parent / "state.sqlite3"}"\n\n'
        "# Levelling: each person does one issue at a time; the Scrum Master spends half of\n"
        "# each day on the ceremonies, so issues assigned to her take twice as many days.\n"
        "[planner]\nlevel = true\n\n"
        '[resources.people."Priya Nair"]\nhours_per_day = 4\n\n' + _budget_toml(seeded.as_of)
    )


def _budget_toml(as_of: dt.date) -> str:
    """The demo's ``[budget]`` section: the team's rates and the example's fixed costs."""
    rates = ", ".join(f'"{name}" = {rate:g}' for name, rate in DEMO_RATES.items())
    licences_on = as_of - dt.timedelta(weeks=4)
    return (
        '[budget]\ncurrency = "EUR"\n'
        f"rates = {{ {rates} }}\n"
        "fixed_costs = [\n"
        '  { name = "Cloud hosting (first year)", amount = 6000, milestone = "Launch" },\n'
        f'  {{ name = "Development licences", amount = 4500, date = {licences_on} }},\n'
        "]\n"
    )


def load_example() -> Snapshot:
    """The MedCo example snapshot."""
    return load_snapshot(example_snapshot_path())


def preview_page() -> tuple[str, Plan]:
    """The MedCo plan page as self-contained HTML, planned at the example's status date.

    The same document and charts the demo publishes into Redmine's wiki, with the demo's
    budget; no tracker, network or root needed.
    """
    from tracker_bridge.planner import plan as make_plan
    from tracker_bridge.publish.charts import render_charts  # matplotlib: import on use
    from tracker_bridge.publish.html import render_html
    from tracker_bridge.publish.report import build_report
    from tracker_bridge.publish.style import PlainStyle

    snapshot = load_example()
    settings = settings_from_dict(tomllib.loads(_budget_toml(REFERENCE_AS_OF)), "demo budget")
    plan = make_plan(snapshot, settings, REFERENCE_AS_OF)
    style = PlainStyle()  # no tracker: items go by their keys
    charts = render_charts(plan, snapshot, style=style)
    document = build_report(plan, snapshot, style=style, charts=[c.filename for c in charts])
    title = f"Plan of {snapshot.project.name} as of {REFERENCE_AS_OF}"
    return render_html(document, {c.filename: c.data for c in charts}, title=title), plan
