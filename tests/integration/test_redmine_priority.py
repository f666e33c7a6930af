"""Issue priorities from a real Redmine 5.0.4 and the levelling's tie-break on them.

Issues are created through the normal REST API (as the admin) with Redmine's default
priorities (Low, Normal, High, Urgent, Immediate); the adapter reads them as ``planbot``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import requests
from test_redmine_adapter import bot_user_id, make_adapter

from tracker_bridge.demo.instance import LocalRedmine
from tracker_bridge.planner import plan
from tracker_bridge.settings import Settings

TIMEOUT = 30


def _admin(redmine: LocalRedmine) -> dict[str, str]:
    return {"X-Redmine-API-Key": redmine.admin_key}


def _priorities(redmine: LocalRedmine) -> list[dict[str, Any]]:
    resp = requests.get(
        f"{redmine.url}/enumerations/issue_priorities.json",
        headers=_admin(redmine),
        timeout=TIMEOUT,
    )
    resp.raise_for_status()
    listed: list[dict[str, Any]] = resp.json()["issue_priorities"]
    return listed


def _issue(redmine: LocalRedmine, project_id: int, subject: str, **fields: Any) -> int:
    resp = requests.post(
        f"{redmine.url}/issues.json",
        headers=_admin(redmine),
        json={"issue": {"project_id": project_id, "subject": subject, **fields}},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["issue"]["id"])


def test_priorities_are_ranks_and_break_levelling_ties(
    redmine: LocalRedmine, redmine_project: Any
) -> None:
    listed = _priorities(redmine)
    names = [p["name"] for p in listed]
    assert names[:5] == ["Low", "Normal", "High", "Urgent", "Immediate"]  # default data
    by_name = {p["name"]: int(p["id"]) for p in listed}
    bot = bot_user_id(redmine)
    common = {"estimated_hours": 16, "assigned_to_id": bot, "start_date": "2027-01-04"}
    low = _issue(redmine, redmine_project.id, "Low first", priority_id=by_name["Low"], **common)
    urgent = _issue(redmine, redmine_project.id, "Urgent", priority_id=by_name["Urgent"], **common)
    normal = _issue(redmine, redmine_project.id, "Default", **common)  # Redmine's default

    with make_adapter(redmine, redmine_project.identifier) as adapter:
        snapshot = adapter.fetch().snapshot
        # user, project, versions, 1 issue page, 1 time-entry page, the priority list
        assert adapter.requests_made == 6

    items = snapshot.item_map()
    rank = {name: names.index(name) + 1 for name in names}
    assert items[f"redmine:{low}"].priority == rank["Low"] == 1
    assert items[f"redmine:{urgent}"].priority == rank["Urgent"] == 4
    assert items[f"redmine:{normal}"].priority == rank["Normal"] == 2

    # three 2-day issues of one person, equal float: the urgent one first, then the normal,
    # then the low one, although the low one has the smallest key
    settings = Settings.model_validate({"planner": {"level": True}})
    monday = dt.date(2027, 1, 4)
    levelled = plan(snapshot, settings, monday).overlays.levelling
    assert levelled is not None
    starts = {i: levelled.items[f"redmine:{i}"].start for i in (low, urgent, normal)}
    assert starts == {
        urgent: dt.date(2027, 1, 4),
        normal: dt.date(2027, 1, 6),
        low: dt.date(2027, 1, 8),
    }
