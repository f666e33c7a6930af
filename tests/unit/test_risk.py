"""The risk overlay stage: scores with reasons, forecasts on milestones, the overlay."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from tracker_bridge.model import Plan, Snapshot
from tracker_bridge.planner import plan as make_plan
from tracker_bridge.planner.overlays import stages
from tracker_bridge.planner.risk import WEIGHTS, risk_stage
from tracker_bridge.settings import RiskSettings, Settings

AS_OF = dt.date(2025, 1, 6)  # a Monday, also the project start


def settings(*, spread: bool = False, trials: int = 500) -> Settings:
    factors = {} if spread else {"default_optimistic_factor": 1, "default_pessimistic_factor": 1}
    return Settings(risk=RiskSettings(trials=trials, **factors))


def item(key: str, hours: float | None = 8, **fields: Any) -> dict[str, Any]:
    return {"key": key, "title": key, "estimate_hours": hours, **fields}


def register_snapshot() -> Snapshot:
    """One item per condition; items are independent unless a relation is the point."""
    return Snapshot.model_validate(
        {
            "project": {"name": "Risky", "start": AS_OF.isoformat()},
            "milestones": [
                {"key": "M1", "name": "Beta", "due": "2025-02-28"},
                {"key": "M2", "name": "Empty", "due": "2025-03-31"},
            ],
            "items": [
                item("anchor", 200, milestone="M1"),  # 25 days: the critical path
                # due dates that bind, as with `due_dates = "deadline"`
                item("neg", 80, due="2025-01-10", deadline="2025-01-10"),  # 5 days late
                item("near", 184),  # 23 days: 2 days of float
                item("noest", None),
                item("over", 16, spent_hours=20),
                item("pastdue", 8, due="2025-01-03", deadline="2025-01-03"),
                item("stale", 8, updated_on="2024-12-01T09:30:00Z"),
                item("fresh", 8, updated_on="2025-01-05T17:00:00Z"),
                item("waiter", 8),
                item("waits_on_neg", 8),
                item("threat", 8),
                item("grp", 0),
                item("child", 8, parent="grp"),
                item("done", 16, status="closed", closed_on="2025-01-06", start="2025-01-06"),
            ],
            "dependencies": [
                {"predecessor": "pastdue", "successor": "waiter"},
                {"predecessor": "neg", "successor": "waits_on_neg"},
            ],
            "risks": [
                {
                    "key": "R1",
                    "title": "Vendor API late",
                    "probability": 0.4,
                    "impact_days": 2,
                    "impact_cost": 1000,
                    "threatens": ["threat"],
                },
                {
                    "key": "R2",
                    "title": "Key person leaves",
                    "probability": 1.0,
                    "impact_days": 1,
                    "impact_cost": 500,
                    "threatens": ["grp", "ghost"],
                },
                {
                    "key": "R3",
                    "probability": 0.9,
                    "impact_days": 9,
                    "impact_cost": 99999,
                    "threatens": ["fresh"],
                    "status": "closed",
                },
            ],
        }
    )


@pytest.fixture(scope="module")
def risky_plan() -> Plan:
    return make_plan(register_snapshot(), settings(), AS_OF)


def reasons(plan: Plan, key: str) -> list[str]:
    return plan.items[key].risk_reasons


def test_the_stage_is_registered() -> None:
    assert risk_stage in stages()


@pytest.mark.parametrize(
    ("key", "expected", "points"),
    [
        ("anchor", ["critical in 100% of simulated schedules"], WEIGHTS["high_criticality"]),
        ("neg", ["negative float: 5 working days late for its deadline"], 30),
        ("near", ["near-critical: only 2 working days of float"], 10),
        ("noest", ["no estimate (planned with 8 h)"], 10),
        ("over", ["spent 20 h of 16 h estimated"], 15),
        (
            "pastdue",
            ["negative float", "open past its due date (2025-01-03)"],
            WEIGHTS["negative_float"] + WEIGHTS["past_due"],
        ),
        ("stale", ["no update for 36 days (last 2024-12-01)"], 10),
        ("fresh", [], 0),
        ("waiter", ["waits on late predecessor pastdue (due 2025-01-03, still open)"], 15),
        (
            "waits_on_neg",
            ["waits on late predecessor neg (due 2025-01-10, forecast 2025-01-17)"],
            15,
        ),
        ("threat", ['threatened by open risk R1 "Vendor API late" (40% likely, +2 working'], 15),
        ("child", ['threatened by open risk R2 "Key person leaves" (100% likely'], 30),
        ("done", [], 0),
    ],
)
def test_each_condition_gives_its_reason_and_points(
    risky_plan: Plan, key: str, expected: list[str], points: int
) -> None:
    found = reasons(risky_plan, key)
    assert len(found) == len(expected), found
    for part, reason in zip(expected, found, strict=True):
        assert reason.startswith(part), (reason, part)
    assert risky_plan.items[key].risk_score == points


def test_summary_scores_as_its_highest_leaf(risky_plan: Plan) -> None:
    grp = risky_plan.items["grp"]
    assert grp.state == "summary"
    assert grp.risk_score == 30
    assert grp.risk_reasons == ["highest-scored item child (30)"]
    assert grp.criticality == risky_plan.items["child"].criticality
    assert grp.p80_finish == risky_plan.items["child"].p80_finish


def test_scores_are_capped_at_100() -> None:
    snap = Snapshot.model_validate(
        {
            "project": {"name": "x", "start": AS_OF.isoformat()},
            "items": [
                item("late", None, due="2025-01-03", spent_hours=99, updated_on="2024-01-01T00:00"),
                item("x", 8, due="2025-01-02"),
            ],
            "dependencies": [{"predecessor": "x", "successor": "late"}],
            "risks": [
                {"key": f"R{i}", "probability": 1, "impact_days": 1, "threatens": ["late"]}
                for i in range(3)
            ],
        }
    )
    result = make_plan(snap, settings(), AS_OF)
    assert result.items["late"].risk_score == 100
    assert len(result.items["late"].risk_reasons) >= 7


def test_milestone_and_project_forecasts(risky_plan: Plan) -> None:
    beta, empty = risky_plan.milestones
    assert beta.p50 == beta.p80 == beta.p95 == beta.finish  # no spread on the anchor
    assert beta.probability_on_time == 1.0
    assert empty.p50 is None and empty.probability_on_time is None
    overlay = risky_plan.overlays.risk
    project = overlay.project
    assert project.due == dt.date(2025, 3, 31)  # the latest milestone due date
    assert project.p50 <= project.p80 <= project.p95
    assert 0 <= project.probability_on_time <= 1


def test_overlay_contents(risky_plan: Plan) -> None:
    overlay = risky_plan.overlays.risk
    assert overlay.trials == 500
    assert overlay.seed == RiskSettings().seed
    assert overlay.distribution == "pert"
    assert overlay.contingency == 0.4 * 1000 + 1.0 * 500  # the closed R3 does not count
    assert "anchor" in overlay.default_spread_items
    assert "done" not in overlay.default_spread_items
    top = overlay.top_risks
    assert len(top) == 10
    assert [t.score for t in top] == sorted((t.score for t in top), reverse=True)
    assert top[0].model_dump() == {
        "key": "pastdue",
        "score": 55,
        "reasons": risky_plan.items["pastdue"].risk_reasons,
    }
    assert {r.key for r in overlay.open_risks} == {"R1", "R2"}
    r1 = next(r for r in overlay.open_risks if r.key == "R1")
    assert r1.expected_cost == 400 and r1.expected_days == 0.8
    assert sum(h.trials for h in overlay.finish_histogram) == 500
    warning = next(w for w in risky_plan.warnings if w.code == "risk.unknown_item")
    assert warning.keys == ["ghost"]
    json.dumps(risky_plan.to_json_dict())  # dates and all serialise


def test_item_figures(risky_plan: Plan) -> None:
    done = risky_plan.items["done"]
    assert done.criticality == 0.0 and done.p80_finish == done.early_finish
    anchor = risky_plan.items["anchor"]
    assert anchor.criticality == 1.0 and anchor.p80_finish == anchor.early_finish
    assert risky_plan.items["near"].criticality == 0.0
    # R1 adds 2 days in 40 % of trials: "threat" finishes 2 days later in its P80
    threat = risky_plan.items["threat"]
    assert threat.p80_finish == dt.date(2025, 1, 8)


def test_criticality_is_rounded_and_probabilities_bounded() -> None:
    result = make_plan(register_snapshot(), settings(spread=True, trials=2_000), AS_OF)
    for shown in result.items.values():
        assert shown.criticality is not None and 0 <= shown.criticality <= 1
        assert shown.criticality == round(shown.criticality, 3)
        assert shown.p80_finish is not None and shown.p80_finish >= shown.early_start
    assert result.milestones[0].probability_on_time is not None


def test_no_open_items_skips_the_simulation() -> None:
    snap = Snapshot.model_validate(
        {
            "project": {"name": "Done", "start": AS_OF.isoformat()},
            "milestones": [{"key": "M", "name": "M", "due": "2025-01-31"}],
            "items": [
                item("a", 8, status="closed", closed_on="2025-01-06", milestone="M"),
                item("b", 8, status="closed", closed_on="2025-01-07"),
            ],
            "risks": [{"key": "R", "probability": 0.5, "impact_cost": 100, "threatens": ["a"]}],
        }
    )
    result = make_plan(snap, settings(), dt.date(2025, 1, 10))
    overlay = result.overlays.risk
    assert overlay.trials == 0
    assert overlay.project.p50 is None
    assert overlay.project.due == dt.date(2025, 1, 31)
    assert overlay.project.probability_on_time is None
    assert overlay.top_risks == []
    assert overlay.contingency == 50
    assert result.milestones[0].p50 is None
    for shown in result.items.values():
        assert shown.risk_score == 0 and shown.criticality == 0.0
        assert shown.p80_finish == shown.early_finish


def test_empty_snapshot() -> None:
    snap = Snapshot.model_validate({"project": {"name": "Empty", "start": AS_OF.isoformat()}})
    result = make_plan(snap, settings(), AS_OF)
    assert result.overlays.risk.trials == 0
