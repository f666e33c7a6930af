"""Schedule risk: a vectorised Monte Carlo simulation over the compiled CPM network.

Every trial draws a duration for each open item, lets the open risks fire, and runs the
same forward and backward pass as the deterministic plan (:mod:`.cpm`) — for thousands of
trials at once. Results: P50/P80/P95 finish dates, the mean (the working day nearest it)
and standard deviation (working days) of the finish, and the probability of finishing on
time for every milestone and the project, and per item the criticality index and P80 finish.

How a trial is made (all of it explainable from the snapshot and the settings):

* **Three-point estimate per open item, in hours.** ``estimate_range`` (optimistic / likely /
  pessimistic) when the item has one; otherwise the estimate (``planner.default_estimate_hours``
  when it has none, as the plan does) times ``risk.default_optimistic_factor`` / 1 /
  ``risk.default_pessimistic_factor``. Such items are reported as having a *default spread*.
* **Distribution.** ``pert`` (default): a beta distribution scaled to ``[a, b]`` with
  ``alpha = 1 + 4(m-a)/(b-a)``, ``beta = 1 + 4(b-m)/(b-a)`` (mean ``(a+4m+b)/6``);
  ``triangular``: mean ``(a+m+b)/3``. ``a == b`` means no spread: the duration is fixed.
* **Whole working days, like the deterministic plan.** A sampled duration of ``x`` hours
  takes ``ceil(x / hours_per_day)`` working days (at least 1 when ``x > 0``); an in-progress
  item then schedules the remaining share ``ceil(days * (100 - done) / 100)`` exactly as the
  plan does; closed items keep their actual dates in every trial. Sampling is inverse-CDF
  sampling of that whole-day duration: the probability of each whole number of days is
  computed exactly from the beta (or triangular) CDF, and each trial maps a 16-bit uniform
  draw through those probabilities on a grid of ``K`` equally likely points (``K = 65536``;
  fewer, never below 1024, when more than 64 distinct estimates need a quantile table — a
  probability resolution of at most 1/1024, well below the sampling error of the
  simulation itself, ``0.5/sqrt(trials)``). That is what makes 10^8 item-trials take about
  a second instead of ten (a numpy beta draw costs ~90 ns).
* **Risks.** Every open risk with ``probability > 0`` and ``impact_days > 0`` fires in a trial
  with its probability — once per trial, for all the items it threatens together (a summary
  item stands for its leaves). Each firing adds ``impact_days`` to the remaining work of every
  open item it threatens; the sum of the impacts is rounded up to whole working days.
* **Relations.** ``S_succ >= S_pred + offset`` with the offset recomputed from the trial's
  own durations: ``(work_pred if FS/FF) + lag - (work_succ if FF/SF)``. The passes never
  materialise per-trial offsets: a relation reads the predecessor's start or finish and
  bounds the successor's start or finish.
* **Criticality index** of an item: the share of trials in which its total float is 0 on that
  trial's longest path (late dates from the trial's own finish; deadlines are not used, so
  every trial has a critical path). **P80 finish**: the date by which the item is finished in
  80 % of trials. Percentiles are order statistics: P80 is the smallest date on or before
  which at least 80 % of the trials finish. Dates are inclusive and shown as the plan shows
  them (a zero-duration item driven by a predecessor sits on that predecessor's last day).
* **As many trials as needed.** Called with ``stop_when_stable`` (the risk overlay does),
  ``risk.trials`` is a maximum: after 512, 1,024, 2,048, ... trials it checks a 95 %
  confidence interval of each P50/P80/P95 finish of the project and the milestones
  (distribution-free, from order statistics: ranks ``N q -/+ 1.96 sqrt(N q (1 - q))``) and
  stops once none is wider than ``2 x risk.precision_days``. Without spread every trial is
  the same, so it stops at the first check.
* **Reproducible.** Trials run in chunks; chunk ``c`` draws from
  ``PCG64(SeedSequence(seed).spawn(chunks)[c])``. The chunk size depends only on the number
  of items, so the same snapshot, settings and seed give the same result on any machine and
  with any number of worker threads.

With no spread (optimistic = likely = pessimistic, no open risk) every trial is the
deterministic plan: all percentiles equal its dates and the criticality index is 1 exactly
for the items with zero float (0 otherwise; without deadlines this is the plan's critical set).

Performance (``benchmarks/bench_montecarlo.py``: 10,000 trials x 10,000 items in about
1 CPU-second; 0.8-1.5 s wall on a shared 2-core machine):

* item-trials are ``(items, trials)`` blocks of int16 working-day indices (int32 when a
  bound on the schedule says the project could run past 32,000 working days), 1,024 trials
  per chunk for 10,000 items (16M item-trials, ~180 MB per worker), chunks on a thread pool
  (numpy releases the GIL in its loops);
* one vectorised step per network level and pass; each relation is one row gather; the
  in-degree of a node is reduced with a few contiguous ``maximum``/``minimum`` calls (edges
  laid out slot by slot, nodes by falling in-degree) — ``maximum.at`` and ``reduceat`` are
  ~10x slower on 2-D blocks — and every node is written once, at its own level;
* durations come from 16-bit uniforms (``PCG64.random_raw`` split in four): when many items
  share an estimate (default spreads of round estimates), by comparing with the few points
  where the whole-day duration steps up; otherwise by a quantile-table lookup;
* the P80 of each item comes from per-item histograms of its finish (``bincount`` in
  cache-sized blocks, merged across chunks), not from storing every trial.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from tracker_bridge.model import Snapshot, Status, WorkItem
from tracker_bridge.planner.calendar import WorkCalendar
from tracker_bridge.planner.cpm import levelise
from tracker_bridge.planner.network import (
    Network,
    duration_days,
    remaining_days,
    remaining_work,
)
from tracker_bridge.settings import Settings

Distribution = Literal["pert", "triangular"]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
AnyArray = npt.NDArray[Any]

_EPS = 1e-9  # the tolerance network.duration_days uses before rounding up
_TABLE_ENTRIES = 1 << 22  # budget for all quantile tables together (entries)
_MIN_K_BITS, _MAX_K_BITS = 10, 16
_CHUNK_ELEMENTS = 16_000_000  # items x trials per chunk (bounds memory per worker)
_MIN_CHUNK, _MAX_CHUNK = 256, 4096
_BLOCK_ELEMENTS = 1 << 20  # rows x trials per block for 64-bit index temporaries
_SMALL_BLOCK = 1 << 17  # rows x trials per block of the comparison sampler (stays in cache)
_HIST_ROWS = 256  # rows per histogram block (its bins stay in cache)
_FIRST_CHECK = 512  # trials before the first check of stability (stop_when_stable)
_FORECAST_QUANTILES = (0.5, 0.8, 0.95)


# ------------------------------------------------------------------------ distributions


def beta_cdf(alpha: FloatArray, beta: FloatArray, x: FloatArray) -> FloatArray:
    """Regularised incomplete beta function I_x(alpha, beta), vectorised.

    Lentz's continued fraction (Numerical Recipes ``betacf``) on the side of the symmetry
    ``I_x(a, b) = 1 - I_{1-x}(b, a)`` where it converges fast; accurate to ~1e-14 for the
    shape parameters PERT produces (1 <= alpha, beta <= 5).
    """
    a = np.asarray(alpha, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    a, b, x = np.broadcast_arrays(a, b, x)
    flip = x > (a + 1.0) / (a + b + 2.0)
    aa = np.where(flip, b, a)
    bb = np.where(flip, a, b)
    xx = np.where(flip, 1.0 - x, x)
    inner = (xx > 0.0) & (xx < 1.0)
    xs = np.where(inner, xx, 0.5)
    lgam = np.vectorize(math.lgamma, otypes=[np.float64])
    log_front = lgam(aa + bb) - lgam(aa) - lgam(bb) + aa * np.log(xs) + bb * np.log1p(-xs)
    front = np.exp(log_front) / aa
    tiny = 1e-300
    qab, qap, qam = aa + bb, aa + 1.0, aa - 1.0
    c = np.ones_like(xs)
    d = 1.0 - qab * xs / qap
    d = np.where(np.abs(d) < tiny, tiny, d)
    d = 1.0 / d
    h = d.copy()
    for m in range(1, 300):
        m2 = 2.0 * m
        num = m * (bb - m) * xs / ((qam + m2) * (aa + m2))
        d = 1.0 + num * d
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = 1.0 + num / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        h *= d * c
        num = -(aa + m) * (qab + m) * xs / ((aa + m2) * (qap + m2))
        d = 1.0 + num * d
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = 1.0 + num / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        step = d * c
        h *= step
        if np.all(np.abs(step - 1.0) < 1e-15):
            break
    inside = front * h
    value = np.where(inner, inside, np.where(xx >= 1.0, 1.0, 0.0))
    result: FloatArray = np.where(flip, 1.0 - value, value)
    return result


def three_point_cdf(
    distribution: Distribution, a: FloatArray, m: FloatArray, b: FloatArray, x: FloatArray
) -> FloatArray:
    """P(X <= x) for PERT or triangular distributions on ``[a, b]`` (requires a < b)."""
    span = b - a
    z = np.clip((x - a) / span, 0.0, 1.0)
    mode = (m - a) / span
    if distribution == "pert":
        return beta_cdf(1.0 + 4.0 * mode, 1.0 + 4.0 * (1.0 - mode), z)
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(mode > 0, z * z / np.where(mode > 0, mode, 1.0), 0.0)
        right = 1.0 - (1.0 - z) ** 2 / np.where(mode < 1, 1.0 - mode, 1.0)
    result: FloatArray = np.where(z <= mode, np.where(mode > 0, left, 0.0), right)
    return np.clip(result, 0.0, 1.0)


def three_point_hours(item: WorkItem, settings: Settings) -> tuple[float, float, float, bool]:
    """``(optimistic, likely, pessimistic, default_spread)`` in hours for one item."""
    if item.estimate_range is not None:
        r = item.estimate_range
        return r.optimistic, r.likely, r.pessimistic, False
    hours = item.estimate_hours
    if hours is None:
        hours = settings.planner.default_estimate_hours
    risk = settings.risk
    return (
        hours * risk.default_optimistic_factor,
        hours,
        hours * risk.default_pessimistic_factor,
        True,
    )


def day_thresholds(
    distribution: Distribution,
    params: Sequence[tuple[float, float, float, int]],
    hours_per_day: float,
) -> list[tuple[int, FloatArray]]:
    """Per ``(a, m, b, done)`` row (hours, ``a < b``): ``(kmin, P(D <= k) for k >= kmin)``.

    ``D`` is the whole-day duration; ``D <= k`` exactly when ``x <= (k + eps) *
    hours_per_day`` (``network.duration_days`` rounding), so the thresholds are CDF values.
    """
    rows: list[int] = []
    t_a: list[float] = []
    t_m: list[float] = []
    t_b: list[float] = []
    t_x: list[float] = []
    lows: list[int] = []
    for r, (a, m, b, _done) in enumerate(params):
        low = max(1, duration_days(a, hours_per_day))
        lows.append(low)
        for k in range(low, duration_days(b, hours_per_day)):
            rows.append(r)
            t_a.append(a)
            t_m.append(m)
            t_b.append(b)
            t_x.append((k + _EPS) * hours_per_day)
    cdf = (
        three_point_cdf(distribution, np.array(t_a), np.array(t_m), np.array(t_b), np.array(t_x))
        if rows
        else np.zeros(0)
    )
    cuts = np.searchsorted(np.array(rows, dtype=np.int64), np.arange(len(params) + 1))
    return [(lows[r], cdf[cuts[r] : cuts[r + 1]]) for r in range(len(params))]


def _positions(cdf: FloatArray, bits: int) -> IntArray:
    """Index of the first of ``2**bits`` equally likely points ``(j + 0.5) / 2**bits`` above
    each threshold: ``D(j) = kmin + #{k : position_k <= j}``."""
    size = 1 << bits
    first: IntArray = np.clip(np.floor(cdf * size + 0.5), 0, size).astype(np.int64)
    return first


