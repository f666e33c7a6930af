"""The vectorised forward and backward passes of many trials at once, level by level."""

from __future__ import annotations

import numpy as np

from tracker_bridge.planner.montecarlo.arrays import AnyArray
from tracker_bridge.planner.montecarlo.arrays import view as _view
from tracker_bridge.planner.montecarlo.model import _Level, _Part
from tracker_bridge.planner.montecarlo.workspace import _Workspace


def _reduce(block: AnyArray, part: _Part, ws: _Workspace, trials: int, minimum: bool) -> AnyArray:
    """Per group, the max (min) over its relations of ``block[src] + lag``."""
    values = _view(ws.gather, part.src.size, trials)
    np.take(block, part.src, axis=0, out=values, mode="clip")
    if part.any_lag:
        values += part.lag
    op = np.minimum if minimum else np.maximum
    offset = part.slots[0]
    for count in part.slots[1:]:
        head = values[:count]
        op(head, values[offset : offset + count], out=head)
        offset += count
    return values[: part.slots[0]]


def _pass(
    block: AnyArray,
    work: AnyArray,
    plans: list[_Level],
    ws: _Workspace,
    finish: AnyArray | None = None,
) -> None:
    """One pass over the levels; ``block`` stacks (start, finish) rows.

    Forward (``finish is None``): a node's start is the max of its initial start and the
    bounds on its start; its finish the max of start + work and the bounds on its finish.
    Backward (``finish`` = each trial's project finish): a node's finish is the min of the
    trial's finish and the bounds on its finish, its start the min of finish - work and the
    bounds on its start. Every node is written once, at its own level.
    """
    n, trials = work.shape
    starts, finishes = block[:n], block[n:]
    backward = finish is not None
    op = np.minimum if backward else np.maximum
    for lv in plans:
        count = lv.nodes.size
        cur = _view(ws.cur, count, trials)
        first = lv.n_primary
        floor = finish if finish is not None else lv.init
        if lv.primary is not None:
            bound = _reduce(block, lv.primary, ws, trials, backward)
            op(bound, floor if backward else floor[:first], out=cur[:first])
        if first < count:
            cur[first:] = floor if backward else floor[first:]
        node_work = _view(ws.node_work, count, trials)
        np.take(work, lv.nodes, axis=0, out=node_work, mode="clip")
        if backward:
            cur -= node_work
        else:
            cur += node_work
        if lv.secondary is not None:
            bound = _reduce(block, lv.secondary, ws, trials, backward)
            if lv.secondary_slice is not None:
                part = cur[lv.secondary_slice]
                op(part, bound, out=part)
            else:
                part = cur[lv.secondary_pos]
                op(part, bound, out=part)
                cur[lv.secondary_pos] = part
        if backward:
            starts[lv.nodes] = cur
            cur += node_work
            finishes[lv.nodes] = cur
        else:
            finishes[lv.nodes] = cur
            cur -= node_work
            starts[lv.nodes] = cur
