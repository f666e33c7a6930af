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
    duration_steps,
    duration_table,
    nearest_tick,
    three_point_hours,
    tick_thresholds,
)
from tracker_bridge.planner.network import Network, duration_ticks, remaining_part
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
    """Everything a chunk needs, in an internal row order (see ``perm``); times in ticks.

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
    ticks_per_day: int
    risk_rows: IntArray  # rows threatened by a risk that can fire
    risk_impact: FloatArray  # (len(risk_rows), risks) impact in ticks (not rounded)
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
    # + a day: finishes are rounded up to whole days in place (chunk._shown_days)
    margin = int(np.abs(lag).max(initial=0)) + int(max_work.max(initial=0)) + net.ticks_per_day
    return top + margin + 2


_STEP_MAX = 8  # a table with at most this many steps is sampled by comparisons
_STEP_MIN_ROWS = 16  # ... when at least this many rows share it


_Estimate = tuple[float, float, float, int]  # (optimistic, likely, pessimistic hours, done %)


@dataclass
class _Durations:
    """Work of the open items in network order: constant, or sampled from an estimate."""

    const_work: IntArray
    min_work: IntArray
    max_work: IntArray
    sampled: dict[int, _Estimate]  # network index -> its three-point estimate
    default_spread: list[str]


@dataclass
class _Samplers:
    """One sampler per distinct estimate of the sampled items."""

    params: list[_Estimate]
    table_of: dict[int, int]  # network index -> its estimate's sampler
    thresholds: list[tuple[int, FloatArray]]  # per sampler: (kmin, P(D <= k) for k >= kmin)
    users: IntArray  # per sampler: how many items use it
    stepped: set[int]  # samplers by comparisons with a few steps, not by a table lookup


@dataclass
class _Order:
    """The internal row order: lookup | steps (by estimate) | constant open | closed."""

    perm: IntArray  # internal row -> network index
    inv: IntArray  # network index -> internal row
    n_lookup: int
    n_sampled: int
    n_live: int


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
    per_day = net.ticks_per_day
    tick_hours = settings.calendar.hours_per_day / per_day
    if level is None:
        level = levelise(n, net.pred, net.succ, [*net.keys, *net.hub_keys]).level
    depth = int(level.max(initial=0))
    durations = _durations(snapshot, net, settings)
    risk_prob, risk_cols = _risks(snapshot, net)
    for r, impacts in risk_cols.items():
        durations.max_work[r] += math.ceil(sum(impacts.values()) * per_day - _EPS)
    bound = _upper_bound(net, level, depth, durations.max_work, net.pred_finish, net.lag)
    dtype: type[np.signedinteger[Any]] = np.int16 if bound < 32_000 else np.int32
    samplers = _samplers(distribution, durations.sampled, tick_hours)
    order = _row_order(net.fixed, samplers)
    perm, inv = order.perm, order.inv
    table, table_base, k_bits = _lookup_tables(samplers, perm[: order.n_lookup], dtype)
    start_init = np.where(net.fixed, net.fixed_start, net.lower_bound)[perm].astype(dtype)
    fwd, bwd = _level_plans(net, level[perm], depth, order, start_init)
    risk_rows, risk_impact = _risk_matrix(risk_cols, len(risk_prob))
    group_rows, group_cuts = _group_rows(groups, inv)
    model = _Model(
        n=n,
        n_lookup=order.n_lookup,
        n_sampled=order.n_sampled,
        n_live=order.n_live,
        perm=perm,
        dtype=dtype,
        start_init=start_init,
        lower=net.lower_bound[perm].astype(dtype),
        work_const=durations.const_work[perm][order.n_sampled :].astype(dtype),
        table=np.ascontiguousarray(table).ravel(),
        table_base=table_base,
        k_shift=16 - k_bits,
        step_groups=_step_groups(samplers, order),
        fwd=fwd,
        bwd=bwd,
        max_edges=max((_edges(p) for p in fwd + bwd), default=0),
        max_nodes=max((p.nodes.size for p in fwd + bwd), default=0),
        zero_rows=np.flatnonzero(
            (durations.min_work == 0)[perm] & ~net.fixed[perm] & (perm < len(net.keys))
        ).astype(np.int64),
        ticks_per_day=per_day,
        risk_rows=inv[risk_rows] if risk_rows.size else risk_rows,
        risk_impact=risk_impact * per_day,
        risk_prob=np.array(risk_prob, dtype=np.float64),
        group_rows=np.array(group_rows, dtype=np.int64),
        group_cuts=group_cuts,
    )
    return model, durations.default_spread


def _durations(snapshot: Snapshot, net: Network, settings: Settings) -> _Durations:
    """Constant work of closed items and of open items without spread (the plan's rounding
    up), estimates of the rest (sampled to the nearest tick); in ticks."""
    hpd = settings.calendar.hours_per_day
    per_day = net.ticks_per_day
    tick_hours = hpd / per_day
    by_key = snapshot.item_map()
    fixed = net.fixed
    found = _Durations(net.work.copy(), net.work.copy(), net.work.copy(), {}, [])
    for i, key in enumerate(net.keys):
        if fixed[i]:
            continue
        item = by_key[key]
        a, m, b, default = three_point_hours(item, settings)
        if default:
            found.default_spread.append(key)
        done = item.done_ratio
        if b - a <= 1e-12 * max(1.0, b):
            ticks = remaining_part(duration_ticks(m, hpd, per_day), done)
            found.const_work[i] = found.min_work[i] = found.max_work[i] = ticks
        else:
            found.sampled[i] = (a, m, b, done)
            low = nearest_tick(a, tick_hours)
            found.min_work[i] = remaining_part(low, done)
            found.max_work[i] = remaining_part(max(low, nearest_tick(b, tick_hours)), done)
    return found


def _risks(snapshot: Snapshot, net: Network) -> tuple[list[float], dict[int, dict[int, float]]]:
    """Risks that can fire: their probabilities, and per open item threatened, the impact of
    each (by risk column)."""
    index = {key: i for i, key in enumerate(net.keys)}
    fixed = net.fixed
    risk_prob: list[float] = []
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
        column = len(risk_prob)
        risk_prob.append(risk.probability)
        for r in rows:
            risk_cols.setdefault(r, {})[column] = risk.impact_days
    return risk_prob, risk_cols


def _samplers(
    distribution: Distribution, sampled: dict[int, _Estimate], tick_hours: float
) -> _Samplers:
    """One sampler per distinct estimate: comparisons with a few steps when many rows share
    the estimate, otherwise a quantile table lookup."""
    distinct: dict[_Estimate, int] = {}
    table_of = {i: distinct.setdefault(k, len(distinct)) for i, k in sorted(sampled.items())}
    params = list(distinct)
    thresholds = tick_thresholds(distribution, params, tick_hours)
    users = np.bincount(np.array(list(table_of.values()), dtype=np.int64), minlength=len(params))
    stepped = {
        t
        for t in range(len(params))
        if users[t] >= _STEP_MIN_ROWS and thresholds[t][1].size <= _STEP_MAX
    }
    return _Samplers(params, table_of, thresholds, users, stepped)


def _row_order(fixed: BoolArray, samplers: _Samplers) -> _Order:
    """Internal order: lookup | steps (by estimate) | constant open | closed."""
    n = fixed.size
    category = np.where(fixed, 3, 2).astype(np.int64)
    group = np.zeros(n, dtype=np.int64)
    for i, t in samplers.table_of.items():
        category[i] = 1 if t in samplers.stepped else 0
        group[i] = t
    perm = np.lexsort((np.arange(n), group, category)).astype(np.int64)
    inv = np.empty(n, dtype=np.int64)
    inv[perm] = np.arange(n)
    counts = np.bincount(category, minlength=4)
    return _Order(
        perm,
        inv,
        n_lookup=int(counts[0]),
        n_sampled=int(counts[0] + counts[1]),
        n_live=int(counts[0] + counts[1] + counts[2]),
    )


def _lookup_tables(
    samplers: _Samplers, lookup_rows: IntArray, dtype: type[np.signedinteger[Any]]
) -> tuple[AnyArray, IntArray, int]:
    """The quantile tables of the lookup rows (network indices, in row order), the offset of
    each row's table, and the table size in bits (smaller when many tables are needed)."""
    lookup_tables = [samplers.table_of[int(i)] for i in lookup_rows]
    used = sorted(set(lookup_tables))
    k_bits = _MAX_K_BITS
    while k_bits > _MIN_K_BITS and len(used) << k_bits > _TABLE_ENTRIES:
        k_bits -= 1
    compact = {t: c for c, t in enumerate(used)}
    table = np.zeros((len(used), 1 << k_bits), dtype=dtype)
    for t, c in compact.items():
        low, cdf = samplers.thresholds[t]
        table[c] = duration_table(low, cdf, samplers.params[t][3], k_bits)
    table_base = np.array([compact[t] << k_bits for t in lookup_tables], dtype=np.int64)
    return table, table_base, k_bits


