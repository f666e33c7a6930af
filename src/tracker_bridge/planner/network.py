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
  (Redmine sets and moves them by itself); the plan only compares them (``dates.py``).
* Summary items (parents) are not scheduled themselves: relations on them apply to every
  leaf below them, their own constraints bind those leaves, and their dates are the span
  of their leaves.
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


def duration_days(hours: float, hours_per_day: float) -> int:
    """Whole working days for an estimate: rounded up, tolerant of float noise."""
    if hours <= 0:
        return 0
    return max(1, math.ceil(hours / hours_per_day - 1e-9))


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
    start_index: int
    as_of_index: int
    summaries: dict[str, list[int]] = field(default_factory=dict)  # key -> leaf indices


def _children(items: list[WorkItem]) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {}
    for item in items:
        if item.parent is not None:
            children.setdefault(item.parent, []).append(item.key)
    return children


def _leaves_below(key: str, children: dict[str, list[str]]) -> list[str]:
    leaves: list[str] = []
    stack = [key]
    seen: set[str] = set()
    while stack:
        current = stack.pop()
        if current in seen:  # a parent loop; the model forbids it, stay safe anyway
            continue
        seen.add(current)
        kids = children.get(current)
        if kids:
            stack.extend(kids)
        elif current != key:
            leaves.append(current)
    return leaves


def compile_network(snapshot: Snapshot, settings: Settings, as_of: dt.date) -> Network:
    """Turn a snapshot into arrays the CPM passes work on."""
    items = snapshot.items
    by_key = {item.key: item for item in items}
    for dep in snapshot.dependencies:
        for own, other in ((dep.successor, dep.predecessor), (dep.predecessor, dep.successor)):
            if other not in by_key:
                raise UnknownKeyError(own, other)

    children = _children(items)
    summary_leaves = {key: _leaves_below(key, children) for key in children}
    leaves = [item for item in items if item.key not in children]
    keys = [item.key for item in leaves]
    index = {key: i for i, key in enumerate(keys)}
    n = len(leaves)

    calendar = WorkCalendar(settings.calendar, snapshot.project.start)
    hours_per_day = settings.calendar.hours_per_day
    default_hours = settings.planner.default_estimate_hours
    start_index = 0
    as_of_index = calendar.index_on_or_after(as_of)
    open_floor = max(start_index, as_of_index)

    # Constraints a summary passes down to its leaves.
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

    milestone_due = {m.key: m.due for m in snapshot.milestones}
    duration = np.zeros(n, dtype=np.int64)
    work = np.zeros(n, dtype=np.int64)
    lower = np.full(n, open_floor, dtype=np.int64)
    fixed = np.zeros(n, dtype=bool)
    fixed_start = np.zeros(n, dtype=np.int64)
    deadline = np.full(n, NO_DEADLINE, dtype=np.int64)
    missing = np.zeros(n, dtype=bool)
    state: list[str] = []

    for i, item in enumerate(leaves):
        hours = item.estimate_hours
        if hours is None:
            missing[i] = item.status is Status.OPEN
            hours = default_hours
        days = duration_days(hours, hours_per_day)
        if days > calendar.last_index:  # also keeps the integer arithmetic within int64
            raise PlanError(
                f"item {item.key}: an estimate of {hours:g} h ({hours_per_day:g} h a working "
                f"day) runs past {dt.date.max}"
            )
        duration[i] = days
        if item.status is Status.CLOSED:
            finish_day = item.closed_on or item.due or item.start or as_of
            finish = calendar.finish_bound(finish_day)
            begin = calendar.index_on_or_after(item.start) if item.start else finish - days
            begin = min(begin, finish)
            fixed[i] = True
            fixed_start[i] = begin
            work[i] = finish - begin
            state.append("done")
            continue
        if item.done_ratio > 0:
            work[i] = math.ceil(days * (100 - item.done_ratio) / 100 - 1e-9) if days else 0
            state.append("in_progress")
        else:
            work[i] = days
            state.append("planned")
        start = item.start_no_earlier_than
        inherited = inherited_start.get(item.key)
        if inherited is not None and (start is None or inherited > start):
            start = inherited
        if start is not None:
            lower[i] = max(open_floor, calendar.index_on_or_after(start))
        dues = [item.deadline, inherited_due.get(item.key)]
        if item.milestone is not None:
            dues.append(milestone_due.get(item.milestone))
        known = [d for d in dues if d is not None]
        if known:
            deadline[i] = calendar.finish_bound(min(known))

    pred_list: list[int] = []
    succ_list: list[int] = []
    offset_list: list[int] = []
    for dep in snapshot.dependencies:
        if abs(dep.lag_days) > calendar.last_index:
            raise PlanError(
                f"dependency {dep.predecessor} -> {dep.successor}: a lag of {dep.lag_days:,} "
                f"working days runs past {dt.date.max}"
            )
        preds = summary_leaves.get(dep.predecessor) or [dep.predecessor]
        succs = summary_leaves.get(dep.successor) or [dep.successor]
        for p_key in preds:
            p = index[p_key]
            head = int(work[p]) if dep.type in _PRED_FINISH else 0
            for s_key in succs:
                if p_key == s_key:
                    continue
                s = index[s_key]
                tail = int(work[s]) if dep.type in _SUCC_FINISH else 0
                pred_list.append(p)
                succ_list.append(s)
                offset_list.append(head + dep.lag_days - tail)

    return Network(
        keys=keys,
        calendar=calendar,
        duration=duration,
        work=work,
        lower_bound=lower,
        fixed=fixed,
        fixed_start=fixed_start,
        deadline=deadline,
        estimate_missing=missing,
        state=state,
        pred=np.array(pred_list, dtype=np.int64),
        succ=np.array(succ_list, dtype=np.int64),
        offset=np.array(offset_list, dtype=np.int64),
        start_index=start_index,
        as_of_index=as_of_index,
        summaries={k: [index[leaf] for leaf in v] for k, v in summary_leaves.items()},
    )
