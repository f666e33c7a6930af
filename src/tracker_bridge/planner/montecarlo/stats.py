"""Statistics across chunks: histograms of finishes, percentiles and the stopping rule."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import numpy as np

from tracker_bridge.planner.montecarlo.arrays import AnyArray, FloatArray, IntArray
from tracker_bridge.planner.montecarlo.arrays import view as _view
from tracker_bridge.planner.montecarlo.workspace import _Workspace

_FIRST_CHECK = 512  # trials before the first check of stability (stop_when_stable)
_FORECAST_QUANTILES = (0.5, 0.8, 0.95)
_QUANTILE_ROWS = 4096  # rows at a time when a whole histogram is read or moved
_SPARE = 8  # at least this many columns (and a quarter more) added on a side that grows


class _Histogram:
    """Per-row counts of integer values across chunks; grows as trials reach new values."""

    def __init__(self) -> None:
        self.base: IntArray | None = None  # value of column 0, per row
        self.counts: AnyArray | None = None  # int32: trials <= 1,000,000

    def add(self, base: IntArray, counts: IntArray) -> None:
        """Add ``counts[r, j]`` trials with value ``base[r] + j`` (call under a lock)."""
        self._cover(base, base + counts.shape[1] - 1, 0)
        self._add_rows(0, base, counts)

    def count(
        self, values: AnyArray, shift: int, ws: _Workspace, block: int, lock: threading.Lock
    ) -> None:
        """Add a chunk: per row, one trial at each value ``values[r, t] + shift``.

        For many rows (every item): blocks of rows are counted straight in this histogram's
        layout, outside ``lock``, and added as they are, rather than as a per-chunk
        histogram shifted row by row. The layout grows with room to spare, so that the
        next chunks mostly fit.
        """
        rows, trials = values.shape
        low = values.min(axis=1).astype(np.int64) + shift
        high = values.max(axis=1).astype(np.int64) + shift
        with lock:
            now = self.counts.shape[1] if self.counts is not None else int((high - low).max()) + 1
            self._cover(low, high, max(_SPARE, now // 4))
            base, counts = self.base, self.counts
        assert base is not None and counts is not None
        width = counts.shape[1]
        step = max(1, min(block, ws.block_rows))
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            index = _view(ws.index, r1 - r0, trials)
            offsets = np.arange(r1 - r0, dtype=np.int64) * width - base[r0:r1] + shift
            np.add(values[r0:r1], offsets[:, None], out=index)
            found = np.bincount(index.ravel(), minlength=(r1 - r0) * width)
            found = found.reshape(r1 - r0, width)
            with lock:
                if self.counts is counts:
                    counts[r0:r1] += found
                else:  # another thread grew the layout since
                    self._add_rows(r0, base[r0:r1], found)

    def _cover(self, low: IntArray, high: IntArray, spare: int) -> None:
        """Grow the layout to hold values ``low[r]..high[r]`` of every row, with ``spare``
        columns more on a side that grows (call under a lock)."""
        if self.base is None or self.counts is None:
            self.base = low - spare
            width = int((high - low).max(initial=0)) + 1 + 2 * spare
            self.counts = np.zeros((low.size, width), dtype=np.int32)
            return
        rows, old_width = self.counts.shape
        end = self.base + old_width  # exclusive, per row
        if not ((low < self.base).any() or (high >= end).any()):
            return
        new_base = np.where(low < self.base, low - spare, self.base)
        new_end = np.where(high >= end, high + 1 + spare, end)
        new_width = int((new_end - new_base).max())
        grown = np.zeros((rows, new_width), dtype=np.int32)
        shift = self.base - new_base
        for r0 in range(0, rows, _QUANTILE_ROWS):  # blocks: the flat index is 8 bytes a count
            r1 = min(rows, r0 + _QUANTILE_ROWS)
            at = np.arange(r1 - r0)[:, None] * new_width + shift[r0:r1, None]
            grown[r0:r1].ravel()[at + np.arange(old_width)] = self.counts[r0:r1]
        self.base, self.counts = new_base, grown

    def _add_rows(self, r0: int, base: IntArray, counts: IntArray) -> None:
        """Add ``counts`` (rows ``r0``...) with values from ``base[r]`` to the layout."""
        assert self.base is not None and self.counts is not None
        rows, width = counts.shape
        full = self.counts.shape[1]
        shift = base - self.base[r0 : r0 + rows]
        if rows == self.counts.shape[0] and width == full and not shift.any():
            self.counts += counts
            return
        at = np.arange(r0, r0 + rows)[:, None] * full + shift[:, None]
        self.counts.ravel()[at + np.arange(width)] += counts

    def quantile(self, q: float, trials: int) -> IntArray:
        """Per row, the smallest value with at least ``q`` of the trials on or before it."""
        assert self.base is not None and self.counts is not None
        need = max(1, math.ceil(q * trials - 1e-9))
        result: IntArray = self.base.copy()
        step = _QUANTILE_ROWS
        for r0 in range(0, result.size, step):
            reached = np.cumsum(self.counts[r0 : r0 + step], axis=1, dtype=np.int64) >= need
            result[r0 : r0 + step] += np.argmax(reached, axis=1)
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


def _merge(acc: _Accumulator, other: _Accumulator) -> None:
    """Add what ``other`` gathered to ``acc`` (no chunk may be running into either)."""
    acc.critical += other.critical
    for mine, theirs in (
        (acc.items, other.items),
        (acc.groups, other.groups),
        (acc.project, other.project),
    ):
        if theirs.base is not None and theirs.counts is not None:
            mine.add(theirs.base, theirs.counts)


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
