"""The levelling core: a worked example, a published optimum, and properties on random networks.

Capacities, relations and starts are checked here by plain loops over days and relations,
independently of the vectorised scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker_bridge.planner.levelling import Problem, level

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
J301_1 = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "psplib-j30" / "j301_1.sm"


def _problem(
    duration: list[int],
    edges: list[tuple[int, int, int]],
    demand: list[list[int]],
    capacity: list[list[int]],
    release: list[int] | None = None,
    fixed: list[bool] | None = None,
) -> Problem:
    n = len(duration)
    return Problem(
        duration=np.array(duration, dtype=np.int64),
        release=np.array(release or [0] * n, dtype=np.int64),
        pred=np.array([e[0] for e in edges], dtype=np.int64),
        succ=np.array([e[1] for e in edges], dtype=np.int64),
        offset=np.array([e[2] for e in edges], dtype=np.int64),
        demand=np.array(demand, dtype=np.int64).reshape(n, len(capacity)),
        capacity=np.array(capacity, dtype=np.int64),
        rank=np.arange(n, dtype=np.int64),
        fixed=np.array(fixed or [False] * n, dtype=bool),
    )


def _early_starts(p: Problem) -> list[int]:
    """Textbook forward pass by repeated relaxation (resources ignored)."""
    es = p.release.tolist()
    for _ in range(len(es) + 1):
        for a, b, c in zip(p.pred.tolist(), p.succ.tolist(), p.offset.tolist(), strict=True):
            if not p.fixed[b] and es[a] + c > es[b]:
                es[b] = es[a] + c
    return es


def _overloads(p: Problem, start: list[int]) -> list[tuple[int, int]]:
    """(resource, day) pairs where the work placed there exceeds the capacity."""
    cap = p.capacity.tolist()
    end = max((s + d for s, d in zip(start, p.duration.tolist(), strict=True)), default=0)
    bad = []
    for r, profile in enumerate(cap):
        for day in range(end):
            used = sum(
                int(p.demand[i, r])
                for i, s in enumerate(start)
                if s <= day < s + int(p.duration[i])
            )
            if used > profile[min(day, len(profile) - 1)]:
                bad.append((r, day))
    return bad


def test_one_person_three_tasks_worked_by_hand() -> None:
    """A (3 d) and B (2 d) for the same person, C (2 d) after A, also theirs.

    CPM: A 0-3, B 0-2, C 3-5, late finishes A 3, B 5, C 5. Levelling takes the least late
    finish first: A on days 0-2; then B and C tie on late finish 5 and B ranks first: B on
    days 3-4, C on days 5-6. One person does 7 days of work, so 7 is also the optimum.
    """
    p = _problem([3, 2, 2], [(0, 2, 3)], [[1], [1], [1]], [[1]])
    res = level(p)
    assert res.start.tolist() == [0, 3, 5]
    assert res.makespan == 7


def test_psplib_j301_1_reaches_its_published_optimum() -> None:
    """PSPLIB J30 instance j301_1: the proven optimal makespan is 43 (Kolisch & Sprecher)."""
    lines = J301_1.read_text().splitlines()
    prec = lines[
        lines.index("PRECEDENCE RELATIONS:") + 2 : lines.index("PRECEDENCE RELATIONS:") + 34
    ]
    req_at = lines.index("REQUESTS/DURATIONS:") + 3
    reqs = [row.split() for row in lines[req_at : req_at + 32]]
    caps = [int(v) for v in lines[lines.index("RESOURCEAVAILABILITIES:") + 2].split()]
    duration = [int(r[2]) for r in reqs]
    edges = [
        (int(r[0]) - 1, int(s) - 1, duration[int(r[0]) - 1])
        for r in (row.split() for row in prec)
        for s in r[3:]
    ]
    p = _problem(duration, edges, [[int(v) for v in r[3:]] for r in reqs], [[c] for c in caps])
    res = level(p, schedules=300)
    assert res.makespan == 43
    assert _overloads(p, res.start.tolist()) == []


def test_demand_above_capacity_is_refused() -> None:
    p = _problem([2], [], [[2]], [[1]])
    with pytest.raises(ValueError, match="exceeds"):
        level(p)


@dataclass(frozen=True)
class Case:
    problem: Problem
    unlimited: Problem


@st.composite
def cases(draw: st.DrawFn) -> Case:
    n = draw(st.integers(1, 12))
    r = draw(st.integers(1, 3))
    duration = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    edges = []
    for b in range(1, n):
        for a in draw(st.sets(st.integers(0, b - 1), max_size=2)):
            # offsets of FS/SS/FF/SF relations with lags: d_a + lag, lag, d_a - d_b + lag ...
            kind = draw(st.sampled_from(["FS", "SS", "FF", "SF"]))
            lag = draw(st.integers(-2, 3))
            head = duration[a] if kind in ("FS", "FF") else 0
            tail = duration[b] if kind in ("FF", "SF") else 0
            edges.append((a, b, head + lag - tail))
    cap_days = draw(st.integers(1, 6))
    capacity = [
        draw(st.lists(st.integers(0, 3), min_size=cap_days, max_size=cap_days)) for _ in range(r)
    ]
    for row in capacity:
        row[-1] = max(row[-1], 1)
    demand = [[draw(st.integers(0, capacity[k][-1])) for k in range(r)] for _ in range(n)]
    release = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    fixed = [False] * n
    if n > 1 and draw(st.booleans()):
        fixed[0] = True  # an activity in progress keeps its start
    problem = _problem(duration, edges, demand, capacity, release, fixed)
    # fixed work takes its capacity regardless; keep the check about the levelled ones
    roomy = [[100] * cap_days for _ in range(r)]
    return Case(problem, _problem(duration, edges, demand, roomy, release, fixed))


def _violations(p: Problem, start: list[int]) -> list[tuple[int, int]]:
    return [
        (a, b)
        for a, b, c in zip(p.pred.tolist(), p.succ.tolist(), p.offset.tolist(), strict=True)
        if not p.fixed[b] and start[b] < start[a] + c
    ]


@FAST
@given(cases())
def test_levelled_schedule_is_feasible_and_never_early(case: Case) -> None:
    p = case.problem
    start = level(p, schedules=30).start.tolist()
    assert _violations(p, start) == []
    es = _early_starts(p)
    assert all(s >= e for s, e in zip(start, es, strict=True))
    assert all(start[i] == int(p.release[i]) for i in np.flatnonzero(p.fixed).tolist())
    if not p.fixed.any():
        assert _overloads(p, start) == []


@FAST
@given(cases())
def test_unlimited_capacity_gives_the_cpm_schedule(case: Case) -> None:
    res = level(case.unlimited, schedules=30)
    assert res.start.tolist() == _early_starts(case.unlimited)
