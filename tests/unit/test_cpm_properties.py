"""Properties of the planner on random activity networks (hypothesis).

The most valuable check is ``test_matches_reference_implementation``: on a seven-day week
without holidays (working-day index = calendar day offset), every figure of the vectorised
planner must equal a plain textbook forward/backward pass over a networkx topological order,
written below with the classic per-relation formulas (ES/EF/LS/LF, not our "offset on starts"
rewriting) so the two share no code.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker_bridge.errors import CycleError
from tracker_bridge.model import Plan, Snapshot
from tracker_bridge.planner import plan
from tracker_bridge.settings import WEEKDAYS, CalendarSettings, Settings

START = dt.date(2025, 1, 6)  # a Monday
HOURS_PER_DAY = 8.0
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KINDS = ("FS", "SS", "FF", "SF")


@dataclass(frozen=True)
class Net:
    """A random network; dates are day offsets from START."""

    hours: tuple[float, ...]
    edges: tuple[tuple[int, int, str, int], ...]  # pred < succ, type, lag
    starts: tuple[int | None, ...]
    dues: tuple[int | None, ...]
    done: tuple[int, ...]  # done ratio; 0 = not started
    closed: tuple[bool, ...]
    as_of: int
    workdays: tuple[str, ...] = WEEKDAYS
    holidays: tuple[int, ...] = ()

    @property
    def n(self) -> int:
        return len(self.hours)

    def key(self, i: int) -> str:
        return f"k{i:02d}"


@st.composite
def nets(
    draw: st.DrawFn,
    *,
    deadlines: bool = True,
    progress: bool = True,
    closed: bool = False,
    calendars: bool = False,
    max_items: int = 10,
) -> Net:
    n = draw(st.integers(1, max_items))
    hours = tuple(draw(st.sampled_from([0, 0, 1, 4, 8, 8, 12, 16, 24, 40])) for _ in range(n))
    edges = []
    if n > 1:
        for _ in range(draw(st.integers(0, 2 * n))):
            i = draw(st.integers(0, n - 2))
            j = draw(st.integers(i + 1, n - 1))
            edges.append((i, j, draw(st.sampled_from(KINDS)), draw(st.integers(-2, 3))))
    maybe = st.none() | st.integers(0, 20)
    starts = tuple(draw(maybe) for _ in range(n))
    dues = tuple(draw(maybe) if deadlines else None for _ in range(n))
    done = tuple(draw(st.sampled_from([0, 0, 0, 10, 50, 90])) if progress else 0 for _ in range(n))
    is_closed = tuple(draw(st.booleans()) and closed for _ in range(n))
    workdays: tuple[str, ...] = WEEKDAYS
    holidays: tuple[int, ...] = ()
    if calendars:
        mask = draw(st.lists(st.booleans(), min_size=7, max_size=7).filter(any))
        workdays = tuple(d for d, on in zip(WEEKDAYS, mask, strict=True) if on)
        holidays = tuple(sorted(set(draw(st.lists(st.integers(-5, 90), max_size=12)))))
    return Net(
        hours,
        tuple(edges),
        starts,
        dues,
        done,
        is_closed,
        draw(st.integers(-3, 10)),
        workdays,
        holidays,
    )


def calendar_day(offset: int) -> dt.date:
    return START + dt.timedelta(days=offset)


def working_day_of(net: Net) -> Callable[[int], dt.date]:
    """Index -> date of the net's k-th working day on or after START (k < 0: before START),
    enumerated with plain date arithmetic (no numpy busday functions)."""
    holidays = {START + dt.timedelta(days=h) for h in net.holidays}

    def works(day: dt.date) -> bool:
        return WEEKDAYS[day.weekday()] in net.workdays and day not in holidays

    after = [d for d in (START + dt.timedelta(days=k) for k in range(400)) if works(d)]
    before = [d for d in (START - dt.timedelta(days=k) for k in range(1, 120)) if works(d)]
    return lambda k: after[k] if k >= 0 else before[-k - 1]


def snapshot_data(net: Net, to_date: Callable[[int], dt.date] = calendar_day) -> dict[str, Any]:
    def day(offset: int) -> str:
        return to_date(offset).isoformat()

    items = []
    for i in range(net.n):
        item: dict[str, Any] = {"key": net.key(i), "estimate_hours": net.hours[i]}
        if net.starts[i] is not None:  # a constraint while open, the actual start once closed
            item["start" if net.closed[i] else "start_no_earlier_than"] = day(net.starts[i])
        if net.dues[i] is not None:
            item["deadline"] = day(net.dues[i])
        if net.closed[i]:
            item.update(status="closed", closed_on=day(min(net.as_of, net.starts[i] or 0)))
        elif net.done[i]:
            item["done_ratio"] = net.done[i]
        items.append(item)
    deps = [
        {"predecessor": net.key(i), "successor": net.key(j), "type": kind, "lag_days": lag}
        for i, j, kind, lag in net.edges
    ]
    return {
        "project": {"name": "random", "start": START.isoformat()},
        "items": items,
        "dependencies": deps,
    }


def run(
    net: Net,
    data: dict[str, Any] | None = None,
    to_date: Callable[[int], dt.date] = calendar_day,
) -> Plan:
    cal = CalendarSettings(
        workdays=list(net.workdays),
        holidays=[START + dt.timedelta(days=h) for h in net.holidays],
        hours_per_day=HOURS_PER_DAY,
    )
    snap = Snapshot.model_validate(data or snapshot_data(net, to_date))
    # The schedule is under test; the risk/budget overlay stages only cost time here.
    return plan(snap, Settings(calendar=cal), as_of=to_date(net.as_of), overlays=False)


# --------------------------------------------------------------------- reference passes


def reference(net: Net, day: Callable[[int], dt.date] = calendar_day) -> dict[str, Any]:
    """Textbook CPM in working hours: plain loops over a networkx topological order.

    Times are counted in hours from the start of working day 0 (``HOURS_PER_DAY`` hours a
    day); an item is shown from the day of its first hour to the day of its last hour.

    ``day`` turns a working-day number into a date (on a seven-day week without holidays,
    simply START + n days); every date the network was given must be a working day.

    Closed items keep their actual dates (finish on ``closed_on``, start on ``start`` or
    their duration before the finish), drive their successors, but are neither moved nor
    constrained by anything; they have no float. Started items schedule their remaining
    share of the duration from the status date on.
    """
    n = net.n
    h = int(HOURS_PER_DAY)
    closed = net.closed
    dur = [0 if x <= 0 else math.ceil(x) for x in net.hours]  # whole hours
    work = [
        d if r == 0 else math.ceil(d * (100 - r) / 100) for d, r in zip(dur, net.done, strict=True)
    ]
    open_floor = max(0, net.as_of)
    floor = [max(open_floor, s or 0) * h for s in net.starts]
    actual: dict[int, int] = {}  # closed item -> actual start
    for v in range(n):
        if closed[v]:
            end = min(net.as_of, net.starts[v] or 0) + 1  # exclusive: the day after closed_on
            span = math.ceil(dur[v] / h)  # a closed item without a start took whole days
            begin = min(net.starts[v] if net.starts[v] is not None else end - span, end)
            actual[v], work[v], floor[v] = begin * h, (end - begin) * h, open_floor * h
    g = nx.MultiDiGraph()
    g.add_nodes_from(range(n))
    for i, j, kind, lag in net.edges:
        g.add_edge(i, j, kind=kind, lag=lag * h)
    order = list(nx.topological_sort(g))

    es, ef = [0] * n, [0] * n
    for v in order:
        if closed[v]:
            es[v], ef[v] = actual[v], actual[v] + work[v]
            continue
        start = floor[v]
        for p, _, a in g.in_edges(v, data=True):
            lag = a["lag"]
            start = max(
                start,
                {
                    "FS": ef[p] + lag,  # S_v >= F_p + lag
                    "SS": es[p] + lag,  # S_v >= S_p + lag
                    "FF": ef[p] + lag - work[v],  # F_v >= F_p + lag
                    "SF": es[p] + lag - work[v],  # F_v >= S_p + lag
                }[a["kind"]],
            )
        es[v], ef[v] = start, start + work[v]
    finish = max(ef)

    due = [None if d is None else (d + 1) * h for d in net.dues]  # exclusive finish bound
    ls, lf = [0] * n, [0] * n
    for v in reversed(order):
        if closed[v]:
            ls[v], lf[v] = es[v], ef[v]
            continue
        late = finish if due[v] is None else min(finish, due[v])
        for _, s, a in g.out_edges(v, data=True):
            if closed[s]:
                continue
            lag = a["lag"]
            late = min(
                late,
                {
                    "FS": ls[s] - lag,
                    "SS": ls[s] - lag + work[v],
                    "FF": lf[s] - lag,
                    "SF": lf[s] - lag + work[v],
                }[a["kind"]],
            )
        lf[v], ls[v] = late, late - work[v]
    total = [ls[v] - es[v] for v in range(n)]

    free = [finish - ef[v] for v in range(n)]
    for v in range(n):
        if closed[v]:
            free[v] = 0
            continue
        for _, s, a in g.out_edges(v, data=True):
            if closed[s]:
                continue
            slack = {
                "FS": es[s] - ef[v],
                "SS": es[s] - es[v],
                "FF": ef[s] - ef[v],
                "SF": ef[s] - es[v],
            }[a["kind"]] - a["lag"]
            free[v] = min(free[v], slack)
        free[v] = min(free[v], max(total[v], 0))

    # Display: the days of the first and of the last hour worked; a zero-duration item
    # driven past its floor is shown on the day of the hour before (its predecessor's last
    # hour), a closed one on the day it closed; late dates are never shown after the
    # project finish nor after the item's due date (closed items have no deadline).
    shift = [1 if work[v] == 0 and (es[v] > floor[v] or closed[v]) else 0 for v in range(n)]
    es_s = [(es[v] - shift[v]) // h for v in range(n)]
    ef_s = [max((ef[v] - 1) // h, es_s[v]) for v in range(n)]
    ls_s = [(ls[v] - shift[v]) // h for v in range(n)]
    lf_s = [max((lf[v] - 1) // h, ls_s[v]) for v in range(n)]
    last = max(0, *ef_s)
    bound = [last if due[v] is None or closed[v] else min(last, due[v] // h - 1) for v in range(n)]
    ls_s = [min(ls_s[v], bound[v]) for v in range(n)]
    lf_s = [min(lf_s[v], bound[v]) for v in range(n)]

    live = [v for v in range(n) if not closed[v]]
    return {
        "items": {
            net.key(v): (
                day(es_s[v]),
                day(ef_s[v]),
                day(ls_s[v]),
                day(lf_s[v]),
                days(total[v]),
                days(free[v]),
                total[v] <= 0 and not closed[v],
                days(dur[v]),
                0 if closed[v] else days(work[v]),
            )
            for v in range(n)
        },
        "finish": day(last),
        "min_float": days(min((total[v] for v in live), default=0)),
    }


def days(hours: int) -> int | float:
    """Hours as working days: an int when whole, else a float to two decimals."""
    whole, part = divmod(hours, int(HOURS_PER_DAY))
    return whole if part == 0 else round(hours / HOURS_PER_DAY, 2)


def figures(result: Plan) -> dict[str, tuple[Any, ...]]:
    return {
        key: (
            i.early_start,
            i.early_finish,
            i.late_start,
            i.late_finish,
            i.total_float,
            i.free_float,
            i.critical,
            i.duration_days,
            i.remaining_days,
        )
        for key, i in result.items.items()
    }


# ---------------------------------------------------------------------------- properties


@FAST
@given(nets(closed=True))
def test_matches_reference_implementation(net: Net) -> None:
    result = run(net)
    expected = reference(net)
    assert figures(result) == expected["items"]
    assert result.project.finish == expected["finish"]
    assert result.project.min_total_float == expected["min_float"]
    assert result.project.negative_float == (expected["min_float"] < 0)


@FAST
@given(nets(closed=True, calendars=True))
def test_matches_reference_on_any_working_calendar(net: Net) -> None:
    """Random work weeks and holidays: with every given date on a working day, the plan is
    the reference schedule in working-day numbers, mapped onto the working days."""
    day = working_day_of(net)
    result = run(net, to_date=day)
    expected = reference(net, day)
    assert figures(result) == expected["items"]
    assert result.project.finish == expected["finish"]
    assert result.project.min_total_float == expected["min_float"]


@FAST
@given(nets(deadlines=False, calendars=True))
def test_floats_without_deadlines_are_consistent(net: Net) -> None:
    result = run(net)
    for item in result.items.values():
        assert item.total_float >= 0
        assert 0 <= item.free_float <= item.total_float
        assert item.early_start <= item.late_start
        assert item.early_finish <= item.late_finish <= result.project.finish
        assert item.early_start <= item.early_finish
    assert not result.project.negative_float


@FAST
@given(nets(calendars=True, closed=True))
def test_critical_paths_are_critical_and_linked(net: Net) -> None:
    result = run(net)
    linked = {(net.key(i), net.key(j)) for i, j, _, _ in net.edges}
    threshold = Settings().planner.critical_float_days
    paths = result.project.critical_paths
    assert len({tuple(path) for path in paths}) == len(paths), "a path is listed twice"
    for path in paths:
        assert path
        for key in path:
            assert result.items[key].total_float <= threshold
            assert result.items[key].critical
        for a, b in itertools.pairwise(path):
            assert (a, b) in linked
    # every critical item lies on some listed path (when the list is not truncated)
    if not result.project.critical_paths_truncated:
        on_paths = {key for path in result.project.critical_paths for key in path}
        assert on_paths == {k for k, i in result.items.items() if i.critical}


@FAST
@given(nets(calendars=True), st.data())
def test_more_lag_never_moves_anything_earlier(net: Net, data: st.DataObject) -> None:
    if net.n < 2:
        return
    edges = list(net.edges)
    extra = data.draw(st.integers(1, 3), label="extra lag")
    if edges and data.draw(st.booleans(), label="grow an existing lag"):
        k = data.draw(st.integers(0, len(edges) - 1), label="edge")
        i, j, kind, lag = edges[k]
        edges[k] = (i, j, kind, lag + extra)
    else:
        i = data.draw(st.integers(0, net.n - 2), label="pred")
        j = data.draw(st.integers(i + 1, net.n - 1), label="succ")
        edges.append((i, j, data.draw(st.sampled_from(KINDS)), data.draw(st.integers(-2, 3))))
    before, after = run(net), run(replace(net, edges=tuple(edges)))
    for key, item in before.items.items():
        assert after.items[key].early_start >= item.early_start
        assert after.items[key].early_finish >= item.early_finish
    assert after.project.finish >= before.project.finish


def _canonical(result: Plan) -> dict[str, Any]:
    dump = result.model_dump(mode="json")
    for warning in dump["warnings"]:
        warning["keys"] = sorted(warning["keys"])  # keys are listed in snapshot order
    return dump


@FAST
@given(nets(calendars=True, closed=True), st.randoms(use_true_random=False))
def test_item_and_dependency_order_do_not_matter(net: Net, rnd: Any) -> None:
    data = snapshot_data(net)
    shuffled = {**data, "items": list(data["items"]), "dependencies": list(data["dependencies"])}
    rnd.shuffle(shuffled["items"])
    rnd.shuffle(shuffled["dependencies"])
    assert _canonical(run(net, shuffled)) == _canonical(run(net, data))


@FAST
@given(nets(calendars=True, closed=True))
def test_open_work_never_starts_before_project_start_or_status_date(net: Net) -> None:
    result = run(net)
    floor = max(START, START + dt.timedelta(days=net.as_of))
    for i in range(net.n):
        item = result.items[net.key(i)]
        if item.state != "done":
            assert item.early_start >= floor
            if net.starts[i] is not None:
                assert item.early_start >= START + dt.timedelta(days=net.starts[i])


@FAST
@given(nets(calendars=True), st.data())
def test_adding_a_deadline_never_increases_float(net: Net, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, net.n - 1), label="item")
    due = data.draw(st.integers(-2, 40), label="due")
    dues = list(net.dues)
    dues[k] = due if dues[k] is None else min(due, dues[k])
    before, after = run(net), run(replace(net, dues=tuple(dues)))
    for key, item in before.items.items():
        assert after.items[key].total_float <= item.total_float
        assert after.items[key].late_finish <= item.late_finish
        # deadlines only move late dates: the early schedule is untouched
        assert after.items[key].early_start == item.early_start
    assert after.project.min_total_float <= before.project.min_total_float


def test_a_relation_given_twice_is_one_critical_path() -> None:
    """Regression: a relation listed twice, or once on a summary and once on its leaf (as
    trackers often have it), used to list the same critical path twice."""
    data = {
        "project": {"name": "dup", "start": START.isoformat()},
        "items": [
            {"key": "P"},
            {"key": "A", "estimate_hours": 8, "parent": "P"},
            {"key": "B", "estimate_hours": 8},
            {"key": "C", "estimate_hours": 8},
        ],
        "dependencies": [
            {"predecessor": "A", "successor": "B"},
            {"predecessor": "P", "successor": "B"},
            {"predecessor": "B", "successor": "C"},
            {"predecessor": "B", "successor": "C"},
        ],
    }
    net = Net((8,), (), (None,), (None,), (0,), (False,), 0)
    assert run(net, data).project.critical_paths == [["A", "B", "C"]]


@given(st.integers(2, 12), st.integers(0, 6), st.integers(0, 6), st.randoms())
def test_a_cycle_is_reported_whole_and_in_relation_order(
    length: int, before: int, after: int, rnd: Any
) -> None:
    """A cycle with chains leading into and out of it: the reported keys are exactly the
    cycle's (none of the chains), each followed by its successor (checked with networkx)."""
    ring = [f"R{i}" for i in range(length)]
    tail_in = [f"I{i}" for i in range(before)]
    tail_out = [f"O{i}" for i in range(after)]
    edges = [(ring[i], ring[(i + 1) % length]) for i in range(length)]
    edges += list(itertools.pairwise([*tail_in, ring[0]])) if tail_in else []
    edges += list(itertools.pairwise([ring[-1], *tail_out])) if tail_out else []
    rnd.shuffle(edges)
    keys = [*ring, *tail_in, *tail_out]
    rnd.shuffle(keys)
    snapshot = Snapshot.model_validate(
        {
            "project": {"name": "cycle", "start": "2025-01-06"},
            "items": [{"key": k, "estimate_hours": 8} for k in keys],
            "dependencies": [{"predecessor": p, "successor": s} for p, s in edges],
        }
    )
    with pytest.raises(CycleError) as err:
        plan(snapshot, Settings(), dt.date(2025, 1, 6), overlays=False)
    cycle = err.value.cycle
    assert sorted(cycle) == sorted(ring)
    graph = nx.DiGraph(edges)
    assert all(graph.has_edge(a, b) for a, b in itertools.pairwise([*cycle, cycle[0]]))