def duration_table(low: int, cdf: FloatArray, done_ratio: int, k_bits: int) -> IntArray:
    """Quantile table of whole-day work: entry ``j`` for ``u = (j + 0.5) / 2**k_bits``."""
    size = 1 << k_bits
    diff = np.zeros(size + 1, dtype=np.int64)
    np.add.at(diff, _positions(cdf, k_bits), 1)
    return remaining_work(low + np.cumsum(diff[:size]), done_ratio)


def duration_steps(low: int, cdf: FloatArray, done_ratio: int) -> tuple[int, list[tuple[int, int]]]:
    """Whole-day work as ``low + sum(rise for (position, rise) if u16 >= position)`` for a
    16-bit uniform ``u16`` — the table of :func:`duration_table` at 16 bits, as steps."""
    positions = _positions(cdf, 16)
    levels = remaining_work(low + np.arange(cdf.size + 1, dtype=np.int64), done_ratio)
    rises = np.diff(levels)
    base = int(levels[0]) + int(rises[positions == 0].sum())
    steps: dict[int, int] = {}
    for position, rise in zip(positions.tolist(), rises.tolist(), strict=True):
        if rise and 0 < position < 1 << 16:
            steps[position] = steps.get(position, 0) + rise
    return base, sorted(steps.items())


