"""``plan()``: snapshot + settings + status date -> Plan (the schedule overlay)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracker_bridge.errors import PlanError
from tracker_bridge.gcpause import paused_gc
from tracker_bridge.model import (
    Baseline,
    ItemSchedule,
    MilestoneForecast,
    Plan,
    PlanWarning,
    ProjectSchedule,
    Snapshot,
)
from tracker_bridge.planner.cpm import Schedule, run_passes
from tracker_bridge.planner.dates import compare_due_dates
from tracker_bridge.planner.network import (
    NO_DEADLINE,
    BoolArray,
    IntArray,
    Network,
    compile_network,
    in_days,
)
from tracker_bridge.planner.overlays import OverlayContext, stages
from tracker_bridge.settings import Settings

#: Beyond these an input is probably a typo (hours for minutes, days for hours...): it is
#: planned, with a warning that names the items.
IMPLAUSIBLE_ESTIMATE_HOURS = 10_000
IMPLAUSIBLE_LAG_DAYS = 1_000

# The fields _leaf_schedules fills, in declaration order; the rest start empty.
_LEAF_FIELDS = (
    "key",
    "early_start",
    "early_finish",
    "late_start",
    "late_finish",
    "total_float",
    "free_float",
    "critical",
    "duration_days",
    "remaining_days",
    "state",
    "estimate_missing",
    "deadline",
)
_EMPTY_FIELDS = {
    name: None for name in ItemSchedule.model_fields if name not in _LEAF_FIELDS
}  # risk_reasons becomes a fresh list per item


def trusted_schedule(values: dict[str, Any]) -> ItemSchedule:
    """The ItemSchedule of ``values`` (every field, valid, in declaration order), built as
    ``model_construct`` builds it but without its loop over the fields: at 100,000 items
    that loop took longer than the critical-path computation.

    Every item shares one set of the names of the fields set: it holds them all, so
    assigning a field never changes it (a set per item took 2 kB).
    """
    item = _new_schedule(ItemSchedule)
    _set_attribute(item, "__dict__", values)
    _set_attribute(item, "__pydantic_fields_set__", _ALL_SET)
    _set_attribute(item, "__pydantic_extra__", None)
    _set_attribute(item, "__pydantic_private__", None)
    return item


_new_schedule = ItemSchedule.__new__
_ALL_SET = set(ItemSchedule.model_fields)
_set_attribute = object.__setattr__


def critical_paths(
    net: Network, sched: Schedule, critical: BoolArray, limit: int
) -> tuple[list[list[str]], bool]:
    """Chains of critical items linked by driving relations.

    A relation p -> s is driving when it sets s's early start (no gap). Without deadlines
    such a relation between two critical items is also tight in the backward pass, so the
    chains are the classic critical paths; with deadlines (negative float) they stay whole
    chains instead of breaking wherever the float changes. Chains run from a critical item
    with no driving critical predecessor to one with no driving critical successor. At most
    ``limit`` chains are listed; the flag says whether more exist.
    """
    pred, succ, offset = net.pred, net.succ, net.offset
    es = sched.early_start
    tight = critical[pred] & critical[succ] & (es[succ] == es[pred] + offset)
    names = [*net.keys, *net.hub_keys]
    nexts: dict[int, list[int]] = {}
    has_incoming: set[int] = set()
    # A relation given twice (or on a summary and on its leaf) is one link, not two paths.
    for p, s in set(zip(pred[tight].tolist(), succ[tight].tolist(), strict=True)):
        nexts.setdefault(p, []).append(s)
        has_incoming.add(s)
    for successors in nexts.values():
        successors.sort(key=lambda i: (int(es[i]), names[i]))
    leaves = len(net.keys)  # hub nodes (after the leaves) link chains but are not listed
    heads = [int(i) for i in np.flatnonzero(critical[:leaves]) if int(i) not in has_incoming]
    heads.sort(key=lambda i: (int(es[i]), net.keys[i]))

    found: list[list[int]] = []
    truncated = False
    for head in heads:
        stack: list[list[int]] = [[head]]
        while stack and not truncated:
            chain = stack.pop()
            following = nexts.get(chain[-1])
            if not following:
                if len(found) == limit:
                    truncated = True
                    break
                found.append(chain)
                continue
            stack.extend([*chain, nxt] for nxt in reversed(following))
        if truncated:
            break
    # The chains that end latest first (stable): with hours, a critical chain can end in an
    # item that finishes within a day before the one that drives the finish.
    ef = sched.early_finish
    found.sort(key=lambda chain: -int(ef[chain[-1]]))
    return [[net.keys[i] for i in chain if i < leaves] for chain in found], truncated


def milestone_shift(net: Network, early_start: IntArray) -> IntArray:
    """Ticks to show a zero-duration item earlier than its instant.

    One when a predecessor drives it (it is shown on the day the predecessor's last tick is
    worked) and when it is closed (it is shown on the day it closed, the day before its
    exclusive finish); at its start floor it is shown on the day it may start.
    """
    moved = (early_start > net.lower_bound) | net.fixed
    shift: IntArray = ((net.work == 0) & moved).astype(np.int64)
    return shift


def _named(keys: list[str]) -> str:
    return ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def _implausible(snapshot: Snapshot) -> list[PlanWarning]:
    """Warnings for estimates and lags that are possible but hardly meant."""
    warnings: list[PlanWarning] = []
    big = [
        i.key
        for i in snapshot.items
        if i.estimate_hours is not None and i.estimate_hours > IMPLAUSIBLE_ESTIMATE_HOURS
    ]
    if big:
        warnings.append(
            PlanWarning(
                code="estimate.implausible",
                message=f"estimate over {IMPLAUSIBLE_ESTIMATE_HOURS:,} h on {_named(big)}; "
                "planned as given (a typo?)",
                keys=big,
            )
        )
    long = [d for d in snapshot.dependencies if abs(d.lag_days) > IMPLAUSIBLE_LAG_DAYS]
    if long:
        warnings.append(
            PlanWarning(
                code="lag.implausible",
                message=f"lag over {IMPLAUSIBLE_LAG_DAYS:,} working days on "
                + _named([f"{d.predecessor} -> {d.successor}" for d in long])
                + "; planned as given (a typo?)",
                keys=sorted({d.successor for d in long}),
            )
        )
    return warnings


def plan(
    snapshot: Snapshot,
    settings: Settings,
    as_of: dt.date,
    *,
    baseline: Baseline | None = None,
    overlays: bool = True,
) -> Plan:
    """Critical-path schedule of the snapshot at status date ``as_of``, with overlays.

    ``overlays=False`` computes the schedule only (no risk, budget or baseline stages).
    """
    with paused_gc():
        return _plan(snapshot, settings, as_of, baseline, overlays)


def _plan(
    snapshot: Snapshot,
    settings: Settings,
    as_of: dt.date,
    baseline: Baseline | None,
    overlays: bool,
) -> Plan:
    net = compile_network(snapshot, settings, as_of)
    sched = run_passes(net)
    cal = net.calendar
    per_day = net.ticks_per_day
    threshold = settings.planner.critical_float_days * per_day
    critical = (sched.total_float <= threshold) & ~net.fixed
    n = len(net.keys)  # the leaves; hub nodes (after them) are not shown
    display, finish_idx = _display_indices(net, sched, as_of)
    items = _leaf_schedules(net, sched, critical, display)
    _add_summaries(items, net, sched, critical, display)

    paths, truncated = critical_paths(net, sched, critical, settings.planner.max_critical_paths)
    live_float = sched.total_float[:n][~net.fixed[:n]]
    min_float = in_days(live_float.min(keepdims=True), per_day)[0] if live_float.size else 0
    start = snapshot.project.start
    finish = cal.date(finish_idx) if n else start
    result = Plan(
        project=ProjectSchedule(
            name=snapshot.project.name,
            start=start,
            finish=finish,
            as_of=as_of,
            critical_paths=paths,
            critical_paths_truncated=truncated,
            negative_float=min_float < 0,
            min_total_float=min_float,
        ),
        items=items,
        milestones=_milestones(snapshot, net, display.early_finish),
        warnings=_schedule_warnings(snapshot, settings, net, sched, items, min_float),
    )
    if overlays:
        context = OverlayContext(result, snapshot, net, sched, settings, as_of, baseline)
        for stage in stages():
            stage(context)
    return result


def _display_indices(net: Network, sched: Schedule, as_of: dt.date) -> tuple[_Display, int]:
    """The working-day indices of the dates shown per leaf, and of the project's finish.

    Inclusive display dates: the day of the first tick worked (S) and of the last (F - 1);
    a zero-duration item shows one day.
    """
    n = len(net.keys)
    per_day = net.ticks_per_day
    shift = milestone_shift(net, sched.early_start)[:n]
    es_idx = (sched.early_start[:n] - shift) // per_day
    ls_idx = (sched.late_start[:n] - shift) // per_day
    ef_idx = np.maximum((sched.early_finish[:n] - 1) // per_day, es_idx)
    lf_idx = np.maximum((sched.late_finish[:n] - 1) // per_day, ls_idx)
    # The project finishes on the last day any item is shown on. Late dates never fall after
    # it, nor after the item's own deadline (both inclusive). This only ever moves
    # zero-duration items: one sitting at its start floor is shown at the start of its day,
    # so without the bound its late date could land one day past the finish or deadline.
    finish_idx = max(int(ef_idx.max()), 0) if n else 0
    last_allowed = np.minimum(net.deadline[:n] // per_day - 1, finish_idx)
    ls_idx = np.minimum(ls_idx, last_allowed)
    lf_idx = np.minimum(lf_idx, last_allowed)
    beyond = np.flatnonzero(ef_idx > net.calendar.last_index)
    if beyond.size:
        raise PlanError(
            f"item {net.keys[int(beyond[0])]} would finish after {dt.date.max}, the last date "
            f"there is (status date {as_of}); check its estimate, the lags before it and the "
            "status date"
        )
    return _Display(es_idx, ef_idx, ls_idx, lf_idx), finish_idx


def _leaf_schedules(
    net: Network, sched: Schedule, critical: BoolArray, display: _Display
) -> dict[str, ItemSchedule]:
    """The schedule of every leaf item, its overlay fields still empty."""
    n = len(net.keys)
    cal = net.calendar
    all_idx = np.concatenate(
        [display.early_start, display.early_finish, display.late_start, display.late_finish]
    )
    all_dates = cal.dates(all_idx)
    es_d, ef_d = all_dates[:n], all_dates[n : 2 * n]
    ls_d, lf_d = all_dates[2 * n : 3 * n], all_dates[3 * n :]
    per_day = net.ticks_per_day
    deadline_dates = [
        cal.date(int(d) // per_day - 1) if d != NO_DEADLINE else None
        for d in net.deadline[:n].tolist()
    ]
    work_list = in_days(net.work[:n], per_day)
    rows = zip(
        net.keys,
        es_d,
        ef_d,
        ls_d,
        lf_d,
        in_days(sched.total_float[:n], per_day),
        in_days(sched.free_float[:n], per_day),
        critical[:n].tolist(),
        in_days(net.duration[:n], per_day),
        [0 if state == "done" else w for state, w in zip(net.state, work_list, strict=False)],
        net.state,
        net.estimate_missing[:n].tolist(),
        deadline_dates,
        strict=False,
    )
    items: dict[str, ItemSchedule] = {}
    for row in rows:
        values = dict(zip(_LEAF_FIELDS, row, strict=True))
        values.update(_EMPTY_FIELDS)
        values["risk_reasons"] = []
        items[row[0]] = trusted_schedule(values)
    return items


def _schedule_warnings(
    snapshot: Snapshot,
    settings: Settings,
    net: Network,
    sched: Schedule,
    items: dict[str, ItemSchedule],
    min_float: float,
) -> list[PlanWarning]:
    """Implausible inputs, missing estimates, due dates, deadlines that cannot be met."""
    n = len(net.keys)
    warnings = _implausible(snapshot)
    missing_keys = [
        k for k, m in zip(net.keys, net.estimate_missing[:n].tolist(), strict=True) if m
    ]
    if missing_keys:
        warnings.append(
            PlanWarning(
                code="estimate.missing",
                message=(
                    f"{len(missing_keys)} open item(s) have no estimate; planned with "
                    f"{settings.planner.default_estimate_hours:g} h each"
                ),
                keys=missing_keys,
            )
        )
    warnings.extend(compare_due_dates(items, snapshot, net.calendar))
    late_keys = [k for k, f in zip(net.keys, sched.total_float[:n].tolist(), strict=True) if f < 0]
    if late_keys:
        warnings.append(
            PlanWarning(
                code="float.negative",
                message=(
                    f"{len(late_keys)} item(s) cannot meet their deadline (negative total "
                    f"float, worst {min_float} working days)"
                ),
                keys=late_keys,
            )
        )
    return warnings


@dataclass
class _Display:
    """Inclusive working-day indices of the dates the plan shows, per leaf."""

    early_start: IntArray
    early_finish: IntArray
    late_start: IntArray
    late_finish: IntArray


def _add_summaries(
    items: dict[str, ItemSchedule],
    net: Network,
    sched: Schedule,
    critical: BoolArray,
    display: _Display,
) -> None:
    """A summary item spans its leaves (as shown); its float is the smallest of theirs.

    All summaries at once: their leaf lists laid end to end, one ``reduceat`` per figure.
    """
    keys = [key for key, leaves in net.summaries.items() if leaves]
    if not keys:
        return
    lists = [net.summaries[key] for key in keys]
    idx = np.fromiter((i for leaves in lists for i in leaves), dtype=np.int64)
    cuts = np.cumsum([0, *(len(leaves) for leaves in lists[:-1])])

    live = ~net.fixed[idx]
    big = np.iinfo(np.int64).max
    float_live = np.minimum.reduceat(np.where(live, sched.total_float[idx], big), cuts)
    any_live = np.logical_or.reduceat(live, cuts)
    remaining = np.add.reduceat(np.where(live, net.work[idx], 0), cuts)
    shown = net.calendar.dates(
        np.concatenate(
            [
                np.minimum.reduceat(display.early_start[idx], cuts),
                np.maximum.reduceat(display.early_finish[idx], cuts),
                np.minimum.reduceat(display.late_start[idx], cuts),
                np.maximum.reduceat(display.late_finish[idx], cuts),
            ]
        )
    )
    m = len(keys)
    per_day = net.ticks_per_day
    span = np.maximum.reduceat(sched.early_finish[idx], cuts)
    span -= np.minimum.reduceat(sched.early_start[idx], cuts)
    free = in_days(np.minimum.reduceat(sched.free_float[idx], cuts), per_day)
    total = in_days(np.where(any_live, float_live, 0), per_day)
    spans = in_days(span, per_day)
    left = in_days(np.where(any_live, remaining, 0), per_day)
    crit = np.logical_or.reduceat(critical[idx], cuts).tolist()
    for j, key in enumerate(keys):
        items[key] = ItemSchedule(
            key=key,
            early_start=shown[j],
            early_finish=shown[m + j],
            late_start=shown[2 * m + j],
            late_finish=shown[3 * m + j],
            total_float=total[j],
            free_float=free[j],
            critical=crit[j],
            duration_days=spans[j],
            remaining_days=left[j],
            state="summary",
        )


def _milestones(
    snapshot: Snapshot, net: Network, finish_shown: IntArray
) -> list[MilestoneForecast]:
    """Forecast of each milestone: the last day any of its items is shown finishing on."""
    cal = net.calendar
    index = {key: i for i, key in enumerate(net.keys)}
    members: dict[str, list[int]] = {}
    for item in snapshot.items:
        if item.milestone is not None and item.key in index:
            members.setdefault(item.milestone, []).append(index[item.key])
    result = []
    for milestone in snapshot.milestones:
        idx = members.get(milestone.key, [])
        finish_idx = max(int(finish_shown[idx].max()), 0) if idx else None
        finish = cal.date(finish_idx) if finish_idx is not None else None
        slack = None
        if finish_idx is not None and milestone.due is not None:
            slack = cal.finish_bound(milestone.due) - 1 - finish_idx
        result.append(
            MilestoneForecast(
                key=milestone.key,
                name=milestone.name,
                due=milestone.due,
                finish=finish,
                total_float=slack,
                items=len(idx),
            )
        )
    return result
