"""The simulation model: sampling tables, internal row order and level plans of a network."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracker_bridge.model import Snapshot, Status
from tracker_bridge.planner.cpm import levelise
from tracker_bridge.planner.montecarlo.arrays import AnyArray, BoolArray, FloatArray, IntArray
from tracker_bridge.planner.montecarlo.distributions import (
    _EPS,
    Distribution,
    day_thresholds,
    duration_steps,
    duration_table,
    three_point_hours,
)
from tracker_bridge.planner.network import Network, duration_days, remaining_days
from tracker_bridge.settings import Settings

_TABLE_ENTRIES = 1 << 22  # budget for all quantile tables together (entries)
_MIN_K_BITS, _MAX_K_BITS = 10, 16


@dataclass
class _Part:
    """One kind of relation into (or out of) the nodes of one level, laid out slot-major."""

    src: IntArray  # rows of the stacked (start, finish) block to read
    lag: AnyArray  # (edges, 1), sign already applied for the pass
    any_lag: bool
    slots: list[int]  # slots[k]: how many groups have more than k edges (falling)
    groups: IntArray  # the node each group bounds, in group order


@dataclass
class _Level:
    """The nodes of one level and the relations that bound them, for one pass.

    The *primary* relations bound the quantity the pass starts from (the start in the
    forward pass, the finish in the backward pass), the *secondary* ones the other end.
    """

    primary: _Part | None
    secondary: _Part | None
    nodes: IntArray  # primary groups first, then nodes with secondary relations only
    n_primary: int
    secondary_pos: IntArray  # position in ``nodes`` of each secondary group
    secondary_slice: slice | None  # the same positions when they are contiguous
    init: AnyArray  # (nodes, 1) initial start of each node (forward pass only)


@dataclass
class _StepGroup:
    """Rows sharing one quantile table with few steps: ``work = low + sum(u >= pos) * up``."""

    first: int
    end: int
    low: int
    steps: list[tuple[int, int]]  # (position in 16-bit uniform space, increase)


@dataclass
class _Model:
    """Everything a chunk needs, in an internal row order (see ``perm``).

    Rows are ordered: sampled by table lookup | sampled by steps (grouped by table) |
    constant open work | closed (fixed) items.
    """

    n: int
    n_lookup: int  # rows sampled through a table lookup (many distinct estimates)
    n_sampled: int
    n_live: int
    perm: IntArray  # internal row -> network index
    dtype: type[np.signedinteger[Any]]
    start_init: AnyArray  # (n,) initial early start (lower bound, or fixed start)
    lower: AnyArray  # (n,) lower bound (for the display shift of zero-duration items)
    work_const: AnyArray  # (n - n_sampled,) work of constant rows
    table: AnyArray  # flat quantile tables of the lookup rows
    table_base: IntArray  # (n_lookup,) offset of each lookup row's table
    k_shift: int
    step_groups: list[_StepGroup]
    fwd: list[_Level]
    bwd: list[_Level]
    max_edges: int
    max_nodes: int
    zero_rows: IntArray  # open rows whose work can be 0 in some trial
    risk_rows: IntArray  # rows threatened by a risk that can fire
    risk_impact: FloatArray  # (len(risk_rows), risks) impact days
    risk_prob: FloatArray  # (risks,)
    group_rows: IntArray  # rows of the members of each group (milestone, summary), by group
    group_cuts: list[tuple[int, int, int]]  # (group, first, end) in group_rows


def _slot_part(
    edges: IntArray, group_of: IntArray, src: IntArray, lag: IntArray, dtype: type
) -> _Part | None:
    """Lay out ``edges`` slot-major: the k-th edge of every group, groups by falling size."""
    if edges.size == 0:
        return None
    groups, inverse, counts = np.unique(group_of[edges], return_inverse=True, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    edge_rank = rank[inverse]
    by_rank = np.argsort(edge_rank, kind="stable")
    sorted_rank = edge_rank[by_rank]
    first = np.flatnonzero(np.r_[True, sorted_rank[1:] != sorted_rank[:-1]])
    slot = np.arange(edges.size) - np.repeat(first, np.diff(np.r_[first, edges.size]))
    layout = by_rank[np.lexsort((sorted_rank, slot))]
    chosen = edges[layout]
    sizes = counts[order]
    slots = [int(np.count_nonzero(sizes > k)) for k in range(int(sizes.max()))]
    lag_col: AnyArray = lag[chosen].astype(dtype)[:, None]
    return _Part(src[chosen], lag_col, bool(np.any(lag_col)), slots, groups[order])


def _level_plan(
    edges: IntArray,
    node_of: IntArray,
    primary_kind: BoolArray,
    src: IntArray,
    lag: IntArray,
    init: AnyArray,
) -> _Level:
    """Plan one level; ``primary_kind[e]`` says relation ``e`` bounds the primary end."""
    dtype = init.dtype.type
    primary = _slot_part(edges[primary_kind[edges]], node_of, src, lag, dtype)
    secondary = _slot_part(edges[~primary_kind[edges]], node_of, src, lag, dtype)
    empty = np.zeros(0, dtype=np.int64)
    first = primary.groups if primary is not None else empty
    second = secondary.groups if secondary is not None else empty
    nodes = np.concatenate([first, second[~np.isin(second, first)]])
    where = {int(v): i for i, v in enumerate(nodes.tolist())}
    pos = np.array([where[int(v)] for v in second.tolist()], dtype=np.int64)
    contiguous = None
    if pos.size and np.array_equal(pos, np.arange(pos[0], pos[0] + pos.size)):
        contiguous = slice(int(pos[0]), int(pos[0]) + pos.size)
    return _Level(primary, secondary, nodes, first.size, pos, contiguous, init[nodes][:, None])


def _upper_bound(
    net: Network,
    level: IntArray,
    depth: int,
    max_work: IntArray,
    pred_finish: BoolArray,
    lag: IntArray,
) -> int:
    """A bound on every index a trial can reach (to choose int16 or int32 blocks)."""
    fixed = net.fixed
    es = np.where(fixed, net.fixed_start, net.lower_bound).astype(np.int64)
    pred, succ = net.pred, net.succ
    live = ~fixed[succ]
    order = np.argsort(level[succ], kind="stable")
    bounds = np.searchsorted(level[succ][order], np.arange(depth + 2))
    for lv in range(1, depth + 1):
        sel = order[bounds[lv] : bounds[lv + 1]]
        sel = sel[live[sel]]
        if sel.size:
            cand = es[pred[sel]] + max_work[pred[sel]] * pred_finish[sel] + lag[sel]
            np.maximum.at(es, succ[sel], cand)
    top = int((es + max_work).max()) if es.size else 0
    return top + int(np.abs(lag).max(initial=0)) + int(max_work.max(initial=0)) + 2


_STEP_MAX = 8  # a table with at most this many steps is sampled by comparisons
_STEP_MIN_ROWS = 16  # ... when at least this many rows share it


def _build_model(
    snapshot: Snapshot,
    net: Network,
    settings: Settings,
    distribution: Distribution,
    level: IntArray | None,
    groups: Sequence[Sequence[int]] = (),
) -> tuple[_Model, list[str]]:
    """Compile sampling tables, internal order and level plans; also default-spread keys.

    ``groups`` are lists of network indices whose common finish (the latest) is forecast.
    """
    n = net.size  # the leaves, then hub nodes (zero work, never sampled or shown)
    hpd = settings.calendar.hours_per_day
    by_key = snapshot.item_map()
    index = {key: i for i, key in enumerate(net.keys)}
    pred_finish, succ_finish, lag = net.pred_finish, net.succ_finish, net.lag
    if level is None:
        level = levelise(n, net.pred, net.succ, [*net.keys, *net.hub_keys]).level
    depth = int(level.max(initial=0))

    # --- durations: constant rows and sampled rows (by distinct estimate) ---
    fixed = net.fixed
    const_work = net.work.copy()
    sampled_key: dict[int, tuple[float, float, float, int]] = {}
    default_spread: list[str] = []
    min_work = net.work.copy()
    max_work = net.work.copy()
    for i, key in enumerate(net.keys):
        if fixed[i]:
            continue
        item = by_key[key]
        a, m, b, default = three_point_hours(item, settings)
        if default:
            default_spread.append(key)
        done = item.done_ratio
        if b - a <= 1e-12 * max(1.0, b):
            const_work[i] = min_work[i] = max_work[i] = remaining_days(duration_days(m, hpd), done)
        else:
            sampled_key[i] = (a, m, b, done)
            min_work[i] = remaining_days(max(1, duration_days(a, hpd)), done)
            max_work[i] = remaining_days(duration_days(b, hpd), done)

    # --- risks ---
    risk_prob_list: list[float] = []
    risk_cols: dict[int, dict[int, float]] = {}
    for risk in snapshot.risks:
        if risk.status is not Status.OPEN or risk.probability <= 0 or risk.impact_days <= 0:
            continue
        rows: set[int] = set()
        for target in risk.threatens:
            leaves = net.summaries.get(target)
            if leaves:
                rows.update(leaves)
            elif target in index:
                rows.add(index[target])
        rows = {r for r in rows if not fixed[r]}
        if not rows:
            continue
        column = len(risk_prob_list)
        risk_prob_list.append(risk.probability)
        for r in rows:
            risk_cols.setdefault(r, {})[column] = risk.impact_days
    for r, impacts in risk_cols.items():
        max_work[r] += math.ceil(sum(impacts.values()) - _EPS)

    bound = _upper_bound(net, level, depth, max_work, pred_finish, lag)
    dtype: type[np.signedinteger[Any]] = np.int16 if bound < 32_000 else np.int32

    # --- samplers, one per distinct estimate: comparisons with a few steps when many rows
    # share the estimate, otherwise a quantile table lookup ---
    distinct: dict[tuple[float, float, float, int], int] = {}
    table_of = {i: distinct.setdefault(k, len(distinct)) for i, k in sorted(sampled_key.items())}
    params = list(distinct)
    thresholds = day_thresholds(distribution, params, hpd)
    users = np.bincount(np.array(list(table_of.values()), dtype=np.int64), minlength=len(params))
    stepped = {
        t
        for t in range(len(params))
        if users[t] >= _STEP_MIN_ROWS and thresholds[t][1].size <= _STEP_MAX
    }

    # --- internal order: lookup | steps (by estimate) | constant open | closed ---
    category = np.where(fixed, 3, 2).astype(np.int64)
    group = np.zeros(n, dtype=np.int64)
    for i, t in table_of.items():
        category[i] = 1 if t in stepped else 0
        group[i] = t
    perm = np.lexsort((np.arange(n), group, category)).astype(np.int64)
    inv = np.empty(n, dtype=np.int64)
    inv[perm] = np.arange(n)
    counts = np.bincount(category, minlength=4)
    n_lookup = int(counts[0])
    n_sampled = int(counts[0] + counts[1])
    n_live = int(counts[0] + counts[1] + counts[2])

    lookup_tables = [table_of[int(i)] for i in perm[:n_lookup]]
    used = sorted(set(lookup_tables))
    k_bits = _MAX_K_BITS
    while k_bits > _MIN_K_BITS and len(used) << k_bits > _TABLE_ENTRIES:
        k_bits -= 1
    compact = {t: c for c, t in enumerate(used)}
    table = np.zeros((len(used), 1 << k_bits), dtype=dtype)
    for t, c in compact.items():
        low, cdf = thresholds[t]
        table[c] = duration_table(low, cdf, params[t][3], k_bits)
    table_base = np.array([compact[t] << k_bits for t in lookup_tables], dtype=np.int64)
    step_groups: list[_StepGroup] = []
    row = n_lookup
    while row < n_sampled:
        t = table_of[int(perm[row])]
        end = row + int(users[t])
        low, cdf = thresholds[t]
        base, steps = duration_steps(low, cdf, params[t][3])
        step_groups.append(_StepGroup(row, end, base, steps))
        row = end

    # --- level plans on internal rows ---
    start_init = np.where(fixed, net.fixed_start, net.lower_bound)[perm].astype(dtype)
    pred = inv[net.pred]
    succ = inv[net.succ]
    lvl = level[perm]
    fixed_i = fixed[perm]
    fwd: list[_Level] = []
    bwd: list[_Level] = []
    if pred.size:
        live_in = ~fixed_i[succ]
        live_both = live_in & ~fixed_i[pred]
        fwd_src = pred + n * pred_finish
        bwd_src = succ + n * succ_finish
        by_succ_level = lvl[succ]
        by_pred_level = lvl[pred]
        order = np.argsort(by_succ_level, kind="stable")
        cuts = np.searchsorted(by_succ_level[order], np.arange(depth + 2))
        for lv in range(1, depth + 1):
            sel = order[cuts[lv] : cuts[lv + 1]]
            sel = sel[live_in[sel]]
            if sel.size:
                fwd.append(_level_plan(sel, succ, ~succ_finish, fwd_src, lag, start_init))
        order = np.argsort(-by_pred_level, kind="stable")
        cuts = np.searchsorted(-by_pred_level[order], np.arange(-depth, 2))
        for j in range(depth + 1):
            sel = order[cuts[j] : cuts[j + 1]]
            sel = sel[live_both[sel]]
            if sel.size:
                bwd.append(_level_plan(sel, pred, pred_finish, bwd_src, -lag, start_init))
    max_edges = max((_edges(p) for p in fwd + bwd), default=0)
    max_nodes = max((p.nodes.size for p in fwd + bwd), default=0)

    risk_rows = np.array(sorted(risk_cols), dtype=np.int64)
    risk_impact = np.zeros((risk_rows.size, len(risk_prob_list)), dtype=np.float64)
    for r_i, r in enumerate(risk_rows.tolist()):
        for column, impact in risk_cols[r].items():
            risk_impact[r_i, column] = impact

    # --- groups: rows whose latest finish is forecast as a whole ---
    group_rows: list[int] = []
    group_cuts: list[tuple[int, int, int]] = []
    for g, members in enumerate(groups):
        if members:
            group_cuts.append((g, len(group_rows), len(group_rows) + len(members)))
            group_rows.extend(int(inv[i]) for i in members)

    model = _Model(
        n=n,
        n_lookup=n_lookup,
        n_sampled=n_sampled,
        n_live=n_live,
        perm=perm,
        dtype=dtype,
        start_init=start_init,
        lower=net.lower_bound[perm].astype(dtype),
        work_const=const_work[perm][n_sampled:].astype(dtype),
        table=np.ascontiguousarray(table).ravel(),
        table_base=table_base,
        k_shift=16 - k_bits,
        step_groups=step_groups,
        fwd=fwd,
        bwd=bwd,
        max_edges=max_edges,
        max_nodes=max_nodes,
        zero_rows=np.flatnonzero(
            (min_work == 0)[perm] & ~fixed[perm] & (perm < len(net.keys))
        ).astype(np.int64),
        risk_rows=inv[risk_rows] if risk_rows.size else risk_rows,
        risk_impact=risk_impact,
        risk_prob=np.array(risk_prob_list, dtype=np.float64),
        group_rows=np.array(group_rows, dtype=np.int64),
        group_cuts=group_cuts,
    )
    return model, default_spread


def _edges(level: _Level) -> int:
    return max(
        level.primary.src.size if level.primary is not None else 0,
        level.secondary.src.size if level.secondary is not None else 0,
    )