# -------------------------------------------------------------------------- the model


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


@dataclass(frozen=True)
class Forecast:
    """Finish percentiles of a milestone or the project (inclusive dates)."""

    p50: dt.date | None
    p80: dt.date | None
    p95: dt.date | None
    probability_on_time: float | None
    due: dt.date | None = None
    mean: dt.date | None = None  # the working day nearest the mean finish
    std_days: float | None = None  # standard deviation of the finish, in working days


@dataclass
class SimulationResult:
    """What :func:`simulate` returns; per-item arrays follow ``keys`` (the network leaves)."""

    trials: int
    seed: int
    distribution: str
    keys: list[str]
    criticality: FloatArray  # share of trials in which the item has zero float
    p80_finish: list[dt.date]
    project: Forecast  # on time = by the latest milestone due date
    milestones: dict[str, Forecast]
    summaries: dict[str, Forecast]  # summary (parent) items: the latest of their leaves
    default_spread_items: list[str]
    finish_histogram: list[tuple[dt.date, int]] = field(repr=False)  # project finish: trials


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


# ---------------------------------------------------------------------------- a chunk


class _Workspace:
    """Per-worker buffers, reused from chunk to chunk (fresh memory costs page faults)."""

    def __init__(self, model: _Model, trials: int) -> None:
        n, dtype = model.n, model.dtype
        self.w = np.empty(n * trials, dtype=dtype)
        self.x = np.empty(2 * n * trials, dtype=dtype)
        self.y = np.empty(2 * n * trials, dtype=dtype)
        self.gather = np.empty(max(model.max_edges, 1) * trials, dtype=dtype)
        self.cur = np.empty(max(model.max_nodes, 1) * trials, dtype=dtype)
        self.node_work = np.empty(max(model.max_nodes, 1) * trials, dtype=dtype)
        self.block_rows = max(1, min(n, _BLOCK_ELEMENTS // max(trials, 1)))
        self.index = np.empty(self.block_rows * trials, dtype=np.intp)
        self.small_rows = max(1, min(n, _SMALL_BLOCK // max(trials, 1)))
        self.flags = np.empty(max(n, 1) * trials, dtype=bool)
        self.grouped = np.empty(max(model.group_rows.size, 1) * trials, dtype=dtype)


def _view(flat: AnyArray, rows: int, trials: int) -> AnyArray:
    return flat[: rows * trials].reshape(rows, trials)


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


class _Histogram:
    """Per-row counts of integer values across chunks; grows as trials reach new values."""

    def __init__(self) -> None:
        self.base: IntArray | None = None  # value of column 0, per row
        self.counts: AnyArray | None = None  # int32: trials <= 1,000,000

    def add(self, base: IntArray, counts: IntArray) -> None:
        """Add ``counts[r, j]`` trials with value ``base[r] + j`` (call under a lock)."""
        rows, width = counts.shape
        if self.base is None or self.counts is None:
            self.base, self.counts = base.copy(), counts.astype(np.int32)
            return
        old_width = self.counts.shape[1]
        new_base = np.minimum(self.base, base)
        new_width = int((np.maximum(self.base + old_width, base + width) - new_base).max())
        if new_width != old_width or not np.array_equal(new_base, self.base):
            grown = np.zeros((rows, new_width), dtype=np.int32)
            at = np.arange(rows)[:, None] * new_width + (self.base - new_base)[:, None]
            grown.ravel()[at + np.arange(old_width)] = self.counts
            self.base, self.counts = new_base, grown
        at = np.arange(rows)[:, None] * self.counts.shape[1] + (base - self.base)[:, None]
        self.counts.ravel()[at + np.arange(width)] += counts

    def quantile(self, q: float, trials: int) -> IntArray:
        """Per row, the smallest value with at least ``q`` of the trials on or before it."""
        assert self.base is not None and self.counts is not None
        need = max(1, math.ceil(q * trials - 1e-9))
        reached = np.cumsum(self.counts, axis=1, dtype=np.int64) >= need
        result: IntArray = self.base + np.argmax(reached, axis=1)
        return result

    def half_width(self, q: float, trials: int) -> FloatArray:
        """Per row, half the width of a 95 % confidence interval of the ``q`` quantile.

        Distribution-free, from order statistics: the quantile lies between the values of
        ranks ``N q -/+ 1.96 sqrt(N q (1 - q))`` with about 95 % confidence.
        """
        assert self.base is not None and self.counts is not None
        spread = 1.96 * math.sqrt(trials * q * (1 - q))
        low = max(1, math.floor(trials * q - spread))
        high = min(trials, math.ceil(trials * q + spread))
        running = np.cumsum(self.counts, axis=1, dtype=np.int64)
        first = np.argmax(running >= low, axis=1)
        last = np.argmax(running >= high, axis=1)
        result: FloatArray = (last - first) / 2
        return result

    def moments(self) -> tuple[FloatArray, FloatArray]:
        """Per row, the mean value and the (population) standard deviation over the trials."""
        assert self.base is not None and self.counts is not None
        columns = np.arange(self.counts.shape[1], dtype=np.float64)
        weights = self.counts.astype(np.float64)
        total = weights.sum(axis=1)
        offset = weights @ columns / total  # mean column: values relative to the base
        spread = weights @ (columns**2) / total - offset**2
        std: FloatArray = np.sqrt(np.maximum(spread, 0.0))
        mean: FloatArray = self.base + offset
        return mean, std

    def share_at_most(self, limit: IntArray, trials: int) -> FloatArray:
        """Per row, the share of trials with a value <= ``limit[r]``."""
        assert self.base is not None and self.counts is not None
        columns = np.arange(self.counts.shape[1])[None, :] + self.base[:, None]
        hits = np.where(columns <= limit[:, None], self.counts, 0).sum(axis=1)
        result: FloatArray = hits / trials
        return result


def _count(values: AnyArray, ws: _Workspace, block: int) -> tuple[IntArray, IntArray]:
    """Per-row histogram of an integer block: ``(low, counts)``, value = low[r] + column."""
    rows, trials = values.shape
    low = values.min(axis=1).astype(np.int64)
    width = int((values.max(axis=1).astype(np.int64) - low).max()) + 1
    counts = np.empty((rows, width), dtype=np.int64)
    step = max(1, min(block, ws.block_rows))
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        index = _view(ws.index, r1 - r0, trials)
        offsets = np.arange(r1 - r0, dtype=np.int64) * width - low[r0:r1]
        np.add(values[r0:r1], offsets[:, None], out=index)
        found = np.bincount(index.ravel(), minlength=(r1 - r0) * width)
        counts[r0:r1] = found.reshape(r1 - r0, width)
    return low, counts


@dataclass
class _Accumulator:
    """Results gathered across chunks: criticality counts and histograms of finishes."""

    critical: IntArray
    items: _Histogram = field(default_factory=_Histogram)
    groups: _Histogram = field(default_factory=_Histogram)
    project: _Histogram = field(default_factory=_Histogram)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _sample_work(
    model: _Model, seed: np.random.SeedSequence, work: AnyArray, ws: _Workspace
) -> None:
    """Fill ``work`` (rows x trials) with whole working days for every row."""
    duration_seed, risk_seed = seed.spawn(2)
    trials = work.shape[1]
    ns = model.n_sampled
    if ns:
        words = -(-ns * trials // 4)
        raw = np.random.PCG64(duration_seed).random_raw(words)
        uniform = raw.view(np.uint16)[: ns * trials].reshape(ns, trials)
        nl = model.n_lookup
        if nl:
            lookup = uniform[:nl]
            if model.k_shift:
                np.right_shift(lookup, model.k_shift, out=lookup)
            step = ws.block_rows
            for r0 in range(0, nl, step):
                r1 = min(nl, r0 + step)
                index = _view(ws.index, r1 - r0, trials)
                np.add(lookup[r0:r1], model.table_base[r0:r1, None], out=index)
                np.take(model.table, index, out=work[r0:r1], mode="clip")
        small = ws.small_rows
        for g in model.step_groups:
            for r0 in range(g.first, g.end, small):
                r1 = min(g.end, r0 + small)
                rows, draws = work[r0:r1], uniform[r0:r1]
                flags = _view(ws.flags, r1 - r0, trials)
                rows.fill(g.low)
                for position, rise in g.steps:
                    np.greater_equal(draws, position, out=flags)
                    if rise == 1:
                        np.add(rows, flags, out=rows, casting="unsafe")
                    else:
                        rows += flags * rise
    work[ns:] = model.work_const[:, None]
    if model.risk_rows.size:
        rng = np.random.Generator(np.random.PCG64(risk_seed))
        fired = rng.random((model.risk_prob.size, trials)) < model.risk_prob[:, None]
        extra = np.ceil(model.risk_impact @ fired - _EPS).astype(model.dtype)
        work[model.risk_rows] += extra


def _run_chunk(
    model: _Model,
    seed: np.random.SeedSequence,
    t0: int,
    t1: int,
    acc: _Accumulator,
    ws: _Workspace,
    timer: dict[str, float] | None = None,
) -> None:
    """Simulate trials ``t0..t1``; ``timer`` (benchmarks) collects seconds per phase."""
    n, trials = model.n, t1 - t0
    clock = _Clock(timer)
    work = _view(ws.w, n, trials)
    _sample_work(model, seed, work, ws)
    clock.mark("sampling")

    # forward pass
    block = _view(ws.x, 2 * n, trials)
    es, ef = block[:n], block[n:]
    es[:] = model.start_init[:, None]
    np.add(es, work, out=ef)
    _pass(block, work, model.fwd, ws)
    finish = ef.max(axis=0)
    clock.mark("forward pass")

    # backward pass from each trial's own finish (open rows only)
    nl = model.n_live
    back = _view(ws.y, 2 * n, trials)
    ls, lf = back[:n], back[n:]
    lf[:nl] = finish[None, :]
    np.subtract(lf[:nl], work[:nl], out=ls[:nl])
    ls[nl:] = es[nl:]
    lf[nl:] = ef[nl:]
    _pass(back, work, model.bwd, ws, finish[None, :])
    flags = _view(ws.flags, nl, trials)
    np.equal(ls[:nl], es[:nl], out=flags)
    critical = np.add.reduce(flags.view(np.uint8), axis=1, dtype=np.int64)
    clock.mark("backward pass + criticality")

    # Finish as shown (plan._milestone_shift): ef - 1, except an open zero-duration item at
    # its start floor, shown on its own day (= ef). ``ef`` becomes "shown + 1" in place;
    # every histogram below takes the 1 off its base.
    if model.zero_rows.size:
        z = model.zero_rows
        at_floor = (work[z] == 0) & (es[z] <= model.lower[z][:, None])
        ef[z] += at_floor.astype(model.dtype)
        finish = np.maximum(finish, ef[z].max(axis=0))
    project = np.maximum(finish, 1)[None, :]  # the plan shows the project finish >= day 0
    project_low, project_counts = _count(project, ws, 1)
    group_low = group_counts = None
    if model.group_cuts:
        grouped = _view(ws.grouped, model.group_rows.size, trials)
        np.take(ef, model.group_rows, axis=0, out=grouped, mode="clip")
        finishes = np.empty((len(model.group_cuts), trials), dtype=model.dtype)
        for c, (_g, a, b) in enumerate(model.group_cuts):
            np.max(grouped[a:b], axis=0, out=finishes[c])
        np.maximum(finishes, 1, out=finishes)
        group_low, group_counts = _count(finishes, ws, _HIST_ROWS)
    clock.mark("shown finishes, groups")
    item_low, item_counts = _count(ef, ws, _HIST_ROWS)
    clock.mark("P80 histogram")

    with acc.lock:
        acc.critical[:nl] += critical
        acc.items.add(item_low - 1, item_counts)
        acc.project.add(project_low - 1, project_counts)
        if group_low is not None and group_counts is not None:
            acc.groups.add(group_low - 1, group_counts)
    clock.mark("merge")


class _Clock:
    """Phase timer (CPU seconds of this thread) for the benchmark; inert without a dict."""

    def __init__(self, timer: dict[str, float] | None) -> None:
        self.timer = timer
        self.last = time.thread_time() if timer is not None else 0.0

    def mark(self, phase: str) -> None:
        if self.timer is not None:
            now = time.thread_time()
            self.timer[phase] = self.timer.get(phase, 0.0) + now - self.last
            self.last = now


# ------------------------------------------------------------------------- simulate


def chunk_size(items: int) -> int:
    """Trials per chunk: about 8M item-trials, a power of two in 256..4096."""
    target = _CHUNK_ELEMENTS // max(items, 1)
    size = _MIN_CHUNK
    while size * 2 <= min(target, _MAX_CHUNK):
        size *= 2
    return size


def sample_work(
    snapshot: Snapshot,
    net: Network,
    settings: Settings,
    *,
    trials: int,
    seed: int | None = None,
    distribution: Distribution | None = None,
) -> IntArray:
    """The work (whole working days) each trial of :func:`simulate` gives every item.

    ``(items, trials)`` in network order: remaining work for items in progress, risk
    impacts included, the actual days of closed items — the same draws as ``simulate``
    with the same seed.
    """
    dist: Distribution = distribution if distribution is not None else settings.risk.distribution
    the_seed = seed if seed is not None else settings.risk.seed
    model, _ = _build_model(snapshot, net, settings, dist, None)
    size = chunk_size(model.n)
    ws = _Workspace(model, size)
    out = np.zeros((model.n, trials), dtype=np.int64)
    seeds = np.random.SeedSequence(the_seed).spawn(-(-trials // size))
    for c, t0 in enumerate(range(0, trials, size)):
        t1 = min(trials, t0 + size)
        work = _view(ws.w, model.n, t1 - t0)
        _sample_work(model, seeds[c], work, ws)
        out[model.perm, t0:t1] = work
    return out[: len(net.keys)]  # hub nodes are not items


def _checkpoints(chunks: int, size: int) -> list[int]:
    """Chunk counts after which stability is checked: trials 512, 1024, 2048, ... and all."""
    points: list[int] = []
    trials = _FIRST_CHECK
    while True:
        count = min(chunks, -(-trials // size))
        if not points or count > points[-1]:
            points.append(count)
        if count == chunks:
            return points
        trials *= 2


def _stable(acc: _Accumulator, trials: int, precision: float) -> bool:
    """True when every project and group P50/P80/P95 is known to ``precision`` days."""
    if precision <= 0:
        return False
    for histogram in (acc.project, acc.groups):
        if histogram.counts is None:
            continue
        for q in _FORECAST_QUANTILES:
            if float(histogram.half_width(q, trials).max(initial=0.0)) > precision:
                return False
    return True


def _nearest(value: float) -> int:
    """The nearest whole working day (halves round up, not to even)."""
    return math.floor(value + 0.5)


def _last_index(cal: WorkCalendar, due: dt.date | None) -> int:
    """Index of the last working day on or before ``due`` (0 without a due date)."""
    return cal.finish_bound(due) - 1 if due is not None else 0


def simulate(
    snapshot: Snapshot,
    net: Network,
    settings: Settings,
    *,
    trials: int | None = None,
    seed: int | None = None,
    distribution: Distribution | None = None,
    level: IntArray | None = None,
    workers: int | None = None,
    stop_when_stable: bool = False,
) -> SimulationResult:
    """Run the Monte Carlo simulation of ``net`` (compiled from ``snapshot``).

    ``trials``, ``seed`` and ``distribution`` default to ``settings.risk``; ``level`` is the
    topological level of each network node when already known (``Schedule.levels.level``);
    ``workers`` threads run chunks in parallel (default: up to 4, the CPUs available) and do
    not change the result. ``stop_when_stable``: ``trials`` is a maximum; the simulation
    stops once every P50/P80/P95 finish of the project and the milestones is known to
    ``risk.precision_days`` (``SimulationResult.trials`` says how many ran).
    """
    risk = settings.risk
    n_trials = trials if trials is not None else risk.trials
    if n_trials < 1:
        raise ValueError("trials must be at least 1")
    the_seed = seed if seed is not None else risk.seed
    dist: Distribution = distribution if distribution is not None else risk.distribution
    milestone_members: dict[str, list[int]] = {m.key: [] for m in snapshot.milestones}
    index = {key: i for i, key in enumerate(net.keys)}
    for item in snapshot.items:
        if item.milestone in milestone_members and item.key in index:
            milestone_members[item.milestone].append(index[item.key])
    summary_keys = [key for key, leaves in net.summaries.items() if leaves]
    groups = [*milestone_members.values(), *(net.summaries[key] for key in summary_keys)]
    model, default_spread = _build_model(snapshot, net, settings, dist, level, groups)
    n = model.n
    cal = net.calendar

    size = chunk_size(n)
    chunks = [(t0, min(n_trials, t0 + size)) for t0 in range(0, n_trials, size)]
    seeds = np.random.SeedSequence(the_seed).spawn(len(chunks))
    acc = _Accumulator(critical=np.zeros(n, dtype=np.int64))
    threads = workers if workers is not None else min(4, os.cpu_count() or 1)
    threads = max(1, min(threads, len(chunks)))
    local = threading.local()
    precision = risk.precision_days if stop_when_stable else 0.0
    # Stability is checked after 512, 1024, 2048, ... trials (rounded up to whole chunks,
    # never depending on the threads), so the trials used, like the draws, depend only on
    # the snapshot, settings and seed; doubling keeps the checks' cost a small share.
    checks = _checkpoints(len(chunks), size) if precision > 0 else [len(chunks)]

    def run(c: int) -> None:
        ws = getattr(local, "ws", None)
        if ws is None:
            ws = _Workspace(model, size)
            local.ws = ws
        _run_chunk(model, seeds[c], chunks[c][0], chunks[c][1], acc, ws)

    done = 0
    if n:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for upto in checks:
                if threads == 1:
                    for c in range(done, upto):
                        run(c)
                else:
                    list(pool.map(run, range(done, upto)))
                done = upto
                if done < len(chunks) and _stable(acc, chunks[done - 1][1], precision):
                    break
        n_trials = chunks[done - 1][1]

    # per item: criticality and P80 finish (back to network order)
    criticality = np.zeros(n, dtype=np.float64)
    criticality[model.perm] = acc.critical / n_trials
    p80_idx = np.zeros(n, dtype=np.int64)
    if n:
        p80_idx[model.perm] = acc.items.quantile(0.8, n_trials)
    leaves = len(net.keys)  # hub nodes follow the leaves and are not reported
    criticality, p80_idx = criticality[:leaves], p80_idx[:leaves]

    # groups (milestones, then summary items) and the project
    by_key = snapshot.item_map()
    dues = [m.due for m in snapshot.milestones] + [by_key[k].due for k in summary_keys]
    found = [Forecast(None, None, None, None, due) for due in dues]
    rows = [g for g, _first, _end in model.group_cuts]
    quantiles: list[IntArray] = []
    if rows and n:
        quantiles = [acc.groups.quantile(q, n_trials) for q in _FORECAST_QUANTILES]
        limits = np.array([_last_index(cal, dues[g]) for g in rows], dtype=np.int64)
        on_time = acc.groups.share_at_most(limits, n_trials)
        means, stds = acc.groups.moments()
        for r, g in enumerate(rows):
            p50, p80, p95 = (cal.date(int(q[r])) for q in quantiles)
            chance = float(on_time[r]) if dues[g] is not None else None
            mean = cal.date(_nearest(means[r]))
            found[g] = Forecast(p50, p80, p95, chance, dues[g], mean, float(stds[r]))
    count_m = len(snapshot.milestones)
    milestones = dict(zip([m.key for m in snapshot.milestones], found[:count_m], strict=True))
    summaries = dict(zip(summary_keys, found[count_m:], strict=True))
    project_due = max((m.due for m in snapshot.milestones if m.due is not None), default=None)
    project = Forecast(None, None, None, None, project_due)
    histogram: list[tuple[dt.date, int]] = []
    if n and acc.project.base is not None and acc.project.counts is not None:
        p50, p80, p95 = (
            cal.date(int(acc.project.quantile(q, n_trials)[0])) for q in _FORECAST_QUANTILES
        )
        chance = None
        if project_due is not None:
            limit = np.array([cal.finish_bound(project_due) - 1])
            chance = float(acc.project.share_at_most(limit, n_trials)[0])
        means, stds = acc.project.moments()
        mean = cal.date(_nearest(means[0]))
        project = Forecast(p50, p80, p95, chance, project_due, mean, float(stds[0]))
        counts = acc.project.counts[0]
        days = np.flatnonzero(counts)
        shown = cal.dates(acc.project.base[0] + days)
        histogram = list(zip(shown, counts[days].tolist(), strict=True))
    wanted = sorted(set(p80_idx.tolist()))
    dates = dict(zip(wanted, cal.dates(np.array(wanted, dtype=np.int64)), strict=True))
    return SimulationResult(
        trials=n_trials,
        seed=the_seed,
        distribution=dist,
        keys=list(net.keys),
        criticality=criticality,
        p80_finish=[dates[i] for i in p80_idx.tolist()],
        project=project,
        milestones=milestones,
        summaries=summaries,
        default_spread_items=default_spread,
        finish_histogram=histogram,
    )
