"""Three-point duration distributions (PERT, triangular) and samplers of them in ticks.

A sampled duration is rounded to the *nearest* tick (a working hour at a whole number of
hours a day, see :func:`network.ticks_per_day`), not up: rounding up adds half a tick to the
mean of every activity, which a chain of many small items accumulates (a whole day per item
when ticks were days). Rounding to the nearest keeps the mean of a serial chain the sum of
its activities' means. An estimate without spread is not sampled: it takes the plan's work
(rounded up like every estimate), so a simulation without spread reproduces the plan.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from tracker_bridge.model import WorkItem
from tracker_bridge.planner.montecarlo.arrays import FloatArray, IntArray
from tracker_bridge.planner.network import remaining_work
from tracker_bridge.settings import Settings

Distribution = Literal["pert", "triangular"]

_EPS = 1e-9  # the tolerance network.duration_ticks uses before rounding up


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


def nearest_tick(hours: float, tick_hours: float) -> int:
    """The nearest whole tick (halves up) of a sampled duration of ``hours``, at least one."""
    return max(1, math.floor(hours / tick_hours + 0.5))


def tick_thresholds(
    distribution: Distribution,
    params: Sequence[tuple[float, float, float, int]],
    tick_hours: float,
) -> list[tuple[int, FloatArray]]:
    """Per ``(a, m, b, done)`` row (hours, ``a < b``): ``(kmin, P(D <= k) for k >= kmin)``.

    ``D`` is the duration in ticks of ``tick_hours``, rounded to the nearest
    (:func:`nearest_tick`); ``D <= k`` exactly when ``x < (k + 1/2) * tick_hours``, so the
    thresholds are CDF values.
    """
    lows = [nearest_tick(a, tick_hours) for a, _m, _b, _done in params]
    highs = [
        max(low, nearest_tick(b, tick_hours))
        for low, (_a, _m, b, _d) in zip(lows, params, strict=True)
    ]
    counts = np.array([high - low for low, high in zip(lows, highs, strict=True)], np.int64)
    rows = np.repeat(np.arange(len(params)), counts)
    cuts = np.zeros(len(params) + 1, dtype=np.int64)
    np.cumsum(counts, out=cuts[1:])
    cdf = np.zeros(0)
    if rows.size:
        abm = np.array([p[:3] for p in params], dtype=np.float64)[rows]
        k = np.arange(rows.size) - cuts[rows] + np.array(lows, dtype=np.int64)[rows]
        x: FloatArray = ((k + 0.5) * tick_hours).astype(np.float64)
        cdf = three_point_cdf(distribution, abm[:, 0], abm[:, 1], abm[:, 2], x)
    return [(lows[r], cdf[cuts[r] : cuts[r + 1]]) for r in range(len(params))]


def _positions(cdf: FloatArray, bits: int) -> IntArray:
    """Index of the first of ``2**bits`` equally likely points ``(j + 0.5) / 2**bits`` above
    each threshold: ``D(j) = kmin + #{k : position_k <= j}``."""
    size = 1 << bits
    first: IntArray = np.clip(np.floor(cdf * size + 0.5), 0, size).astype(np.int64)
    return first


def duration_table(low: int, cdf: FloatArray, done_ratio: int, k_bits: int) -> IntArray:
    """Quantile table of work in ticks: entry ``j`` for ``u = (j + 0.5) / 2**k_bits``."""
    size = 1 << k_bits
    diff = np.zeros(size + 1, dtype=np.int64)
    np.add.at(diff, _positions(cdf, k_bits), 1)
    return remaining_work(low + np.cumsum(diff[:size]), done_ratio)


def duration_steps(low: int, cdf: FloatArray, done_ratio: int) -> tuple[int, list[tuple[int, int]]]:
    """Work in ticks as ``low + sum(rise for (position, rise) if u16 >= position)`` for a
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
