"""The typed plan overlays: the demo plan survives a JSON round trip, dates stay dates, the
JSON keeps its shape (only the overlays that ran; S-curve points after the status date
without EV/AC), and ``tracker-bridge schema plan`` describes every overlay."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from tracker_bridge.cli import main
from tracker_bridge.demo.example import REFERENCE_AS_OF, demo_settings, load_example
from tracker_bridge.model import Plan
from tracker_bridge.planner import plan as make_plan
from tracker_bridge.planner.baseline import make_baseline
from tracker_bridge.settings import Settings


@pytest.fixture(scope="module")
def demo_plan() -> Plan:
    """The MedCo example planned as the demo plans it (levelling, budget, risk), compared
    with a baseline saved four weeks before the status date."""
    snapshot = load_example()
    settings = demo_settings(REFERENCE_AS_OF)
    then = REFERENCE_AS_OF - dt.timedelta(weeks=4)
    earlier = make_plan(snapshot, settings, then)
    base = make_baseline(earlier, snapshot, "four weeks ago", dt.datetime(2026, 10, 29, 9, 0))
    return make_plan(snapshot, settings, REFERENCE_AS_OF, baseline=base)


def test_the_demo_plan_has_every_overlay(demo_plan: Plan) -> None:
    assert demo_plan.overlays.names() == {"risk", "budget", "baseline", "levelling"}


def test_the_demo_plan_round_trips_through_json(demo_plan: Plan) -> None:
    again = Plan.model_validate_json(demo_plan.model_dump_json())
    assert again == demo_plan
    # dates are dates after reading the JSON back, not ISO strings
    risk, budget = again.overlays.risk, again.overlays.budget
    baseline, levelling = again.overlays.baseline, again.overlays.levelling
    assert risk is not None and budget is not None
    assert baseline is not None and levelling is not None
    assert isinstance(risk.project.p80, dt.date)
    assert all(isinstance(entry.date, dt.date) for entry in risk.finish_histogram)
    assert budget.as_of == REFERENCE_AS_OF
    assert isinstance(budget.time_phased[0].date, dt.date)
    assert isinstance(baseline.saved_at, dt.datetime)
    assert baseline.project.finish == demo_plan.project.finish
    assert all(isinstance(item.start, dt.date) for item in levelling.items.values())
    assert levelling.unlevelled_finish == demo_plan.project.finish


def test_the_json_shows_only_the_overlays_that_ran() -> None:
    snapshot = load_example()
    bare = make_plan(snapshot, Settings(), REFERENCE_AS_OF, overlays=False)
    assert bare.to_json_dict()["overlays"] == {}
    risk_only = make_plan(snapshot, Settings(), REFERENCE_AS_OF)
    assert list(risk_only.to_json_dict()["overlays"]) == ["risk"]


def test_the_json_keeps_its_keys(demo_plan: Plan) -> None:
    data = json.loads(demo_plan.model_dump_json())["overlays"]
    assert list(data) == ["levelling", "budget", "baseline", "risk"]  # the order they run
    assert "register" in data["risk"] and "open_risks" not in data["risk"]
    points = data["budget"]["time_phased"]
    past = [p for p in points if p["date"] <= REFERENCE_AS_OF.isoformat()]
    future = [p for p in points if p["date"] > REFERENCE_AS_OF.isoformat()]
    assert past and future
    assert all(set(p) == {"date", "pv", "ev", "ac"} for p in past)
    assert all(set(p) == {"date", "pv"} for p in future)  # no EV or AC after the status date
    milestone = next(iter(data["budget"]["milestones"].values()))
    assert next(iter(milestone)) == "name"  # the milestone's name comes first, as before
    levelling = demo_plan.overlays.levelling
    assert levelling is not None
    assert data["levelling"]["finish"] == levelling.finish.isoformat()  # ISO dates in JSON


def test_schema_plan_describes_every_overlay() -> None:
    result = CliRunner().invoke(main, ["schema", "plan"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    defs = schema["$defs"]
    overlays = defs["PlanOverlays"]["properties"]
    assert set(overlays) == {"risk", "budget", "baseline", "levelling"}
    for name, model in (
        ("risk", "RiskOverlay"),
        ("budget", "BudgetOverlay"),
        ("baseline", "BaselineComparison"),
        ("levelling", "LevellingOverlay"),
    ):
        assert {"$ref": f"#/$defs/{model}"} in overlays[name]["anyOf"]
    assert "register" in defs["RiskOverlay"]["properties"]
    assert defs["RiskForecast"]["properties"]["p80"]["anyOf"][0] == {
        "format": "date",
        "type": "string",
    }
    assert "tcpi" in defs["EvmFigures"]["properties"]
    assert "slip_days" in defs["FinishSlip"]["properties"]
    assert "delay_days" in defs["LevelledItem"]["properties"]