def _step_groups(samplers: _Samplers, order: _Order) -> list[_StepGroup]:
    """The comparison samplers of the stepped rows, one per run of rows sharing an estimate."""
    step_groups: list[_StepGroup] = []
    row = order.n_lookup
    while row < order.n_sampled:
        t = samplers.table_of[int(order.perm[row])]
        end = row + int(samplers.users[t])
        low, cdf = samplers.thresholds[t]
        base, steps = duration_steps(low, cdf, samplers.params[t][3])
        step_groups.append(_StepGroup(row, end, base, steps))
        row = end
    return step_groups


def _level_plans(
    net: Network, lvl: IntArray, depth: int, order: _Order, start_init: AnyArray
) -> tuple[list[_Level], list[_Level]]:
    """Forward and backward level plans on internal rows (``lvl``: level of each row)."""
    n = net.size
    pred_finish, succ_finish, lag = net.pred_finish, net.succ_finish, net.lag
    pred = order.inv[net.pred]
    succ = order.inv[net.succ]
    fixed_i = net.fixed[order.perm]
    fwd: list[_Level] = []
    bwd: list[_Level] = []
    if not pred.size:
        return fwd, bwd
    live_in = ~fixed_i[succ]
    live_both = live_in & ~fixed_i[pred]
    fwd_src = pred + n * pred_finish
    bwd_src = succ + n * succ_finish
    by_succ_level = lvl[succ]
    by_pred_level = lvl[pred]
    by_level = np.argsort(by_succ_level, kind="stable")
    cuts = np.searchsorted(by_succ_level[by_level], np.arange(depth + 2))
    for lv in range(1, depth + 1):
        sel = by_level[cuts[lv] : cuts[lv + 1]]
        sel = sel[live_in[sel]]
        if sel.size:
            fwd.append(_level_plan(sel, succ, ~succ_finish, fwd_src, lag, start_init))
    by_level = np.argsort(-by_pred_level, kind="stable")
    cuts = np.searchsorted(-by_pred_level[by_level], np.arange(-depth, 2))
    for j in range(depth + 1):
        sel = by_level[cuts[j] : cuts[j + 1]]
        sel = sel[live_both[sel]]
        if sel.size:
            bwd.append(_level_plan(sel, pred, pred_finish, bwd_src, -lag, start_init))
    return fwd, bwd


