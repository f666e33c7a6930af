"""Compile a Snapshot into an activity network of integer arrays.

Conventions (documented in the README, section "How dates are computed"):

* Durations are whole working days: ``ceil(estimate_hours / hours_per_day)``; an estimate of
  0 h is a zero-duration milestone; a missing estimate uses ``planner.default_estimate_hours``
  and the item is flagged. Trackers schedule by date, so a 1 h task still occupies one day.
* Internally an item occupies working days ``[S, F)`` (exclusive finish, ``F = S + d``); the
  plan shows inclusive finish dates (the last working day of the work).
* Every relation becomes one inequality on start indices, ``S_succ >= S_pred + c``, with
  ``c = (d_pred if FS/FF) + lag - (d_succ if FF/SF)``; that keeps both passes linear.
* Closed items are fixed at their actual dates (``closed_on``, else ``due``/``start``);
  in-progress items schedule only the remaining share of their duration; open work starts
  no earlier than the project start, ``as_of`` and the item's ``start_no_earlier_than``.
* Only constraints bind: ``start_no_earlier_than``, ``deadline`` and the due date of the
  item's milestone. An open item's ``start`` and ``due`` are the tracker's current dates
  (the tracker may set and move them by itself); the plan only compares them (``dates.py``).
* Summary items (parents) are not scheduled themselves: relations on them apply to every
  leaf below them, their own constraints bind those leaves, and their dates are the span
  of their leaves. A relation between two summaries of many leaves each goes through a hub
  node (the predecessor summary's start or finish: the latest of its leaves'), which gives
  the same dates with m + n edges instead of m x n.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tracker_bridge.errors import PlanError, UnknownKeyError
from tracker_bridge.model import DependencyType, Snapshot, Status, WorkItem
from tracker_bridge.planner.calendar import WorkCalendar
from tracker_bridge.settings import Settings

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
NO_DEADLINE = np.iinfo(np.int64).max // 4

_PRED_FINISH = {DependencyType.FS, DependencyType.FF}
_SUCC_FINISH = {DependencyType.FF, DependencyType.SF}


_EPS = 1e-9  # float noise tolerated before rounding up


def duration_days(hours: float, hours_per_day: float) -> int:
    """Whole working days for an estimate: rounded up, tolerant of float noise."""
    if hours <= 0:
        return 0
    return max(1, math.ceil(hours / hours_per_day - _EPS))


def remaining_days(days: int, done_ratio: int) -> int:
    """Whole days still to schedule of an item ``done_ratio`` % done (rounded up)."""
    if done_ratio <= 0 or days <= 0:
        return days
    return math.ceil(days * (100 - done_ratio) / 100 - _EPS)


def remaining_work(days: IntArray, done_ratio: int) -> IntArray:
    """Vectorised :func:`remaining_days` for one done ratio."""
    if done_ratio <= 0:
        return days
    partial = np.ceil(days * (100 - done_ratio) / 100 - _EPS).astype(np.int64)
    result: IntArray = np.where(days > 0, partial, 0)
    return result


@dataclass
class Network:
    """The schedulable leaves of a snapshot as arrays (index i is ``keys[i]``)."""

    keys: list[str]
    calendar: WorkCalendar
    duration: IntArray  # full working days of the estimate
    work: IntArray  # days still to schedule (F - S): remaining for in-progress, actual if done
    lower_bound: IntArray  # earliest start index
    fixed: BoolArray  # closed items keep their actual dates
    fixed_start: IntArray
    deadline: IntArray  # exclusive finish bound (NO_DEADLINE if none)
    estimate_missing: BoolArray
    state: list[str]
    pred: IntArray
    succ: IntArray
    offset: IntArray  # S_succ >= S_pred + offset
    pred_finish: BoolArray  # the relation reads the predecessor's finish (FS, FF)
    succ_finish: BoolArray  # the relation bounds the successor's finish (FF, SF)
    lag: IntArray  # working days
    start_index: int
    as_of_index: int
    summaries: dict[str, list[int]] = field(default_factory=dict)  # key -> leaf indices
    # Hub nodes follow the leaves (index len(keys) + j): one per summary end that relations
    # between two summaries go through, so m x n leaves need m + n edges, not m x n. Their
    # arrays hold zero work and no constraint; ``hub_keys[j]`` is the summary it stands for.
    hub_keys: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Nodes of the network: the leaves, then the hubs."""
        return len(self.keys) + len(self.hub_keys)


def _children(items: list[WorkItem]) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {}
    for item in items:
        if item.parent is not None:
            children.setdefault(item.parent, []).append(item.key)
    return children


