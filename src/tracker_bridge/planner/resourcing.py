"""The levelling overlay: people's capacity from the settings, levelled dates, critical chain.

Rules (the README, section "Resource levelling", explains them to a project manager):

* A person works on one item at a time, for their ``hours_per_day`` on each of their working
  days; personal days off have no capacity. A part-timer (fewer hours than
  ``calendar.hours_per_day``) takes proportionally more working days for the same estimate.
* An item assigned to a pool (a group or role) takes one member for its duration; the pool
  has as many members per day as are not off. Unassigned open work goes to the pool named by
  ``resources.unassigned``, or is not levelled.
* Closed items keep their dates and take no capacity; in-progress items keep their CPM start
  and take their person's capacity first. Nothing starts before its CPM early start and every
  relation (FS, SS, FF, SF with lags) still holds.
* The CPM figures of every item are unchanged; the levelled dates and the delay are added in
  ``plan.overlays.levelling``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from tracker_bridge.model import Snapshot
from tracker_bridge.plan_overlays import (
    ChainLink,
    LevelledItem,
    LevelledMilestone,
    LevellingOverlay,
    ResourceLoad,
)
from tracker_bridge.planner.cpm import Schedule, run_passes
from tracker_bridge.planner.levelling import IntArray, Problem, Result, level
from tracker_bridge.planner.network import Network, compile_network
from tracker_bridge.planner.overlays import OverlayContext
from tracker_bridge.settings import Settings


def _resource_of(assignee: str | None, settings: Settings) -> str | None:
    return settings.resources.unassigned if assignee is None else assignee


def _hours(name: str, settings: Settings) -> float:
    person = settings.resources.people.get(name)
    default = settings.calendar.hours_per_day
    if person is None or person.hours_per_day is None or name in settings.resources.pools:
        return default
    return person.hours_per_day


def _capacity(names: list[str], net: Network, settings: Settings) -> IntArray:
    """Units per working day: 1 per person, members for a pool, 0 on personal days off."""
    res = settings.resources
    cal = net.calendar
    off: dict[str, set[int]] = {}
    for person, spec in res.people.items():
        # a day off that is a working day: the next day starts one index later
        days = {
            cal.index_on_or_after(d)
            for d in spec.days_off
            if cal.finish_bound(d) > cal.index_on_or_after(d)
        }
        off[person] = {d for d in days if d >= 0}
    last = max((max(days) for days in off.values() if days), default=-1)
    cap = np.zeros((len(names), last + 2), dtype=np.int64)
    for r, name in enumerate(names):
        members = res.pools[name].members if name in res.pools else [name]
        cap[r, :] = len(members)
        for member in members:
            for day in off.get(member, ()):
                cap[r, day] -= 1
    return cap


def _stretched(snapshot: Snapshot, settings: Settings, as_of: dt.date) -> Network | None:
    """The network with part-timers' items lengthened, or None when nobody is part-time."""
    full = settings.calendar.hours_per_day
    updates = {}
    for item in snapshot.items:
        if item.assignee is None or item.estimate_hours is None:
            continue
        hours = _hours(item.assignee, settings)
        if hours < full:
            updates[item.key] = item.model_copy(
                update={"estimate_hours": item.estimate_hours * full / hours}
            )
    if not updates:
        return None
    items = [updates.get(item.key, item) for item in snapshot.items]
    return compile_network(snapshot.model_copy(update={"items": items}), settings, as_of)


def build_problem(
    ctx: OverlayContext,
) -> tuple[Problem, list[str], list[int | None], Schedule]:
    """The levelling problem of a plan: resources, their leaves and the CPM it starts from."""
    net, sched, settings = ctx.net, ctx.schedule, ctx.settings
    by_key = {item.key: item for item in ctx.snapshot.items}
    stretched = _stretched(ctx.snapshot, settings, ctx.as_of)
    work_net, work_sched = net, sched
    if stretched is not None:
        work_net, work_sched = stretched, run_passes(stretched)
    names: list[str] = []
    where: dict[str, int] = {}
    resource: list[int | None] = []
    for i, key in enumerate(net.keys):
        name = _resource_of(by_key[key].assignee, settings)
        if name is None or net.fixed[i] or net.work[i] == 0:
            resource.append(None)
            continue
        if name not in where:
            where[name] = len(names)
            names.append(name)
        resource.append(where[name])
    n = len(net.keys)
    demand = np.zeros((n, len(names)), dtype=np.int64)
    for i, r in enumerate(resource):
        if r is not None:
            demand[i, r] = 1
    in_progress = np.array([s == "in_progress" for s in net.state], dtype=bool)
    release = np.maximum(sched.early_start, work_sched.early_start)
    release = np.where(net.fixed, net.fixed_start, release)
    problem = Problem(
        duration=work_net.work.copy(),
        release=release,
        pred=work_net.pred,
        succ=work_net.succ,
        offset=work_net.offset,
        demand=demand,
        capacity=_capacity(names, net, settings),
        rank=np.argsort(np.argsort(np.array(net.keys, dtype=object), kind="stable")),
        fixed=net.fixed | in_progress,
    )
    return problem, names, resource, sched


