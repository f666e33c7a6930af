"""The Monte Carlo on the levelled schedule (``risk.schedule = "levelled"``).

Calendar: Mon-Fri, 8 h a day, project start Monday 2025-01-06 (index 0), no holidays in the
worked examples.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import numpy as np
import pytest
from test_levelling_plan import _item, _snapshot
from test_montecarlo import AS_OF, random_project

from tracker_bridge.errors import ConfigError
from tracker_bridge.model import Snapshot
from tracker_bridge.planner import plan
from tracker_bridge.planner.cpm import run_passes
from tracker_bridge.planner.montecarlo import sample_work, simulate
from tracker_bridge.planner.network import compile_network
from tracker_bridge.planner.overlays import OverlayContext
from tracker_bridge.planner.resourcing import Levelling, levelling_stage
from tracker_bridge.planner.sequencing import resource_sequences, sequenced_network
from tracker_bridge.publish import PlainStyle
from tracker_bridge.publish.document import Paragraph
from tracker_bridge.publish.report import build_report
from tracker_bridge.settings import Settings, settings_from_dict

MONDAY = dt.date(2025, 1, 6)
NO_SPREAD = {"default_optimistic_factor": 1, "default_pessimistic_factor": 1}
PEOPLE = ["ann", "bob", "cy", "qa", None]
RESOURCES: dict[str, Any] = {
    "people": {"bob": {"hours_per_day": 4}, "cy": {"days_off": ["2025-02-04", "2025-02-10"]}},
    "pools": {"qa": {"members": ["tess", "tim"]}, "team": {"members": ["u1", "u2", "u3"]}},
    "unassigned": "team",
}


def _settings(spread: bool = True, resources: dict[str, Any] | None = None) -> Settings:
    risk: dict[str, Any] = {"schedule": "levelled", "precision_days": 0, "trials": 400}
    return Settings.model_validate(
        {
            "planner": {"level": True},
            "risk": risk if spread else {**risk, **NO_SPREAD},
            "resources": RESOURCES if resources is None else resources,
        }
    )


def _levelled(snap: Snapshot, cfg: Settings, as_of: dt.date) -> Levelling:
    """The levelling of a plan, with its result."""
    base = plan(snap, cfg, as_of, overlays=False)
    net = compile_network(snap, cfg, as_of)
    ctx = OverlayContext(base, snap, net, run_passes(net), cfg, as_of, None)
    levelling_stage(ctx)
    assert ctx.levelling is not None and ctx.levelling.result is not None
    return ctx.levelling


def test_levelled_forecast_of_a_worked_example() -> None:
    """a and b (3 days each) are Ann's, c (1 day) Bob's, b follows c. CPM: a Mon-Wed, c Mon,
    b Tue-Thu, finish Thu 9th. Levelled: Ann does a then b (b Thu 9th - Mon 13th). Without
    spread every trial is that schedule: P50 = P80 = P95 = Mon 13th, a and b always critical,
    c never (it waits 2 days for Ann to be free: float)."""
    snap = _snapshot(
        [_item("a", 24, "ann"), _item("b", 24, "ann"), _item("c", 8, "bob")],
        [{"predecessor": "c", "successor": "b"}],
    )
    p = plan(snap, _settings(spread=False, resources={}), MONDAY)
    assert p.project.finish == dt.date(2025, 1, 9)
    lv, risk = p.overlays.levelling, p.overlays.risk
    assert lv is not None and risk is not None
    assert lv.finish == dt.date(2025, 1, 13)
    assert risk.schedule == "levelled"
    assert risk.project.p50 == risk.project.p95 == dt.date(2025, 1, 13)
    assert p.milestones[0].p80 == dt.date(2025, 1, 13)
    assert [p.items[k].p80_finish for k in "abc"] == [
        dt.date(2025, 1, 8),
        dt.date(2025, 1, 13),
        dt.date(2025, 1, 6),
    ]
    assert [p.items[k].criticality for k in "abc"] == [1.0, 1.0, 0.0]
    page = build_report(p, snap, style=PlainStyle())
    text = " ".join(
        b.text for b in page.blocks if isinstance(b, Paragraph) and isinstance(b.text, str)
    )
    assert "They follow the levelled schedule" in text
    # the same snapshot on the critical path: b only waits for c, finish Thu 9th
    cpm = plan(snap, Settings.model_validate({"risk": NO_SPREAD}), MONDAY)
    assert cpm.overlays.risk is not None and cpm.overlays.risk.schedule == "cpm"
    assert cpm.overlays.risk.project.p80 == dt.date(2025, 1, 9)


def test_a_pool_is_split_into_one_sequence_per_member() -> None:
    """Three 1-day items of a two-member pool: two run on Monday, the third on Tuesday after
    one of them; the Monday items do not wait for each other."""
    snap = _snapshot([_item(k, 8, "qa") for k in ("q1", "q2", "q3")])
    cfg = _settings(spread=False, resources={"pools": {"qa": {"members": ["tess", "tim"]}}})
    lv = _levelled(snap, cfg, MONDAY)
    assert lv.result is not None
    pairs = resource_sequences(lv.problem, lv.result, lv.resource)
    assert lv.result.start.tolist() == [0, 0, 1]
    assert len(pairs) == 1 and pairs[0][1] == 2


def _levelled_project(seed: int) -> Snapshot:
    """A random project (all relation types, lags, closed and in-progress items, parents,
    milestones) whose items are assigned to people, a part-timer, one with days off and
    two pools. Items in progress have no predecessors (the levelling pins their start, see
    planner.sequencing)."""
    snap = random_project(seed, 60)
    rng = random.Random(seed)
    following = {d.successor for d in snap.dependencies}
    items = []
    for item in snap.items:
        update: dict[str, Any] = {"assignee": rng.choice(PEOPLE)}
        if (item.key in following or item.parent in following) and item.done_ratio:
            update["done_ratio"] = 0
        items.append(item.model_copy(update=update))
    return snap.model_copy(update={"items": items})


@pytest.mark.parametrize("seed", range(8))
def test_without_spread_the_simulation_is_the_levelled_schedule(seed: int) -> None:
    snap = _levelled_project(seed)
    cfg = _settings(spread=False)
    lv = _levelled(snap, cfg, AS_OF)
    assert lv.result is not None
    seq = sequenced_network(lv.net, lv.problem, lv.result, lv.resource)
    n = len(lv.net.keys)
    # The network counts ticks, the levelling whole days: each issue starts within its
    # levelled day (an FF relation may let it start mid-day, after a longer predecessor).
    early = run_passes(seq).early_start[:n] // lv.net.ticks_per_day
    np.testing.assert_array_equal(early, lv.result.start[:n])

    p = plan(snap, cfg, AS_OF)
    shown, risk = p.overlays.levelling, p.overlays.risk
    assert shown is not None and risk is not None

    # The levelling books whole days; the trials keep the relations' hours, so an issue the
    # levelling starts at the beginning of its day may start mid-day in the trials and end
    # one working day later (README, "Limits"), never earlier and never more.
    def later_by(shown_day: dt.date, simulated: dt.date | None) -> int:
        assert simulated is not None
        return int(np.busday_count(shown_day, simulated))

    for key, item in shown.items.items():
        assert later_by(item.finish, p.items[key].p80_finish) in (0, 1), key
    assert risk.project.p50 == risk.project.p95
    assert later_by(shown.finish, risk.project.p50) in (0, 1)
    levelled = {m.key: m.levelled_finish for m in shown.milestones}
    for milestone in p.milestones:
        if milestone.p50 is not None:
            assert milestone.p50 == milestone.p95, milestone.key
            assert later_by(levelled[milestone.key], milestone.p50) in (0, 1), milestone.key


@pytest.mark.parametrize("seed", range(6))
def test_levelled_forecast_is_never_earlier_than_the_cpm_one_for_the_same_samples(
    seed: int,
) -> None:
    """Same snapshot, seed and trials: each trial's durations are the same draws (checked),
    and the levelled network only adds relations, so no percentile can come earlier."""
    snap = _levelled_project(seed)
    resources = {**RESOURCES, "people": {"cy": RESOURCES["people"]["cy"]}}  # no part-timer
    cfg = _settings(resources=resources)
    lv = _levelled(snap, cfg, AS_OF)
    assert lv.result is not None and lv.snapshot is snap
    seq = sequenced_network(lv.net, lv.problem, lv.result, lv.resource)
    np.testing.assert_array_equal(
        sample_work(snap, lv.net, cfg, trials=300), sample_work(snap, seq, cfg, trials=300)
    )
    cpm = simulate(snap, lv.net, cfg, trials=2000)
    levelled = simulate(snap, seq, cfg, trials=2000)
    for q in ("p50", "p80", "p95"):
        assert getattr(levelled.project, q) >= getattr(cpm.project, q)
        for key, forecast in cpm.milestones.items():
            if getattr(forecast, q) is not None:
                assert getattr(levelled.milestones[key], q) >= getattr(forecast, q), key
    assert all(a >= b for a, b in zip(levelled.p80_finish, cpm.p80_finish, strict=True))
    # the people's order usually matters: somewhere the levelled forecast is later
    assert levelled.project.p80 is not None and cpm.project.p80 is not None
    assert levelled.project.p95 > cpm.project.p95 or any(
        a > b for a, b in zip(levelled.p80_finish, cpm.p80_finish, strict=True)
    )


def test_levelled_risk_needs_levelling() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_dict({"risk": {"schedule": "levelled"}})
    assert "planner.level = true" in str(caught.value)
    assert str(caught.value).count("\n") == 0


def test_levelling_with_relations_between_summaries() -> None:
    """Summary A (a, b, c: Ann's) precedes summary B (d, e, f: Bob's), a relation of 3 x 3
    leaves that goes through a hub node. Ann does a, b, c Mon-Wed; Bob's start Thursday and
    end Monday 13th."""
    items: list[dict[str, Any]] = [{"key": "A", "estimate_hours": 0}, {"key": "B"}]
    items += [{**_item(k, 8, "ann"), "parent": "A"} for k in "abc"]
    items += [{**_item(k, 8, "bob"), "parent": "B"} for k in "def"]
    snap = _snapshot(items, [{"predecessor": "A", "successor": "B"}])
    p = plan(snap, _settings(spread=False, resources={}), MONDAY)
    lv, risk = p.overlays.levelling, p.overlays.risk
    assert lv is not None and risk is not None
    assert lv.finish == dt.date(2025, 1, 13)
    assert min(lv.items[k].start for k in "def") == dt.date(2025, 1, 9)
    assert risk.project.p80 == dt.date(2025, 1, 13)