def _summary_leaves(children: dict[str, list[str]]) -> dict[str, list[str]]:
    """The leaves below every summary, children before parents (each list built once from
    its children's lists: linear in the output, not in depth x items)."""
    result: dict[str, list[str]] = {}
    opened: set[str] = set()
    for root in children:
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            key, expanded = stack.pop()
            if key in result or (not expanded and key in opened):
                continue
            kids = children[key]
            if not expanded:
                opened.add(key)
                stack.append((key, True))
                stack.extend((kid, False) for kid in kids if kid in children and kid not in result)
                continue
            below: list[str] = []
            for kid in kids:
                if kid in children:
                    below.extend(result.get(kid, ()))  # a parent loop (rejected by the model)
                else:
                    below.append(kid)
            result[key] = below
    return result


def compile_network(snapshot: Snapshot, settings: Settings, as_of: dt.date) -> Network:
    """Turn a snapshot into arrays the CPM passes work on."""
    items = snapshot.items
    by_key = {item.key: item for item in items}
    for dep in snapshot.dependencies:
        for own, other in ((dep.successor, dep.predecessor), (dep.predecessor, dep.successor)):
            if other not in by_key:
                raise UnknownKeyError(own, other)

    children = _children(items)
    summary_leaves = _summary_leaves(children)
    leaves = [item for item in items if item.key not in children]
    keys = [item.key for item in leaves]
    index = {key: i for i, key in enumerate(keys)}
    n = len(leaves)

    calendar = WorkCalendar(settings.calendar, snapshot.project.start)
    start_index = 0
    as_of_index = calendar.index_on_or_after(as_of)
    arrays = _LeafArrays(n, calendar, settings, as_of, max(start_index, as_of_index))
    inherited_start, inherited_due = _inherited_constraints(by_key, summary_leaves)
    milestone_due = {m.key: m.due for m in snapshot.milestones}
    for i, item in enumerate(leaves):
        arrays.add(i, item, inherited_start, inherited_due, milestone_due)

    edges, hubs = _relations(snapshot, summary_leaves, index, n, calendar)
    if hubs:
        arrays.add_hubs(len(hubs))
    work = arrays.work
    pred = np.array(edges.pred, dtype=np.int64)
    succ = np.array(edges.succ, dtype=np.int64)
    pred_finish = np.array(edges.pred_finish, dtype=bool)
    succ_finish = np.array(edges.succ_finish, dtype=bool)
    lag = np.array(edges.lag, dtype=np.int64)
    offset = work[pred] * pred_finish + lag - work[succ] * succ_finish

    return Network(
        keys=keys,
        calendar=calendar,
        duration=arrays.duration,
        work=work,
        lower_bound=arrays.lower,
        fixed=arrays.fixed,
        fixed_start=arrays.fixed_start,
        deadline=arrays.deadline,
        estimate_missing=arrays.missing,
        state=arrays.state,
        pred=pred,
        succ=succ,
        offset=offset,
        pred_finish=pred_finish,
        succ_finish=succ_finish,
        lag=lag,
        start_index=start_index,
        as_of_index=as_of_index,
        summaries={k: [index[leaf] for leaf in v] for k, v in summary_leaves.items()},
        hub_keys=[key for key, _end in hubs],
    )


def _inherited_constraints(
    by_key: dict[str, WorkItem], summary_leaves: dict[str, list[str]]
) -> tuple[dict[str, dt.date], dict[str, dt.date]]:
    """Constraints a summary passes down to its leaves: latest start-no-earlier-than and
    earliest deadline, by leaf key."""
    inherited_start: dict[str, dt.date] = {}
    inherited_due: dict[str, dt.date] = {}
    for key, below in summary_leaves.items():
        parent = by_key[key]
        for leaf in below:
            if parent.start_no_earlier_than is not None:
                prev_start = inherited_start.get(leaf)
                if prev_start is None or parent.start_no_earlier_than > prev_start:
                    inherited_start[leaf] = parent.start_no_earlier_than
            if parent.deadline is not None:
                prev_due = inherited_due.get(leaf)
                if prev_due is None or parent.deadline < prev_due:
                    inherited_due[leaf] = parent.deadline
    return inherited_start, inherited_due