def _risk_matrix(risk_cols: dict[int, dict[int, float]], risks: int) -> tuple[IntArray, FloatArray]:
    """Threatened rows (network indices, sorted) and their impact (days) per risk."""
    risk_rows = np.array(sorted(risk_cols), dtype=np.int64)
    risk_impact = np.zeros((risk_rows.size, risks), dtype=np.float64)
    for r_i, r in enumerate(risk_rows.tolist()):
        for column, impact in risk_cols[r].items():
            risk_impact[r_i, column] = impact
    return risk_rows, risk_impact


def _group_rows(
    groups: Sequence[Sequence[int]], inv: IntArray
) -> tuple[list[int], list[tuple[int, int, int]]]:
    """Rows whose latest finish is forecast as a whole, and ``(group, first, end)`` of each
    non-empty group in them."""
    group_rows: list[int] = []
    group_cuts: list[tuple[int, int, int]] = []
    for g, members in enumerate(groups):
        if members:
            group_cuts.append((g, len(group_rows), len(group_rows) + len(members)))
            group_rows.extend(int(inv[i]) for i in members)
    return group_rows, group_cuts


def _edges(level: _Level) -> int:
    return max(
        level.primary.src.size if level.primary is not None else 0,
        level.secondary.src.size if level.secondary is not None else 0,
    )
