"""GitHub: which dates bind. A milestone's ``due_on`` is a deadline (planner side); the
board's date fields are read as configured: the deadline and start-no-earlier-than fields
bind, the team's start/target date fields are compared unless the project says otherwise."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from github_contract import GitHubMock
from github_helpers import DEFAULT_FIELDS, REPO, AdapterFactory, Bodies, board_data, board_item

from tracker_bridge.model import Snapshot

ISSUES_QUERY = {"state": "all", "sort": "created", "direction": "asc", "per_page": "100"}
DATE_FIELDS = {
    "PVTF_deadline": "Deadline",
    "PVTF_snet": "Start no earlier than",
    "PVTF_start": "Start date",
    "PVTF_target": "Target date",
}


def dated_item(item_id: str, number: int, dates: dict[str, str]) -> dict[str, Any]:
    """A board item with values in the date fields above (by field id)."""
    item = board_item(item_id, number, f"Issue {number}")
    for field_id, day in dates.items():
        ref = {"__typename": "ProjectV2Field", "id": field_id, "name": DATE_FIELDS[field_id]}
        item["fieldValues"]["nodes"].append(
            {"__typename": "ProjectV2ItemFieldDateValue", "date": day, "field": ref}
        )
    return item


def fetch(api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory, **kw: Any) -> Snapshot:
    m1 = bodies.milestone(1, "Beta", "2026-03-01T08:00:00Z")
    issues = [
        bodies.issue(1, "Design", labels=("estimate: 5d",), milestone=m1),
        bodies.issue(2, "Build", labels=("estimate: 3d",)),
    ]
    api.rest("GET", f"/repos/{REPO}/issues", json_body=issues, query=ISSUES_QUERY)
    api.rest(
        "GET",
        f"/repos/{REPO}/milestones",
        json_body=[m1],
        query={"state": "all", "per_page": "100"},
    )
    fields = DEFAULT_FIELDS + [
        {"__typename": "ProjectV2Field", "id": fid, "name": name, "dataType": "DATE"}
        for fid, name in DATE_FIELDS.items()
    ]
    items = [
        dated_item(
            "PVTI_1",
            1,
            {
                "PVTF_start": "2026-01-12",
                "PVTF_target": "2026-01-14",
                "PVTF_deadline": "2026-01-16",
            },
        ),
        dated_item("PVTI_2", 2, {"PVTF_snet": "2026-01-19", "PVTF_target": "2026-01-20"}),
    ]
    api.graphql("TrackerBridgeProject", data=board_data(items, fields=fields))
    adapter = make_adapter(**kw)
    return adapter.fetch().snapshot


def dates(snapshot: Snapshot, number: int) -> tuple[Any, ...]:
    item = snapshot.item_map()[f"github:{REPO}#{number}"]
    return (item.start, item.due, item.start_no_earlier_than, item.deadline)


D = dt.date.fromisoformat


def test_board_dates_are_compared_and_constraint_fields_bind(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory
) -> None:
    snapshot = fetch(
        github_api,
        bodies,
        make_adapter,
        start_date_field="Start date",
        due_date_field="Target date",
    )
    assert dates(snapshot, 1) == (D("2026-01-12"), D("2026-01-14"), None, D("2026-01-16"))
    assert dates(snapshot, 2) == (None, D("2026-01-20"), D("2026-01-19"), None)
    (milestone,) = snapshot.milestones
    assert milestone.due == D("2026-03-01")


def test_without_configured_team_fields_only_the_constraint_fields_are_read(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory
) -> None:
    snapshot = fetch(github_api, bodies, make_adapter)
    assert dates(snapshot, 1) == (None, None, None, D("2026-01-16"))
    assert dates(snapshot, 2) == (None, None, D("2026-01-19"), None)


@pytest.mark.parametrize("deadline_field", ["Deadline", ""])
def test_the_project_can_make_the_team_dates_bind(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory, deadline_field: str
) -> None:
    snapshot = fetch(
        github_api,
        bodies,
        make_adapter,
        project_options={
            "due_dates": "deadline",
            "start_dates": "constraint",
            "deadline_field": deadline_field,
        },
        start_date_field="Start date",
        due_date_field="Target date",
    )
    # the tighter of the target date and the deadline field binds
    assert dates(snapshot, 1) == (
        D("2026-01-12"),
        D("2026-01-14"),
        D("2026-01-12"),
        D("2026-01-14"),
    )
    assert dates(snapshot, 2) == (None, D("2026-01-20"), D("2026-01-19"), D("2026-01-20"))
