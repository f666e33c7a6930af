"""Comparison with a saved baseline: slip in working days, cost change, scope change."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from tracker_bridge.model import Baseline, Plan, Snapshot
from tracker_bridge.planner import plan
from tracker_bridge.planner.baseline import make_baseline
from tracker_bridge.settings import Settings, settings_from_dict

SAVED_AT = dt.datetime(2025, 3, 3, 8, 0, tzinfo=dt.UTC)
AS_OF = dt.date(2025, 3, 3)  # a Monday

ORIGINAL: dict[str, Any] = {
    "project": {"name": "web shop", "start": "2025-03-03"},
    "milestones": [{"key": "m1", "name": "Release 1", "due": "2025-03-14"}],
    "items": [
        {"key": "A", "title": "Design", "estimate_hours": 16, "milestone": "m1"},
        {"key": "B", "title": "Build", "estimate_hours": 24, "milestone": "m1"},
        {"key": "C", "title": "Docs", "estimate_hours": 8},
    ],
    "dependencies": [{"predecessor": "A", "successor": "B"}],
}


def changed() -> dict[str, Any]:
    """A grew from 16 h to 32 h, C was dropped, D was added."""
    data = copy.deepcopy(ORIGINAL)
    data["items"][0]["estimate_hours"] = 32
    data["items"] = [i for i in data["items"] if i["key"] != "C"]
    data["items"].append({"key": "D", "title": "Training", "estimate_hours": 8})
    return data


def settings(**sections: Any) -> Settings:
    return settings_from_dict(sections)


def saved(data: dict[str, Any], config: Settings) -> Baseline:
    snapshot = Snapshot.model_validate(data)
    return make_baseline(plan(snapshot, config, AS_OF), snapshot, "v1", SAVED_AT)


def compare(data: dict[str, Any], base: Baseline, config: Settings) -> Plan:
    return plan(Snapshot.model_validate(data), config, AS_OF, baseline=base)


def test_make_baseline_freezes_dates_estimates_and_budget() -> None:
    config = settings(budget={"default_rate": 100})
    base = saved(ORIGINAL, config)
    assert (base.name, base.saved_at, base.as_of) == ("v1", SAVED_AT, AS_OF)
    assert base.project_finish == dt.date(2025, 3, 7)  # A Mon-Tue, B Wed-Fri
    a, b = base.items["A"], base.items["B"]
    assert (a.early_start, a.early_finish, a.estimate_hours) == (
        dt.date(2025, 3, 3),
        dt.date(2025, 3, 4),
        16,
    )
    assert (b.early_start, b.early_finish, b.milestone) == (
        dt.date(2025, 3, 5),
        dt.date(2025, 3, 7),
        "m1",
    )
    assert a.planned_cost == 1_600 and a.title == "Design"
    assert base.milestone_finish == {"m1": dt.date(2025, 3, 7)}
    assert base.budget_at_completion == 4_800  # 48 h x 100
    assert Baseline.model_validate_json(base.model_dump_json()) == base


def test_slip_in_working_days_per_item_milestone_and_project() -> None:
    base = saved(ORIGINAL, Settings())
    # Monday 10 March becomes a holiday: B now runs Fri 7, Tue 11, Wed 12
    config = settings(calendar={"holidays": [dt.date(2025, 3, 10)]})
    result = compare(changed(), base, config)
    assert result.items["A"].early_finish == dt.date(2025, 3, 6)
    assert result.items["B"].early_finish == dt.date(2025, 3, 12)
    assert result.items["A"].slip_days == 2  # Thu 6 vs Tue 4: Wed, Thu
    assert result.items["B"].slip_days == 2  # Wed 12 vs Fri 7: Tue 11, Wed 12 (not Mon 10)
    assert result.items["D"].slip_days is None  # not in the baseline
    (m1,) = result.milestones
    assert m1.slip_days == 2
    overlay = result.overlays.baseline
    assert overlay.name == "v1"
    assert overlay.project.model_dump() == {
        "baseline_finish": dt.date(2025, 3, 7),
        "finish": dt.date(2025, 3, 12),
        "slip_days": 2,
    }
    assert overlay.milestones["m1"].slip_days == 2
    assert overlay.items_slipped == 2
    assert [s.model_dump() for s in overlay.top_slips] == [
        {"key": "A", "slip_days": 2},
        {"key": "B", "slip_days": 2},
    ]


def test_earlier_finish_is_negative_slip() -> None:
    base = saved(ORIGINAL, Settings())
    data = copy.deepcopy(ORIGINAL)
    data["items"][1]["estimate_hours"] = 8  # B: 3 days -> 1 day
    result = compare(data, base, Settings())
    assert result.items["B"].slip_days == -2
    assert result.overlays.baseline.project.slip_days == -2
    assert result.overlays.baseline.items_slipped == 0


def test_scope_change_added_removed_and_estimate_growth() -> None:
    base = saved(ORIGINAL, Settings())
    scope = compare(changed(), base, Settings()).overlays.baseline.scope
    assert scope.items_added == ["D"]
    assert scope.items_removed == ["C"]
    assert scope.baseline_hours == 48  # 16 + 24 + 8
    assert scope.current_hours == 64  # 32 + 24 + 8
    assert scope.growth_hours == 16
    assert scope.growth_pct == pytest.approx(100 / 3)
    assert (scope.added_hours, scope.removed_hours, scope.changed_hours) == (8, 8, 16)
    assert scope.added_hours + scope.changed_hours - scope.removed_hours == 16
    assert [c.model_dump() for c in scope.estimate_changes] == [
        {
            "key": "A",
            "title": "Design",
            "baseline_hours": 16,
            "current_hours": 32,
            "growth_hours": 16,
            "growth_pct": 100,
        }
    ]


def test_cost_change_against_the_baseline_bac() -> None:
    config = settings(budget={"default_rate": 100})
    base = saved(ORIGINAL, config)
    cost = compare(changed(), base, config).overlays.baseline.cost
    assert cost.baseline_bac == 4_800
    assert cost.bac == 6_400  # 64 h x 100
    assert cost.change == 1_600
    assert cost.change_pct == pytest.approx(100 / 3)
    assert [c.model_dump() for c in cost.items] == [
        {
            "key": "A",
            "baseline_cost": 1_600,
            "planned_cost": 3_200,
            "change": 1_600,
            "change_pct": 100,
        }
    ]


def test_pv_uses_the_baseline_dates() -> None:
    """After the slip, PV still follows the baseline: B was planned to be done by Fri 7."""
    config = settings(budget={"default_rate": 100})
    base = saved(ORIGINAL, config)
    later = dt.date(2025, 3, 7)
    data = changed()
    result = plan(Snapshot.model_validate(data), config, later, baseline=base)
    assert result.items["B"].planned_value == 2_400  # all of it, by the baseline
    assert result.items["A"].planned_value == 3_200  # its new cost, on its baseline days
    assert result.overlays.budget.pv_basis == "baseline+plan"  # D is new


def test_summary_items_are_frozen_without_an_estimate() -> None:
    data = copy.deepcopy(ORIGINAL)
    data["items"].append({"key": "P", "title": "Phase", "estimate_hours": 500})
    data["items"][0]["parent"] = "P"
    data["items"][1]["parent"] = "P"
    base = saved(data, Settings())
    assert base.items["P"].estimate_hours is None
    assert base.items["P"].early_finish == dt.date(2025, 3, 7)
    scope = compare(data, base, Settings()).overlays.baseline.scope
    assert scope.baseline_hours == scope.current_hours == 48
    assert scope.growth_hours == 0 and scope.estimate_changes == []


def test_no_baseline_no_overlay_and_json_dump() -> None:
    result = plan(Snapshot.model_validate(ORIGINAL), Settings(), AS_OF)
    assert result.overlays.baseline is None
    assert all(item.slip_days is None for item in result.items.values())
    base = saved(ORIGINAL, Settings())
    dumped = compare(changed(), base, Settings()).to_json_dict()
    assert dumped["overlays"]["baseline"]["project"]["baseline_finish"] == "2025-03-07"
    assert dumped["overlays"]["baseline"]["cost"]["bac"] is None  # no budget configured
