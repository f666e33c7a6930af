"""Snapshot validation: every problem is one line naming the item (by key) and the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from tracker_bridge.errors import InputError, TrackerBridgeError
from tracker_bridge.model import DependencyType, Snapshot, parse_snapshot

BASE: dict[str, Any] = {
    "project": {"name": "Webshop", "start": "2025-01-06"},
    "items": [
        {"key": "A", "title": "Design", "estimate_hours": 16, "milestone": "M1"},
        {"key": "B", "title": "Build", "estimate_hours": 24},
        {"key": "C", "title": "Test", "estimate_hours": 8, "parent": "B"},
    ],
    "dependencies": [{"predecessor": "A", "successor": "B", "type": "FS", "lag_days": 1}],
    "milestones": [{"key": "M1", "name": "Beta", "due": "2025-02-01"}],
    "risks": [{"key": "R1", "probability": 0.2, "impact_days": 3}],
    "time_entries": [{"item": "A", "hours": 2, "date": "2025-01-06"}],
}


def snapshot(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def errors(data: dict[str, Any]) -> list[str]:
    with pytest.raises(InputError) as err:
        parse_snapshot(data)
    return str(err.value).splitlines()


def with_item(index: int, **fields: Any) -> dict[str, Any]:
    data = snapshot()
    data["items"][index].update(fields)
    return data


# ------------------------------------------------------------------------------ valid


def test_valid_snapshot_parses_like_model_validate():
    parsed = parse_snapshot(snapshot())
    assert parsed == Snapshot.model_validate(snapshot())
    assert [i.key for i in parsed.items] == ["A", "B", "C"]
    assert parsed.dependencies[0].type is DependencyType.FS
    assert parsed.item_map()["C"].parent == "B"


def test_input_error_is_a_tracker_bridge_error():
    with pytest.raises(TrackerBridgeError):
        parse_snapshot(with_item(1, estimate_hours=-1))


# ------------------------------------------------------------------ field problems


def test_negative_estimate_names_the_item_key_and_field():
    assert errors(with_item(1, estimate_hours=-1)) == [
        "items[B].estimate_hours <- Input should be greater than or equal to 0"
    ]


def test_unordered_estimate_range_names_the_item():
    data = with_item(1, estimate_range={"optimistic": 5, "likely": 3, "pessimistic": 9})
    assert errors(data) == [
        "items[B].estimate_range <- estimate_range must satisfy optimistic <= likely <= "
        "pessimistic, got 5.0 / 3.0 / 9.0"
    ]


def test_unknown_key_is_rejected_with_a_suggestion():
    assert errors(with_item(1, estimat_hours=8)) == [
        "items[B].estimat_hours <- unknown key (did you mean 'estimate_hours'?)"
    ]


def test_unknown_key_without_a_close_match():
    assert errors(with_item(0, colour="red")) == [
        "items[A].colour <- unknown key (check the spelling)"
    ]


def test_unknown_keys_at_every_level():
    data = snapshot(projekt="x")
    data["project"]["begin"] = "2025-01-01"
    data["items"][0]["estimate_range"] = {"optimistic": 1, "likely": 2, "pesimistic": 3}
    data["dependencies"][0]["lag"] = 2
    assert errors(data) == [
        "project.begin <- unknown key (check the spelling)",
        "items[A].estimate_range.pessimistic <- Field required",
        "items[A].estimate_range.pesimistic <- unknown key (did you mean 'pessimistic'?)",
        "dependencies[A->B].lag <- unknown key (did you mean 'lag_days'?)",
        "projekt <- unknown key (did you mean 'project'?)",
    ]


def test_dependency_type_is_checked_and_named_by_its_ends():
    data = snapshot()
    data["dependencies"][0]["type"] = "XX"
    assert errors(data) == ["dependencies[A->B].type <- Input should be 'FS', 'SS', 'FF' or 'SF'"]


def test_self_dependency_is_rejected():
    data = snapshot()
    data["dependencies"].append({"predecessor": "B", "successor": "B"})
    assert errors(data) == ["dependencies[B->B] <- item 'B' cannot depend on itself"]


def test_every_problem_gets_its_own_line_in_file_order():
    data = with_item(1, estimate_hours=-1, done_ratio=150)
    data["items"][2]["estimat_hours"] = 3
    data["dependencies"][0]["type"] = "XX"
    data["milestones"][0]["status"] = "bogus"
    data["risks"][0]["probability"] = 2
    data["time_entries"][0]["hours"] = -1
    assert errors(data) == [
        "items[B].estimate_hours <- Input should be greater than or equal to 0",
        "items[B].done_ratio <- Input should be less than or equal to 100",
        "items[C].estimat_hours <- unknown key (did you mean 'estimate_hours'?)",
        "dependencies[A->B].type <- Input should be 'FS', 'SS', 'FF' or 'SF'",
        "milestones[M1].status <- Input should be 'open', 'locked' or 'closed'",
        "time_entries[0].hours <- Input should be greater than or equal to 0",
        "risks[R1].probability <- Input should be less than or equal to 1",
    ]


def test_list_index_is_used_only_without_a_usable_key():
    data = snapshot(items=[{"title": "no key", "estimate_hours": "abc"}, 5, {"key": "", "x": 1}])
    data["dependencies"] = [{"predecessor": 1, "successor": "B"}]
    assert errors(data) == [
        "items[0].key <- Field required",
        "items[0].estimate_hours <- Input should be a valid number, unable to parse string as "
        "a number",
        "items[1] <- Input should be a valid dictionary or instance of WorkItem",
        "items[2].key <- String should have at least 1 character",
        "items[2].x <- unknown key (check the spelling)",
        "dependencies[0].predecessor <- Input should be a valid string",
    ]


def test_nested_list_positions_stay_as_indexes():
    assert errors(with_item(2, labels=["ok", 7])) == [
        "items[C].labels[1] <- Input should be a valid string"
    ]


def test_missing_project():
    data = snapshot()
    del data["project"]
    assert errors(data) == ["project <- Field required"]


def test_wrong_container_type():
    assert errors(snapshot(items={"A": {}})) == ["items <- Input should be a valid list"]


# --------------------------------------------------------------- reference problems


def test_unknown_milestone_reference_names_item_and_field():
    assert errors(with_item(1, milestone="M9")) == [
        "items[B].milestone <- 'M9' is not in 'milestones'"
    ]


def test_unknown_parent_names_item_and_field():
    assert errors(with_item(0, parent="Z")) == ["items[A].parent <- 'Z' is not an item"]


def test_duplicate_keys_are_reported():
    data = snapshot()
    data["items"].append({"key": "B"})
    data["milestones"].append({"key": "M1", "name": "again"})
    assert errors(data) == [
        "items[B].key <- duplicate item key 'B'",
        "milestones[M1].key <- duplicate milestone key 'M1'",
    ]


def test_all_reference_problems_are_listed_not_just_the_first():
    data = with_item(0, milestone="M9", parent="Z")
    data["items"][1]["milestone"] = "M8"
    assert errors(data) == [
        "items[A].milestone <- 'M9' is not in 'milestones'",
        "items[A].parent <- 'Z' is not an item",
        "items[B].milestone <- 'M8' is not in 'milestones'",
    ]


def test_parent_loops_are_rejected_once_per_loop():
    data = snapshot(
        items=[
            {"key": "A", "parent": "B"},
            {"key": "B", "parent": "C"},
            {"key": "C", "parent": "A"},
            {"key": "D", "parent": "D"},
            {"key": "E", "parent": "A"},  # hangs off the loop but is not part of it
        ],
        dependencies=[],
    )
    assert errors(data) == [
        "items[A].parent <- parents form a loop: A -> B -> C -> A",
        "items[D].parent <- parents form a loop: D -> D",
    ]


def test_model_validate_still_rejects_reference_problems():
    """Code that validates with pydantic directly gets a ValidationError that still says
    where the problem is."""
    with pytest.raises(ValidationError) as err:
        Snapshot.model_validate(with_item(1, milestone="M9"))
    assert "items[B].milestone: 'M9' is not in 'milestones'" in str(err.value)


def test_field_problems_are_reported_before_reference_problems_are_checked():
    """Reference checks need valid items, so they run once the fields are fine."""
    data = with_item(0, estimate_hours=-1, milestone="M9")
    assert errors(data) == ["items[A].estimate_hours <- Input should be greater than or equal to 0"]
