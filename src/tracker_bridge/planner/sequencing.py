"""The levelled schedule as a network, so the Monte Carlo can simulate it (``risk.schedule``).

Levelling decides, per person, the order in which they do their issues. Re-levelling every
trial (hundreds of serial-scheme passes with justification) would cost seconds per trial,
so the simulation keeps the order the deterministic levelled schedule chose and adds it to
the network as finish-to-start relations: each person's consecutive issues become one
``FS`` edge (a pool of ``k`` members is split into ``k`` sequences, each a member's run of
issues). The vectorised CPM passes of the simulation then run unchanged on the richer
network, so a trial costs what a CPM trial costs.

Exactness without spread: with every duration at its estimate the network's early starts
are the levelled starts. Where the levelled schedule left a gap the relations do not
explain (a personal day off), the gap is kept as a lag on the person's relation into the
issue, or, for a person's first issue, as its earliest start.

A relation with a negative offset (FF, SF, a lead) may let an issue start before its
predecessor; a person's order that runs against such a relation would close a loop, which
the passes cannot take. Those few person-order relations are left out (the issue keeps its
levelled start as its earliest start instead): the order is that of a topological order of
the relations that follows the levelled starts.

Limits (the README says them too):

* the order per person is fixed: in a trial where an issue runs long the person does not
  switch to another issue, as a re-levelling might (the forecast is of the plan as
  levelled, the way a team follows it);
* a gap kept for a day off moves with the work before it instead of staying on the day;
* an issue in progress keeps the relations into it (as in the CPM simulation), while the
  levelling pins its start.
"""

from __future__ import annotations

import dataclasses
import heapq

import numpy as np

from tracker_bridge.planner.levelling import IntArray, Problem, Result
from tracker_bridge.planner.network import Network


def resource_sequences(
    p: Problem, result: Result, resource: list[int | None]
) -> list[tuple[int, int]]:
    """Pairs (earlier, next) of issues one member of a resource does back to back.

    A resource of ``k`` units is split into ``k`` sequences by the usual interval
    partitioning: issues by start; each goes to the unit that came free last on or before
    its start (none free: the one free first, which only issues pinned in progress need).
    No pair leads into a pinned issue: the levelling never moves those.
    """
    start, finish = result.start.tolist(), result.finish.tolist()
    members: dict[int, list[int]] = {}
    for i, r in enumerate(resource):
        if r is not None:
            members.setdefault(r, []).append(i)
    pairs: list[tuple[int, int]] = []
    for r, issues in members.items():
        units = max(int(p.capacity[r].max()), 1)
        last: list[int | None] = [None] * units
        until = [int(min(start, default=0))] * units
        for i in sorted(issues, key=lambda i: (start[i], finish[i], i)):
            free = [u for u in range(units) if until[u] <= start[i]]
            u = (
                max(free, key=lambda u: (until[u], -u))
                if free
                else min(range(units), key=until.__getitem__)
            )
            before = last[u]
            if before is not None and not p.fixed[i]:
                pairs.append((before, i))
            last[u] = i
            until[u] = max(until[u], finish[i])
    return pairs


def sequenced_network(
    net: Network, p: Problem, result: Result, resource: list[int | None]
) -> Network:
    """``net`` (the levelled durations') with each person's order of work as FS relations;
    without spread its early starts are the levelled starts of every open issue."""
    nodes, position = _topological_by_start(p, result.start)
    pairs = [
        (a, b) for a, b in resource_sequences(p, result, resource) if position[a] < position[b]
    ]
    before = np.array([a for a, _ in pairs], dtype=np.int64)
    after = np.array([b for _, b in pairs], dtype=np.int64)
    lag, lower = _kept_gaps(net, p, result, nodes, before, after)
    return _with_edges(net, before, after, lag, lower)


def _kept_gaps(
    net: Network, p: Problem, result: Result, nodes: list[int], before: IntArray, after: IntArray
) -> tuple[IntArray, IntArray]:
    """Lags of the person-order relations and earliest starts that keep the gaps the
    relations do not explain (a day off), found by one forward pass in topological order:
    once everything before an issue starts on its levelled day, so does the issue."""
    # The levelling counts whole days, the network ticks: a levelled day starts at its
    # first tick.
    start = (result.start * net.ticks_per_day).tolist()
    lower = net.lower_bound.copy()
    lag = np.zeros(len(before), dtype=np.int64)
    incoming: list[list[tuple[int, int]]] = [[] for _ in start]
    for a, b, c in zip(net.pred.tolist(), net.succ.tolist(), net.offset.tolist(), strict=True):
        incoming[b].append((a, c))
    into = {b: e for e, b in enumerate(after.tolist())}
    prior, work = before.tolist(), net.work.tolist()
    pinned, fixed, fixed_start = p.fixed.tolist(), net.fixed.tolist(), net.fixed_start.tolist()
    early = [0] * len(start)
    for i in nodes:
        if fixed[i]:  # as in the CPM: closed work keeps its dates
            early[i] = fixed_start[i]
            continue
        es = max([int(lower[i]), *(early[a] + c for a, c in incoming[i])])
        e = into.get(i)
        if e is not None:
            es = max(es, early[prior[e]] + work[prior[e]])
        if es < start[i] and not pinned[i]:
            if e is None:
                lower[i] = start[i]
            else:
                lag[e] = start[i] - early[prior[e]] - work[prior[e]]
            es = start[i]
        early[i] = es
    return lag, lower


def _topological_by_start(p: Problem, start: IntArray) -> tuple[list[int], list[int]]:
    """A topological order of the relations that takes, of the nodes ready, the one
    starting first (Kahn's algorithm with a heap): the nodes in order and their positions."""
    n = len(start)
    outgoing: list[list[int]] = [[] for _ in range(n)]
    waiting = [0] * n
    for a, b in zip(p.pred.tolist(), p.succ.tolist(), strict=True):
        outgoing[a].append(b)
        waiting[b] += 1
    key = start.tolist()
    ready = [(key[i], i) for i in range(n) if waiting[i] == 0]
    heapq.heapify(ready)
    nodes: list[int] = []
    while ready:
        _, i = heapq.heappop(ready)
        nodes.append(i)
        for j in outgoing[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, (key[j], j))
    position = [0] * n
    for k, i in enumerate(nodes):
        position[i] = k
    return nodes, position


def _with_edges(
    net: Network, before: IntArray, after: IntArray, lag: IntArray, lower: IntArray
) -> Network:
    """A copy of ``net`` with FS relations ``before -> after`` (lags in working days)."""
    finish = np.ones(len(before), dtype=bool)
    return dataclasses.replace(
        net,
        pred=np.concatenate([net.pred, before]),
        succ=np.concatenate([net.succ, after]),
        offset=np.concatenate([net.offset, net.work[before] + lag]),
        pred_finish=np.concatenate([net.pred_finish, finish]),
        succ_finish=np.concatenate([net.succ_finish, ~finish]),
        lag=np.concatenate([net.lag, lag]),
        lower_bound=lower,
    )