class _LeafArrays:
    """The per-node arrays of a network being compiled: the leaves, then any hubs."""

    def __init__(
        self, n: int, calendar: WorkCalendar, settings: Settings, as_of: dt.date, open_floor: int
    ) -> None:
        self.calendar = calendar
        self.hours_per_day = settings.calendar.hours_per_day
        self.default_hours = settings.planner.default_estimate_hours
        self.as_of = as_of
        self.open_floor = open_floor
        self.duration = np.zeros(n, dtype=np.int64)
        self.work = np.zeros(n, dtype=np.int64)
        self.lower = np.full(n, open_floor, dtype=np.int64)
        self.fixed = np.zeros(n, dtype=bool)
        self.fixed_start = np.zeros(n, dtype=np.int64)
        self.deadline = np.full(n, NO_DEADLINE, dtype=np.int64)
        self.missing = np.zeros(n, dtype=bool)
        self.state: list[str] = []

    def add(
        self,
        i: int,
        item: WorkItem,
        inherited_start: dict[str, dt.date],
        inherited_due: dict[str, dt.date],
        milestone_due: dict[str, dt.date | None],
    ) -> None:
        """Fill leaf ``i``: its duration, then fixed dates if closed, else its constraints."""
        calendar = self.calendar
        hours = item.estimate_hours
        if hours is None:
            self.missing[i] = item.status is Status.OPEN
            hours = self.default_hours
        days = duration_days(hours, self.hours_per_day)
        if days > calendar.last_index:  # also keeps the integer arithmetic within int64
            raise PlanError(
                f"item {item.key}: an estimate of {hours:g} h ({self.hours_per_day:g} h a "
                f"working day) runs past {dt.date.max}"
            )
        self.duration[i] = days
        if item.status is Status.CLOSED:
            self._closed(i, item, days)
            return
        if item.done_ratio > 0:
            self.work[i] = remaining_days(days, item.done_ratio)
            self.state.append("in_progress")
        else:
            self.work[i] = days
            self.state.append("planned")
        start = item.start_no_earlier_than
        inherited = inherited_start.get(item.key)
        if inherited is not None and (start is None or inherited > start):
            start = inherited
        if start is not None:
            self.lower[i] = max(self.open_floor, calendar.index_on_or_after(start))
        dues = [item.deadline, inherited_due.get(item.key)]
        if item.milestone is not None:
            dues.append(milestone_due.get(item.milestone))
        known = [d for d in dues if d is not None]
        if known:
            self.deadline[i] = calendar.finish_bound(min(known))

    def _closed(self, i: int, item: WorkItem, days: int) -> None:
        """A closed item is fixed at its actual dates."""
        calendar = self.calendar
        finish_day = item.closed_on or item.due or item.start or self.as_of
        finish = calendar.finish_bound(finish_day)
        begin = calendar.index_on_or_after(item.start) if item.start else finish - days
        begin = min(begin, finish)
        self.fixed[i] = True
        self.fixed_start[i] = begin
        self.work[i] = finish - begin
        self.state.append("done")

    def add_hubs(self, extra: int) -> None:
        """Append ``extra`` hub nodes: zero work, no constraint."""
        lower, fixed = self.lower, self.fixed
        # A hub is a zero-work node that never binds by itself: its floor is below any start.
        floor = min(int(lower.min()), int(self.fixed_start[fixed].min(initial=int(lower.min()))))
        self.duration = np.append(self.duration, [0] * extra)
        self.work = np.append(self.work, [0] * extra)
        self.lower = np.append(lower, [floor] * extra)
        self.fixed = np.append(fixed, [False] * extra)
        self.fixed_start = np.append(self.fixed_start, [0] * extra)
        self.deadline = np.append(self.deadline, [NO_DEADLINE] * extra)
        self.missing = np.append(self.missing, [False] * extra)


def _relations(
    snapshot: Snapshot,
    summary_leaves: dict[str, list[str]],
    index: dict[str, int],
    n: int,
    calendar: WorkCalendar,
) -> tuple[_Edges, dict[tuple[str, bool], int]]:
    """The edges of every relation (summaries expanded to their leaves) and the hub nodes,
    numbered after the ``n`` leaves."""
    edges = _Edges()
    hubs: dict[tuple[str, bool], int] = {}  # (summary, its finish end?) -> node index
    for dep in snapshot.dependencies:
        if abs(dep.lag_days) > calendar.last_index:
            raise PlanError(
                f"dependency {dep.predecessor} -> {dep.successor}: a lag of {dep.lag_days:,} "
                f"working days runs past {dt.date.max}"
            )
        preds = summary_leaves.get(dep.predecessor) or [dep.predecessor]
        succs = summary_leaves.get(dep.successor) or [dep.successor]
        pf, sf = dep.type in _PRED_FINISH, dep.type in _SUCC_FINISH
        if len(preds) * len(succs) > len(preds) + len(succs) and not set(preds) & set(succs):
            # Many x many: through a hub node at the predecessor summary's start or finish.
            hub = hubs.get((dep.predecessor, pf))
            if hub is None:
                hub = hubs[(dep.predecessor, pf)] = n + len(hubs)
                for p_key in preds:
                    edges.add(index[p_key], hub, pf, False, 0)
            for s_key in succs:
                edges.add(hub, index[s_key], False, sf, dep.lag_days)
            continue
        for p_key in preds:
            p = index[p_key]
            for s_key in succs:
                if p_key != s_key:
                    edges.add(p, index[s_key], pf, sf, dep.lag_days)
    return edges, hubs


@dataclass
class _Edges:
    """Relations being compiled, one list per array of :class:`Network`."""

    pred: list[int] = field(default_factory=list)
    succ: list[int] = field(default_factory=list)
    pred_finish: list[bool] = field(default_factory=list)
    succ_finish: list[bool] = field(default_factory=list)
    lag: list[int] = field(default_factory=list)

    def add(self, p: int, s: int, pf: bool, sf: bool, lag: int) -> None:
        self.pred.append(p)
        self.succ.append(s)
        self.pred_finish.append(pf)
        self.succ_finish.append(sf)
        self.lag.append(lag)
