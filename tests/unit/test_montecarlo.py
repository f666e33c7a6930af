"""Monte Carlo schedule simulation: exactness without spread, sampling, criticality, risks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
from typing import Any

import numpy as np
import pytest

from tracker_bridge.model import Snapshot
from tracker_bridge.planner import montecarlo
from tracker_bridge.planner import plan as make_plan
from tracker_bridge.planner.calendar import WorkCalendar
from tracker_bridge.planner.cpm import run_passes
from tracker_bridge.planner.montecarlo import (
    SimulationResult,
    beta_cdf,
    sample_work,
    simulate,
    three_point_cdf,
)
from tracker_bridge.planner.network import NO_DEADLINE, compile_network
from tracker_bridge.settings import CalendarSettings, RiskSettings, Settings

START = dt.date(2025, 1, 6)  # a Monday
AS_OF = dt.date(2025, 2, 3)
HOLIDAYS = [dt.date(2025, 1, 20), dt.date(2025, 2, 17), dt.date(2025, 4, 18)]
TYPES = ["FS", "FS", "SS", "FF", "SF"]


def settings(*, spread: bool = True, hours_per_day: float = 8.0, **risk: Any) -> Settings:
    factors = {} if spread else {"default_optimistic_factor": 1, "default_pessimistic_factor": 1}
    return Settings(
        calendar=CalendarSettings(holidays=HOLIDAYS, hours_per_day=hours_per_day),
        risk=RiskSettings(**factors, **risk),
    )


def snapshot(items: list[dict[str, Any]], deps: list[Any] = (), **extra: Any) -> Snapshot:
    """Items and ``(pred, succ[, type[, lag]])`` tuples as a validated snapshot."""
    dependencies = [
        {
            "predecessor": d[0],
            "successor": d[1],
            "type": d[2] if len(d) > 2 else "FS",
            "lag_days": d[3] if len(d) > 3 else 0,
        }
        for d in deps
    ]
    data = {"project": {"name": "t", "start": START.isoformat()}, "items": items}
    data["dependencies"] = dependencies
    data.update(extra)
    return Snapshot.model_validate(data)


def run(snap: Snapshot, cfg: Settings, as_of: dt.date = START, **kw: Any) -> SimulationResult:
    net = compile_network(snap, cfg, as_of)
    return simulate(snap, net, cfg, **kw)


def random_project(seed: int, n: int, narrow: bool = False) -> Snapshot:
    """A random DAG with all relation types, lags, closed and in-progress items, start and
    due constraints, milestones, parents (relations on parents too), zero-hour items, and
    some items with a degenerate three-point range. ``narrow``: every estimate gets a real
    range within 0.4 h of it (sampled, but always rounded to the estimate's own hour)."""
    rng = random.Random(seed)
    milestones = [
        {"key": "M1", "name": "One", "due": "2025-02-28"},
        {"key": "M2", "name": "Two", "due": "2025-04-30"},
        {"key": "M3", "name": "Empty"},
    ]
    items: list[dict[str, Any]] = []
    for i in range(n):
        hours = rng.choice([0, 3, 8, 12, 16, 24, 40, 60, None])
        item: dict[str, Any] = {"key": f"T{i}", "estimate_hours": hours}
        roll = rng.random()
        if roll < 0.15 and i < n // 2:
            item["status"] = "closed"
            item["closed_on"] = (START + dt.timedelta(days=rng.randint(0, 25))).isoformat()
            if rng.random() < 0.5:
                item["start"] = START.isoformat()
        elif roll < 0.35:
            item["done_ratio"] = rng.choice([10, 33, 50, 90])
        if rng.random() < 0.15:
            item["start"] = (AS_OF + dt.timedelta(days=rng.randint(0, 40))).isoformat()
        if rng.random() < 0.1:
            item["due"] = (AS_OF + dt.timedelta(days=rng.randint(5, 60))).isoformat()
        if rng.random() < 0.6:
            item["milestone"] = rng.choice(["M1", "M2"])
        if hours is not None and rng.random() < 0.2:
            item["estimate_range"] = {"optimistic": hours, "likely": hours, "pessimistic": hours}
        if narrow and hours:
            low, high = hours - 0.4, hours + 0.4
            item["estimate_range"] = {"optimistic": low, "likely": hours, "pessimistic": high}
        items.append(item)
    for p in range(3):
        items.append({"key": f"P{p}", "estimate_hours": 0})
    # parents own index ranges, so relations on them point forward like all the others
    ranges = [(0, n // 3), (n // 2, 2 * n // 3), (2 * n // 3, n - 1)]
    for p, (lo, hi) in enumerate(ranges):
        for i in range(lo, hi):
            if rng.random() < 0.3:
                items[i]["parent"] = f"P{p}"
    deps: list[tuple[str, str, str, int]] = []
    for i in range(1, n):
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            j = rng.randrange(max(0, i - 12), i)
            deps.append((f"T{j}", f"T{i}", rng.choice(TYPES), rng.randint(-2, 4)))
    deps.append(("P0", f"T{n - 1}", "FS", 1))
    deps.append((f"T{n // 3}", "P1", "SS", 0))
    return snapshot(items, deps, milestones=milestones)


def assert_reproduces_cpm(snap: Snapshot, cfg: Settings, as_of: dt.date) -> None:
    """Every trial equals the deterministic plan: all percentiles are its dates."""
    deterministic = make_plan(snap, cfg, as_of, overlays=False)
    net = compile_network(snap, cfg, as_of)
    result = simulate(snap, net, cfg, trials=150)
    for key, p80 in zip(result.keys, result.p80_finish, strict=True):
        assert p80 == deterministic.items[key].early_finish, key
    # criticality: zero float on each trial's own longest path (deadlines not used)
    free = dataclasses.replace(net, deadline=np.full(net.size, NO_DEADLINE))
    expected = ((run_passes(free).total_float == 0) & ~net.fixed)[: len(net.keys)]
    np.testing.assert_array_equal(result.criticality, expected.astype(float))
    for milestone in deterministic.milestones:
        found = result.milestones[milestone.key]
        assert found.p50 == found.p80 == found.p95 == milestone.finish, milestone.key
        if milestone.finish is not None and milestone.due is not None:
            assert found.probability_on_time == (1.0 if milestone.total_float >= 0 else 0.0)
    project = result.project
    assert project.p50 == project.p80 == project.p95 == deterministic.project.finish
    assert project.mean == deterministic.project.finish and project.std_days == 0.0
    for milestone in deterministic.milestones:
        found = result.milestones[milestone.key]
        if found.p50 is not None:
            assert (found.mean, found.std_days) == (milestone.finish, 0.0), milestone.key
    for key, forecast in result.summaries.items():
        assert forecast.p80 == deterministic.items[key].early_finish, key


# ------------------------------------------------------------------ zero spread == CPM


def test_zero_spread_reproduces_cpm_on_a_hand_made_network() -> None:
    """All relation types with lags and leads, a holiday, a closed and an in-progress item,
    a zero-duration milestone item, a start constraint and a deadline."""
    snap = snapshot(
        [
            {"key": "done", "status": "closed", "estimate_hours": 16, "closed_on": "2025-01-08"},
            {"key": "A", "estimate_hours": 24, "done_ratio": 50},
            {"key": "B", "estimate_hours": 40},
            {"key": "C", "estimate_hours": 8, "start": "2025-01-21"},
            {"key": "D", "estimate_hours": 16, "due": "2025-01-24", "milestone": "M"},
            {"key": "E", "estimate_hours": 0, "milestone": "M"},
            {"key": "F", "estimate_hours": 12},
            {"key": "G", "estimate_hours": 32},
        ],
        [
            ("done", "A"),
            ("A", "B", "SS", 1),
            ("A", "C", "FF", 2),
            ("B", "D", "SF", 3),
            ("C", "D", "FS", -1),
            ("D", "E"),
            ("B", "F", "FF", 0),
            ("F", "G", "SS", 0),
            ("C", "G"),
        ],
        milestones=[{"key": "M", "name": "M", "due": "2025-01-31"}],
    )
    assert_reproduces_cpm(snap, settings(spread=False), START)


@pytest.mark.parametrize("seed", range(8))
def test_zero_spread_reproduces_cpm_on_random_networks(seed: int) -> None:
    snap = random_project(seed, 60)
    assert_reproduces_cpm(snap, settings(spread=False), AS_OF)


@pytest.mark.parametrize("seed", range(3))
def test_spread_within_an_hour_reproduces_cpm(seed: int) -> None:
    """Sampled (table and comparison samplers) but every draw rounds to the same hours."""
    snap = random_project(seed, 300, narrow=True)
    cfg = settings(spread=False)
    net = compile_network(snap, cfg, AS_OF)
    model, _ = montecarlo._build_model(snap, net, cfg, "pert", None)
    assert model.n_lookup > 0 and model.n_sampled > model.n_lookup  # both samplers in use
    assert_reproduces_cpm(snap, cfg, AS_OF)


def test_zero_spread_reproduces_cpm_with_int32_blocks() -> None:
    """A lag of 40,000 working days does not fit int16 indices: the int32 path is exact too."""
    snap = snapshot(
        [{"key": "A", "estimate_hours": 16}, {"key": "B", "estimate_hours": 8}],
        [("A", "B", "FS", 40_000)],
    )
    assert_reproduces_cpm(snap, settings(spread=False), START)
    cfg = settings(spread=False)
    model, _ = montecarlo._build_model(snap, compile_network(snap, cfg, START), cfg, "pert", None)
    assert model.dtype is np.int32


def test_zero_spread_with_explicit_degenerate_ranges() -> None:
    snap = snapshot(
        [
            {
                "key": "A",
                "estimate_hours": 20,
                "estimate_range": {"optimistic": 20, "likely": 20, "pessimistic": 20},
            },
            {"key": "B", "estimate_range": {"optimistic": 9, "likely": 9, "pessimistic": 9}},
        ],
        [("A", "B")],
    )
    result = run(snap, settings(spread=False), trials=100)
    # B has no estimate_hours: the plan uses the 8 h default, the simulation its range
    # (9 h); A is exact either way: 20 h end in the third day (Wed 8), B's 9 h from hour
    # 20 to 29 end in the fourth (Thu 9).
    assert result.p80_finish == [dt.date(2025, 1, 8), dt.date(2025, 1, 9)]
    assert result.default_spread_items == []


# ---------------------------------------------------------------- reproducibility


def test_same_seed_same_result_other_seed_differs() -> None:
    snap = random_project(3, 40)
    cfg = settings()
    net = compile_network(snap, cfg, AS_OF)
    first = simulate(snap, net, cfg, trials=2_000, seed=11)
    again = simulate(snap, net, cfg, trials=2_000, seed=11)
    other = simulate(snap, net, cfg, trials=2_000, seed=12)
    np.testing.assert_array_equal(first.criticality, again.criticality)
    assert first.finish_histogram == again.finish_histogram
    assert first.p80_finish == again.p80_finish
    assert first.finish_histogram != other.finish_histogram
    w1 = sample_work(snap, net, cfg, trials=500, seed=11)
    w2 = sample_work(snap, net, cfg, trials=500, seed=12)
    assert not np.array_equal(w1, w2)


def test_threads_do_not_change_the_result() -> None:
    """Several chunks (4,096 trials each for small networks) on 1 or 3 threads."""
    snap = random_project(5, 30)
    cfg = settings()
    net = compile_network(snap, cfg, AS_OF)
    one = simulate(snap, net, cfg, trials=9_000, workers=1)
    three = simulate(snap, net, cfg, trials=9_000, workers=3)
    np.testing.assert_array_equal(one.criticality, three.criticality)
    assert one.finish_histogram == three.finish_histogram
    assert one.p80_finish == three.p80_finish
    assert one.milestones == three.milestones


# ------------------------------------------------------------------------- sampling

# A single item, PERT a=2, m=5, b=14 days: alpha = 1 + 4*3/12 = 2, beta = 1 + 4*9/12 = 4,
# mean (a + 4m + b)/6 = 6, variance (b-a)^2 * alpha*beta / ((alpha+beta)^2 (alpha+beta+1))
# = 144 * 8 / 252 = 4.571 (sd 2.14). With 20,000 draws the standard error of the mean is
# 2.14 / sqrt(20,000) = 0.015 days: 5 standard errors is 0.076.
TRIALS = 20_000
PERT = {"optimistic": 2, "likely": 5, "pessimistic": 14}


def _single(range_days: dict[str, float]) -> Snapshot:
    hours = {k: v * 8 for k, v in range_days.items()}  # 8 h per planning day
    return snapshot([{"key": "X", "estimate_hours": hours["likely"], "estimate_range": hours}])


@pytest.mark.parametrize(
    ("distribution", "mean", "variance"),
    [("pert", 6.0, 144 * 8 / 252), ("triangular", 7.0, (4 + 196 + 25 - 28 - 10 - 70) / 18)],
)
def test_sample_mean_matches_the_distribution(
    distribution: str, mean: float, variance: float
) -> None:
    """Working hours are sampled, rounded to the nearest hour: that moves the mean by far
    less than 0.01 day, so the mean is the continuous one."""
    cfg = settings()
    snap = _single(PERT)
    net = compile_network(snap, cfg, START)
    work = sample_work(snap, net, cfg, trials=TRIALS, seed=1, distribution=distribution)  # type: ignore[arg-type]
    days = work[0] / net.ticks_per_day
    tolerance = 5 * math.sqrt(variance / TRIALS) + 0.01
    assert abs(days.mean() - mean) < tolerance
    assert abs(days.var() - variance) < 0.1 * variance
    assert days.min() >= 2 and days.max() <= 14


def test_hour_durations_have_the_exact_rounded_mean() -> None:
    """At 8 h per day the simulated hours are Y = round(X) (X in hours, halves up):
    E[Y] = sum_k P(Y > k) = sum_k P(X >= k + 1/2), from the CDF; and it is the continuous
    mean, 6 days, to well within the sampling error (rounding up would add half an hour)."""
    cfg = settings()
    snap = _single(PERT)
    net = compile_network(snap, cfg, START)
    work = sample_work(snap, net, cfg, trials=TRIALS, seed=2)[0]
    ks = np.arange(0, 8 * 14 + 1, dtype=float)
    n = ks.size
    cdf = three_point_cdf("pert", np.full(n, 16.0), np.full(n, 40.0), np.full(n, 112.0), ks + 0.5)
    exact = float(np.sum(1.0 - cdf))
    assert abs(exact - 48.0) < 0.01  # 6 days of 8 h
    assert abs(work.mean() - exact) < 5 * 8 * math.sqrt(144 * 8 / 252 / TRIALS)
    assert set(np.unique(work).tolist()) <= set(range(16, 113))


def test_in_progress_items_sample_their_remaining_share() -> None:
    cfg = settings()
    snap = snapshot(
        [
            {
                "key": "X",
                "estimate_hours": 80,
                "done_ratio": 50,
                "estimate_range": {"optimistic": 40, "likely": 80, "pessimistic": 160},
            }
        ]
    )
    net = compile_network(snap, cfg, START)
    work = sample_work(snap, net, cfg, trials=4_000, seed=3)[0]
    assert work.min() >= 20 and work.max() <= 80  # half of 40..160 h, rounded up
    assert abs(work.mean() / 8 - (5 + 4 * 10 + 20) / 6 / 2) < 0.1


def test_comparison_sampler_equals_table_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    """Items sharing an estimate are sampled by comparisons with the table's steps; forcing
    the table lookup instead gives the very same draws."""
    items = [{"key": f"T{i}", "estimate_hours": [8, 4, 2][i % 3]} for i in range(60)]
    snap = snapshot(items)
    cfg = settings()
    net = compile_network(snap, cfg, START)
    model, _ = montecarlo._build_model(snap, net, cfg, "pert", None)
    assert model.n_lookup == 0 and model.n_sampled == 60
    steps = sample_work(snap, net, cfg, trials=3_000, seed=8)
    monkeypatch.setattr(montecarlo.model, "_STEP_MIN_ROWS", 10**9)
    model, _ = montecarlo._build_model(snap, net, cfg, "pert", None)
    assert model.n_lookup == 60
    lookup = sample_work(snap, net, cfg, trials=3_000, seed=8)
    np.testing.assert_array_equal(steps, lookup)
    assert set(np.unique(steps[0]).tolist()) <= set(range(6, 13))  # 8 h: 6.4..12 h


def test_beta_cdf_matches_scipy() -> None:
    special = pytest.importorskip("scipy.special")
    alpha = np.array([1.0, 2.0, 4.5, 1.3, 5.0, 3.0])
    beta = np.array([5.0, 4.0, 1.5, 4.7, 1.0, 3.0])
    for x in np.linspace(0, 1, 41):
        expected = special.betainc(alpha, beta, x)
        np.testing.assert_allclose(beta_cdf(alpha, beta, np.full(6, x)), expected, atol=1e-12)


# ------------------------------------------------------------- forecasts and risks


def chain(n: int = 4, spread: bool = True, milestone: str | None = None) -> list[dict[str, Any]]:
    items = []
    for i in range(n):
        item: dict[str, Any] = {"key": f"C{i}", "estimate_hours": 24, "milestone": milestone}
        if spread:
            item["estimate_range"] = {"optimistic": 16, "likely": 24, "pessimistic": 56}
        items.append(item)
    return items


def chain_deps(n: int = 4) -> list[tuple[str, str]]:
    return [(f"C{i}", f"C{i + 1}") for i in range(n - 1)]


def test_probability_on_time_is_monotone_in_the_due_date() -> None:
    cfg = settings()
    previous = -1.0
    seen = []
    for offset in range(10, 50, 2):
        due = START + dt.timedelta(days=offset)
        snap = snapshot(
            chain(milestone="M"),
            chain_deps(),
            milestones=[{"key": "M", "name": "M", "due": due.isoformat()}],
        )
        result = run(snap, cfg, trials=2_000, seed=5)
        p = result.milestones["M"].probability_on_time
        assert p is not None and p >= previous
        assert result.project.probability_on_time == p  # the latest due date is M's
        previous = p
        seen.append(p)
    assert seen[0] == 0.0 and seen[-1] == 1.0


def test_a_certain_risk_shifts_p50_by_its_impact() -> None:
    """Probability 1, impact 3 days on one item of a zero-spread chain: +3 working days,
    across the Jan 20 holiday."""
    cfg = settings(spread=False)
    risk = {"key": "R1", "title": "Vendor late", "probability": 1, "impact_days": 3}
    ms = [{"key": "M", "name": "M"}]
    base = run(snapshot(chain(spread=False), chain_deps(), milestones=ms), cfg, trials=500)
    risky = run(
        snapshot(
            chain(spread=False),
            chain_deps(),
            milestones=ms,
            risks=[{**risk, "threatens": ["C1"]}],
        ),
        cfg,
        trials=500,
    )
    assert base.project.p50 is not None and risky.project.p50 is not None
    cal = compile_network(snapshot(chain()), cfg, START).calendar
    shift = cal.index_on_or_after(risky.project.p50) - cal.index_on_or_after(base.project.p50)
    assert shift == 3
    assert risky.project.p50 == risky.project.p95
    assert dt.date(2025, 1, 20) < risky.project.p50


def test_a_risk_fires_with_its_probability() -> None:
    cfg = settings(spread=False)
    snap = snapshot(
        [{"key": "A", "estimate_hours": 8}],
        risks=[{"key": "R", "probability": 0.3, "impact_days": 2, "threatens": ["A"]}],
    )
    net = compile_network(snap, cfg, START)
    work = sample_work(snap, net, cfg, trials=TRIALS, seed=4)[0] // net.ticks_per_day
    assert set(np.unique(work).tolist()) == {1, 3}
    # binomial standard error sqrt(0.3 * 0.7 / 20,000) = 0.0032
    assert abs(np.mean(work == 3) - 0.3) < 0.016


def test_closed_risks_and_closed_items_are_ignored() -> None:
    cfg = settings(spread=False)
    snap = snapshot(
        [
            {"key": "A", "estimate_hours": 8, "status": "closed", "closed_on": "2025-01-06"},
            {"key": "B", "estimate_hours": 8},
        ],
        [("A", "B")],
        risks=[
            {"key": "R", "probability": 1, "impact_days": 5, "threatens": ["A"]},
            {
                "key": "S",
                "probability": 1,
                "impact_days": 5,
                "threatens": ["B"],
                "status": "closed",
            },
        ],
    )
    net = compile_network(snap, cfg, START)
    work = sample_work(snap, net, cfg, trials=50)
    assert work[:, 0].tolist() == [8, 8]  # hours: one day each


def test_criticality_of_a_single_chain_is_one() -> None:
    result = run(snapshot(chain(), chain_deps()), settings(), trials=2_000)
    assert result.criticality.tolist() == [1.0] * 4


def branches(long_range: dict[str, float], short_range: dict[str, float]) -> Snapshot:
    items = [
        {"key": "S", "estimate_hours": 8},
        {"key": "A", "estimate_hours": long_range["likely"], "estimate_range": long_range},
        {"key": "B", "estimate_hours": short_range["likely"], "estimate_range": short_range},
        {"key": "E", "estimate_hours": 8},
    ]
    return snapshot(items, [("S", "A"), ("S", "B"), ("A", "E"), ("B", "E")])


def test_a_branch_that_is_always_longer_is_always_critical() -> None:
    snap = branches(
        {"optimistic": 120, "likely": 160, "pessimistic": 240},
        {"optimistic": 8, "likely": 16, "pessimistic": 40},
    )
    result = run(snap, settings(), trials=2_000)
    crit = dict(zip(result.keys, result.criticality.tolist(), strict=True))
    assert crit == {"S": 1.0, "A": 1.0, "B": 0.0, "E": 1.0}


def test_equal_parallel_branches_share_criticality() -> None:
    """Same distribution on both branches: each is the longer in about half the trials.
    Whole days tie now and then (both critical), so each is a little above 0.5 and the two
    add up to 1 + P(tie); with ~25 possible day counts a tie has a few percent chance."""
    same = {"optimistic": 40, "likely": 120, "pessimistic": 280}
    result = run(branches(same, same), settings(), trials=2_000, seed=9)
    crit = dict(zip(result.keys, result.criticality.tolist(), strict=True))
    assert 0.45 < crit["A"] < 0.6 and 0.45 < crit["B"] < 0.6
    assert 1.0 <= crit["A"] + crit["B"] < 1.12
    assert crit["S"] == crit["E"] == 1.0


def test_percentiles_are_ordered_and_p80_finish_per_item() -> None:
    snap = snapshot(
        chain(milestone="M"),
        chain_deps(),
        milestones=[{"key": "M", "name": "M", "due": "2025-02-14"}],
    )
    result = run(snap, settings(), trials=2_000)
    m = result.milestones["M"]
    assert m.p50 is not None and m.p80 is not None and m.p95 is not None
    assert m.p50 <= m.p80 <= m.p95
    assert result.p80_finish[-1] == m.p80 == result.project.p80
    assert result.p80_finish == sorted(result.p80_finish)
    assert sum(count for _day, count in result.finish_histogram) == 2_000
    assert result.default_spread_items == []


def test_mean_and_standard_deviation_of_a_serial_chain() -> None:
    """A chain of four PERT(2, 3, 7)-day items (16, 24, 56 h). The finish is the sum of
    their sampled hours, so its mean is the sum of the means: 4 x (2 + 4 x 3 + 7) / 6 =
    14 days, within Monte Carlo error (variance 4 x 25 x 1.8 x 4.2 / (36 x 7) = 3 days^2:
    alpha = 1.8, beta = 4.2). Whole-day rounding made it about 16. The forecast's mean and
    standard deviation are those of the days shown (the day of the last hour worked)."""
    cfg = settings()
    snap = snapshot(chain(milestone="M"), chain_deps(), milestones=[{"key": "M", "name": "M"}])
    net = compile_network(snap, cfg, START)
    trials = 4_000
    result = simulate(snap, net, cfg, trials=trials, seed=5)
    work = sample_work(snap, net, cfg, trials=trials, seed=5)
    total = work.sum(axis=0)  # hours; the last one is worked on day ceil(total / 8) - 1
    shown = -(-total // 8)
    cal = net.calendar
    for forecast in (result.project, result.milestones["M"]):
        assert forecast.mean == cal.date(math.floor(shown.mean() - 1 + 0.5))
        assert forecast.std_days == pytest.approx(shown.std())
    assert abs(total.mean() / 8 - 14.0) < 5 * math.sqrt(3.0 / trials)
    assert result.project.std_days == pytest.approx(math.sqrt(3.0), rel=0.1)


def test_mean_of_a_long_chain_of_small_items_is_the_sum_of_their_means() -> None:
    """Forty triangular(2, 3, 7)-hour items in a row: mean (2 + 3 + 7) / 3 = 4 h each, so
    160 h = 20 days (variance 40 x (4 + 9 + 49 - 6 - 14 - 21) / 18 = 46.7 h^2). Rounded
    up to whole days they took a day each, 40 days; rounded up to hours 4.5 h each; to the
    nearest hour E = sum_k P(X >= k + 1/2) = 4 h, from the CDF."""
    items = [
        {
            "key": f"C{i}",
            "estimate_hours": 3,
            "estimate_range": {"optimistic": 2, "likely": 3, "pessimistic": 7},
        }
        for i in range(40)
    ]
    snap = snapshot(items, chain_deps(40))
    cfg = settings(distribution="triangular")
    net = compile_network(snap, cfg, START)
    trials = 4_000
    work = sample_work(snap, net, cfg, trials=trials, seed=6)
    total = work.sum(axis=0)
    ks = np.arange(0, 8, dtype=float)
    cdf = three_point_cdf("triangular", np.full(8, 2.0), np.full(8, 3.0), np.full(8, 7.0), ks + 0.5)
    assert float(np.sum(1.0 - cdf)) == pytest.approx(4.0)
    assert abs(total.mean() - 160) < 5 * math.sqrt(46.7 / trials)
    result = simulate(snap, net, cfg, trials=trials, seed=6)
    shown = -(-total // 8)  # the day of the last hour worked, + 1
    assert result.project.p50 == net.calendar.date(
        int(np.quantile(shown, 0.5, method="inverted_cdf")) - 1
    )


def test_the_network_carries_relation_kinds_and_lags_for_the_simulation() -> None:
    """One relation of each type on two 3-day items, lag 2: the offset of S_succ >= S_pred +
    offset is (3 if it reads the predecessor's finish) + 2 - (3 if it bounds the successor's
    finish), as in the textbook precedence-diagram rules; the simulation reads these arrays."""
    items = [{"key": "A", "estimate_hours": 24}, {"key": "B", "estimate_hours": 24}]
    cfg = settings(spread=False)
    for kind, finish_pred, finish_succ, offset in (
        ("FS", True, False, 5),
        ("SS", False, False, 2),
        ("FF", True, True, 2),
        ("SF", False, True, -1),
    ):
        net = compile_network(snapshot(items, [("A", "B", kind, 2)]), cfg, START)
        day = net.ticks_per_day  # the arrays count working hours
        assert net.pred_finish.tolist() == [finish_pred] and net.lag.tolist() == [2 * day]
        assert net.succ_finish.tolist() == [finish_succ]
        assert net.offset.tolist() == [offset * day]
        assert_reproduces_cpm(snapshot(items, [("A", "B", kind, 2)]), cfg, START)


def test_stops_when_the_forecasts_are_stable_and_says_how_many_trials_ran() -> None:
    """``trials`` is then a maximum. Forecasts of a 40-item chain from the early stop agree
    with a full 40,000-trial run within the precision (half a working day, rounded to whole
    days: one day); the trials used do not depend on the number of threads."""
    cfg = settings(trials=40_000)
    snap = snapshot(
        chain(40, milestone="M"),
        chain_deps(40),
        milestones=[{"key": "M", "name": "M", "due": "2025-05-30"}],
    )
    net = compile_network(snap, cfg, START)
    full = simulate(snap, net, cfg)
    early = simulate(snap, net, cfg, stop_when_stable=True)
    assert full.trials == 40_000 and early.trials < 40_000
    for a, b in ((full.project, early.project), (full.milestones["M"], early.milestones["M"])):
        for q in ("p50", "p80", "p95"):
            assert abs(net.calendar.working_days_between(getattr(a, q), getattr(b, q))) <= 1
    again = simulate(snap, net, cfg, stop_when_stable=True, workers=1)
    assert (again.trials, again.project) == (early.trials, early.project)
    exact = simulate(snap, net, settings(trials=40_000, precision_days=0), stop_when_stable=True)
    assert exact.trials == 40_000


def test_without_spread_it_stops_at_the_first_check_with_the_cpm_dates() -> None:
    cfg = settings(spread=False, trials=50_000)
    snap = random_project(3, 60)
    deterministic = make_plan(snap, cfg, AS_OF, overlays=False)
    net = compile_network(snap, cfg, AS_OF)
    result = simulate(snap, net, cfg, stop_when_stable=True)
    assert result.trials < 50_000
    assert result.project.p50 == result.project.p95 == deterministic.project.finish
    assert result.project.std_days == 0.0


# Heizer & Render, Operations Management, the Milwaukee Paper PERT example: (a, m, b) in
# weeks, here one working day each; expected critical path A-C-E-G-H, 15 days.
MILWAUKEE = {
    "A": ((1, 2, 3), []),
    "B": ((2, 3, 4), []),
    "C": ((1, 2, 3), ["A"]),
    "D": ((2, 4, 6), ["A", "B"]),
    "E": ((1, 4, 7), ["C"]),
    "F": ((1, 2, 9), ["C"]),
    "G": ((3, 4, 11), ["D", "E"]),
    "H": ((1, 2, 3), ["F", "G"]),
}


def _continuous_finish(trials: int, seed: int) -> np.ndarray:
    """The project finish (days) of a plain continuous-time PERT simulation: numpy beta
    draws, longest path over the network in topological (dictionary) order."""
    rng = np.random.default_rng(seed)
    finish: dict[str, np.ndarray] = {}
    for key, ((a, m, b), preds) in MILWAUKEE.items():
        alpha, beta = 1 + 4 * (m - a) / (b - a), 1 + 4 * (b - m) / (b - a)
        duration = a + (b - a) * rng.beta(alpha, beta, trials)
        start = np.max([finish[p] for p in preds], axis=0) if preds else np.zeros(trials)
        finish[key] = start + duration
    return np.max(list(finish.values()), axis=0)


@pytest.mark.parametrize("days", [15, 16, 17, 18])
def test_chance_on_time_matches_a_continuous_time_simulation(days: int) -> None:
    """At natural scale (one PERT unit = one working day) the chance of finishing on the
    last day of ``days`` working days is P(F <= days) of the continuous model (the shown
    last day is the day of the last hour). Rounding every activity up to whole days put it
    far lower: 0.28 instead of 0.69 at 16 days, 0.12 instead of 0.48 at 15."""
    items = [
        {
            "key": key,
            "estimate_hours": 8 * m,
            "estimate_range": {"optimistic": 8 * a, "likely": 8 * m, "pessimistic": 8 * b},
            "milestone": "M",
        }
        for key, ((a, m, b), _preds) in MILWAUKEE.items()
    ]
    deps = [(p, key) for key, (_abm, preds) in MILWAUKEE.items() for p in preds]
    cfg = settings()
    due = WorkCalendar(cfg.calendar, START).date(days - 1)
    snap = snapshot(items, deps, milestones=[{"key": "M", "name": "M", "due": due.isoformat()}])
    result = run(snap, cfg, trials=20_000, seed=9)
    expected = float(np.mean(_continuous_finish(200_000, 10) <= days))
    assert result.project.probability_on_time is not None
    # sampling error about 0.004; whole hours (a finish within the hour counts) ~0.02
    assert abs(result.project.probability_on_time - expected) < 0.03


@pytest.mark.parametrize("precision", [0.5, 0.3])  # stops at the first check; at the 8th chunk
def test_chunks_run_ahead_do_not_change_an_early_stop(precision: float) -> None:
    """With threads to spare, the next check's first chunks run while a check's own run;
    they count only when the simulation goes on, so every figure is the single thread's."""
    cfg = settings(trials=40_000, precision_days=precision)
    snap = snapshot(
        chain(40, milestone="M"),
        chain_deps(40),
        milestones=[{"key": "M", "name": "M", "due": "2025-05-30"}],
    )
    net = compile_network(snap, cfg, START)
    runs = [simulate(snap, net, cfg, stop_when_stable=True, workers=w) for w in (1, 2, 3)]
    assert runs[0].trials < 40_000
    for other in runs[1:]:
        assert other.trials == runs[0].trials
        np.testing.assert_array_equal(other.criticality, runs[0].criticality)
        assert other.p80_finish == runs[0].p80_finish
        assert other.finish_histogram == runs[0].finish_histogram
        assert (other.project, other.milestones) == (runs[0].project, runs[0].milestones)
        assert other.summaries == runs[0].summaries
