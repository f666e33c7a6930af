"""Forward and backward passes of the critical path method on a compiled network.

Both passes are longest-path relaxations over a topological levelling of the network
(level = 1 + the highest level of any predecessor). Edges are grouped by level once, so each
pass is one vectorised ``maximum.at``/``minimum.at`` per level instead of a Python loop per
edge: the cost grows with the depth of the network, not with the number of items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tracker_bridge.errors import CycleError
from tracker_bridge.planner.network import Network

IntArray = npt.NDArray[np.int64]


@dataclass
class Levels:
    """A topological levelling of the nodes and the edges grouped by it."""

    level: IntArray
    depth: int
    # edges sorted by successor level (forward pass) and by predecessor level (backward pass)
    fwd_edges: IntArray
    fwd_bounds: IntArray
    bwd_edges: IntArray
    bwd_bounds: IntArray


@dataclass
class Schedule:
    """Early/late starts and finishes (exclusive) and floats, in ticks of the network."""

    early_start: IntArray
    early_finish: IntArray
    late_start: IntArray
    late_finish: IntArray
    total_float: IntArray
    free_float: IntArray
    project_finish: int
    levels: Levels


def _cycle_keys(
    n: int, pred: IntArray, succ: IntArray, stuck: IntArray, keys: list[str]
) -> list[str]:
    """One cycle among the nodes Kahn's algorithm could not level, in relation order.

    Every such node has a predecessor that is also stuck (else it would have been levelled),
    so walking from predecessor to predecessor must revisit a node: the walk between the two
    visits is a cycle. Linear in the relations.
    """
    is_stuck = np.zeros(n, dtype=bool)
    is_stuck[stuck] = True
    inside = is_stuck[pred] & is_stuck[succ]
    stuck_pred: dict[int, int] = dict(
        zip(succ[inside].tolist(), pred[inside].tolist(), strict=True)
    )
    seen: dict[int, int] = {}
    walk: list[int] = []
    node = int(stuck[0])
    while node not in seen:
        seen[node] = len(walk)
        walk.append(node)
        node = stuck_pred[node]
    cycle = walk[seen[node] :][::-1]  # the walk went backwards along the relations
    return [keys[i] for i in cycle]


def levelise(n: int, pred: IntArray, succ: IntArray, keys: list[str]) -> Levels:
    """Kahn's algorithm, one vectorised frontier per level; raises CycleError on a cycle."""
    level = np.full(n, -1, dtype=np.int64)
    indegree = np.bincount(succ, minlength=n).astype(np.int64)
    by_pred = np.argsort(pred, kind="stable")
    out_succ = succ[by_pred]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(pred, minlength=n), out=indptr[1:])

    frontier = np.flatnonzero(indegree == 0)
    depth = 0
    placed = 0
    while frontier.size:
        level[frontier] = depth
        placed += frontier.size
        starts = indptr[frontier]
        counts = indptr[frontier + 1] - starts
        total = int(counts.sum())
        if total == 0:
            break
        # positions of all out-edges of the frontier, without a Python loop
        shift = np.repeat(starts - (np.cumsum(counts) - counts), counts)
        targets = out_succ[shift + np.arange(total)]
        np.subtract.at(indegree, targets, 1)
        frontier = np.unique(targets[indegree[targets] == 0])
        depth += 1
    if placed < n:
        raise CycleError(_cycle_keys(n, pred, succ, np.flatnonzero(level < 0), keys))

    fwd = np.argsort(level[succ], kind="stable")
    bwd = np.argsort(-level[pred], kind="stable")
    # fwd segment lv holds edges into level lv; bwd segment j edges out of level depth - j
    fwd_bounds = np.searchsorted(level[succ][fwd], np.arange(depth + 2))
    bwd_bounds = np.searchsorted(-level[pred][bwd], np.arange(-depth, 2))
    return Levels(level, depth, fwd, fwd_bounds, bwd, bwd_bounds)


def run_passes(net: Network) -> Schedule:
    """Compute early and late dates, total and free float for every leaf."""
    n = net.size
    levels = levelise(n, net.pred, net.succ, [*net.keys, *net.hub_keys])
    work = net.work
    fixed = net.fixed

    # Closed items neither move nor constrain anything upstream.
    live = ~fixed[net.succ]
    early_start = np.where(fixed, net.fixed_start, net.lower_bound)
    pred, succ, offset = net.pred, net.succ, net.offset
    fb = levels.fwd_bounds
    for lv in range(1, levels.depth + 1):
        sel = levels.fwd_edges[fb[lv] : fb[lv + 1]]
        sel = sel[live[sel]]
        if sel.size:
            np.maximum.at(early_start, succ[sel], early_start[pred[sel]] + offset[sel])
    early_finish = early_start + work
    project_finish = int(early_finish.max()) if n else net.start_index * net.ticks_per_day

    late_finish = np.minimum(np.full(n, project_finish, dtype=np.int64), net.deadline)
    late_finish = np.where(fixed, early_finish, late_finish)
    late_start = late_finish - work
    live_back = live & ~fixed[pred]
    bb = levels.bwd_bounds
    for j in range(len(bb) - 1):
        sel = levels.bwd_edges[bb[j] : bb[j + 1]]
        sel = sel[live_back[sel]]
        if sel.size:
            np.minimum.at(late_start, pred[sel], late_start[succ[sel]] - offset[sel])
    late_finish = late_start + work
    total_float = late_start - early_start

    # Free float: room before the first successor is delayed (or the project finish).
    free_float = project_finish - early_finish
    if pred.size:
        # Through a hub, the successors that count are the hub's: its "start" for free
        # float is the earliest its successors allow (they are all leaves).
        none = np.iinfo(np.int64).max // 4
        allowed = early_start.copy()
        if net.hub_keys:
            leaves = len(net.keys)
            from_hub = live_back & (pred >= leaves)
            allowed[leaves:] = none
            np.minimum.at(allowed, pred[from_hub], (early_start[succ] - offset)[from_hub])
        slack = allowed[succ] - early_start[pred] - offset
        slack = np.where(live_back, slack, none)
        np.minimum.at(free_float, pred, slack)
    free_float = np.minimum(free_float, np.maximum(total_float, 0))
    free_float = np.where(fixed, 0, free_float)
    total_float = np.where(fixed, 0, total_float)
    return Schedule(
        early_start=early_start,
        early_finish=early_finish,
        late_start=late_start,
        late_finish=late_finish,
        total_float=total_float,
        free_float=free_float,
        project_finish=project_finish,
        levels=levels,
    )