def critical_chain(p: Problem, result: Result, resource: list[int | None]) -> list[tuple[int, str]]:
    """Walk back from the last finish: what set each start (a relation or the resource)."""
    start, finish = result.start, result.finish
    if not len(start):
        return []
    into: dict[int, list[tuple[int, int]]] = {}
    for a, b, c in zip(p.pred.tolist(), p.succ.tolist(), p.offset.tolist(), strict=True):
        into.setdefault(b, []).append((a, c))
    users: dict[int, list[int]] = {}
    for i, r in enumerate(resource):
        if r is not None:
            users.setdefault(r, []).append(i)
    current = int(np.argmax(finish))
    chain: list[tuple[int, str]] = []
    seen: set[int] = set()
    while current not in seen:
        seen.add(current)
        s = int(start[current])
        tight = [a for a, c in into.get(current, []) if int(start[a]) + c == s]
        r = resource[current]
        busy = (
            [b for b in users.get(r, []) if int(finish[b]) == s and b != current]
            if r is not None
            else []
        )
        if s > int(p.release[current]) and busy and not tight:
            chain.append((current, "resource"))
            current = min(busy, key=lambda b: int(start[b]))
        elif tight:
            chain.append((current, "relation"))
            current = min(tight, key=lambda a: int(start[a]))
        else:
            chain.append((current, "start"))
            break
    chain.reverse()
    return chain


def _overallocated(p: Problem, start: IntArray) -> list[int]:
    """Working days per resource on which the given (CPM) schedule asks too much."""
    horizon = int((start + p.duration).max(initial=0)) + 1
    cap = p.capacity
    profile = cap[:, np.minimum(np.arange(horizon), cap.shape[1] - 1)]
    load = np.zeros((cap.shape[0], horizon + 1), dtype=np.int64)
    for r in range(cap.shape[0]):
        idx = np.flatnonzero(p.demand[:, r])
        np.add.at(load[r], np.maximum(start[idx], 0), 1)
        np.add.at(load[r], np.maximum(start[idx] + p.duration[idx], 0), -1)
    used = np.cumsum(load, axis=1)[:, :horizon]
    over: list[int] = (used > profile).sum(axis=1).tolist()
    return over


def levelling_stage(ctx: OverlayContext) -> None:
    """Fill ``plan.overlays.levelling`` when ``planner.level`` is on."""
    if not ctx.settings.planner.level:
        return
    p, names, resource, sched = build_problem(ctx)
    result = level(p, schedules=ctx.settings.resources.schedules)
    net, cal = ctx.net, ctx.net.calendar
    keys = net.keys
    shown_finish = np.maximum(result.finish - 1, result.start)
    dates = cal.dates(np.concatenate([result.start, shown_finish]))
    n = len(keys)
    delay = (result.start - sched.early_start).tolist()
    items: dict[str, LevelledItem] = {}
    for i, key in enumerate(keys):
        r = resource[i]
        items[key] = LevelledItem(
            start=dates[i],
            finish=dates[n + i],
            delay_days=max(delay[i], 0),
            resource=names[r] if r is not None else None,
        )
    index = {key: i for i, key in enumerate(keys)}
    milestones = []
    for m in ctx.plan.milestones:
        members = [
            index[it.key] for it in ctx.snapshot.items if it.milestone == m.key and it.key in index
        ]
        levelled = cal.date(int(shown_finish[members].max())) if members else None
        milestones.append(
            LevelledMilestone(key=m.key, name=m.name, finish=m.finish, levelled_finish=levelled)
        )
    chain = [
        ChainLink(
            key=keys[i],
            resource=names[r] if (r := resource[i]) is not None else None,
            driven_by=why,
        )
        for i, why in critical_chain(p, result, resource)
    ]
    people = list(dict.fromkeys(c.resource for c in chain if c.resource is not None))
    over = _overallocated(p, sched.early_start)
    finish = cal.date(int(shown_finish.max())) if n else ctx.plan.project.finish
    ctx.plan.overlays.levelling = LevellingOverlay(
        finish=finish,
        unlevelled_finish=ctx.plan.project.finish,
        delay_days=cal.working_days_between(ctx.plan.project.finish, finish),
        schedules=result.schedules,
        items=items,
        milestones=milestones,
        critical_chain=chain,
        critical_chain_people=people,
        resources={
            name: ResourceLoad(
                hours_per_day=_hours(name, ctx.settings),
                units=int(p.capacity[r, -1]),
                items=int(p.demand[:, r].sum()),
                overallocated_days_unlevelled=over[r],
            )
            for r, name in enumerate(names)
        },
    )
