"""One chunk of trials: sample the work, run both passes, count criticality and finishes."""

from __future__ import annotations

import time

import numpy as np

from tracker_bridge.planner.montecarlo.arrays import AnyArray
from tracker_bridge.planner.montecarlo.arrays import view as _view
from tracker_bridge.planner.montecarlo.distributions import _EPS
from tracker_bridge.planner.montecarlo.model import _Model
from tracker_bridge.planner.montecarlo.passes import _pass
from tracker_bridge.planner.montecarlo.stats import _Accumulator, _count
from tracker_bridge.planner.montecarlo.workspace import _Workspace

_CHUNK_ELEMENTS = 16_000_000  # items x trials per chunk (bounds memory per worker)
_MIN_CHUNK, _MAX_CHUNK = 256, 4096
_HIST_ROWS = 256  # rows per histogram block (its bins stay in cache)


def chunk_size(items: int) -> int:
    """Trials per chunk: about 8M item-trials, a power of two in 256..4096."""
    target = _CHUNK_ELEMENTS // max(items, 1)
    size = _MIN_CHUNK
    while size * 2 <= min(target, _MAX_CHUNK):
        size *= 2
    return size


def _sample_work(
    model: _Model, seed: np.random.SeedSequence, work: AnyArray, ws: _Workspace
) -> None:
    """Fill ``work`` (rows x trials) with the work of every row, in ticks."""
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
    block, finish = _forward(model, work, ws)
    es, ef = block[:n], block[n:]
    clock.mark("forward pass")
    critical = _criticality(model, block, finish, work, ws)
    clock.mark("backward pass + criticality")

    # Finish as shown (plan.milestone_shift): the day of tick ef - 1, except an open
    # zero-duration item at its start floor, shown on the day of its own tick (ef). ``ef``
    # becomes "shown day + 1" in place; every histogram below takes the 1 off its base.
    if model.zero_rows.size:
        z = model.zero_rows
        at_floor = (work[z] == 0) & (es[z] <= model.lower[z][:, None])
        ef[z] += at_floor.astype(model.dtype)
        finish = np.maximum(finish, ef[z].max(axis=0))
    finish = _shown_days(model, ef, finish)
    project = np.maximum(finish, 1)[None, :]  # the plan shows the project finish >= day 0
    project_low, project_counts = _count(project, ws, 1)
    group_low = group_counts = None
    if model.group_cuts:
        group_low, group_counts = _count(_group_finishes(model, ef, ws), ws, _HIST_ROWS)
    clock.mark("shown finishes, groups")
    acc.items.count(ef, -1, ws, _HIST_ROWS, acc.lock)
    clock.mark("P80 histogram")

    with acc.lock:
        acc.critical[: model.n_live] += critical
        acc.project.add(project_low - 1, project_counts)
        if group_low is not None and group_counts is not None:
            acc.groups.add(group_low - 1, group_counts)
    clock.mark("merge")


def _shown_days(model: _Model, ef: AnyArray, finish: AnyArray) -> AnyArray:
    """Finish ticks (+1 at a floor) -> shown day + 1: the day of the last tick worked, + 1.

    ``ef`` is rounded up to whole days in place; returns ``finish`` rounded up likewise.
    """
    per_day = model.ticks_per_day
    if per_day == 1:
        return finish
    ef += per_day - 1
    ef //= per_day
    rounded: AnyArray = (finish + (per_day - 1)) // per_day
    return rounded


def _forward(model: _Model, work: AnyArray, ws: _Workspace) -> tuple[AnyArray, AnyArray]:
    """The forward pass: the stacked (early start, early finish) block and each trial's
    finish (the latest early finish)."""
    n, trials = work.shape
    block = _view(ws.x, 2 * n, trials)
    es, ef = block[:n], block[n:]
    es[:] = model.start_init[:, None]
    np.add(es, work, out=ef)
    _pass(block, work, model.fwd, ws)
    return block, ef.max(axis=0)


def _criticality(
    model: _Model, early: AnyArray, finish: AnyArray, work: AnyArray, ws: _Workspace
) -> AnyArray:
    """The backward pass from each trial's own finish (open rows only); per open row, the
    number of trials in which it has zero float."""
    n, trials = work.shape
    es, ef = early[:n], early[n:]
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
    critical: AnyArray = np.add.reduce(flags.view(np.uint8), axis=1, dtype=np.int64)
    return critical


def _group_finishes(model: _Model, ef: AnyArray, ws: _Workspace) -> AnyArray:
    """Per group (milestone, summary) and trial, the latest shown finish (+ 1) of its rows."""
    trials = ef.shape[1]
    grouped = _view(ws.grouped, model.group_rows.size, trials)
    np.take(ef, model.group_rows, axis=0, out=grouped, mode="clip")
    finishes = np.empty((len(model.group_cuts), trials), dtype=model.dtype)
    for c, (_g, a, b) in enumerate(model.group_cuts):
        np.max(grouped[a:b], axis=0, out=finishes[c])
    np.maximum(finishes, 1, out=finishes)
    return finishes


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
