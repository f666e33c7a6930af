"""The public entry points: :func:`simulate` and :func:`sample_work`, and their results."""

from __future__ import annotations

import datetime as dt
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from tracker_bridge.model import Snapshot
from tracker_bridge.planner.calendar import WorkCalendar
from tracker_bridge.planner.montecarlo.arrays import FloatArray, IntArray
from tracker_bridge.planner.montecarlo.arrays import view as _view
from tracker_bridge.planner.montecarlo.chunk import _run_chunk, _sample_work, chunk_size
from tracker_bridge.planner.montecarlo.distributions import Distribution
from tracker_bridge.planner.montecarlo.model import _build_model, _Model
from tracker_bridge.planner.montecarlo.stats import (
    _FORECAST_QUANTILES,
    _Accumulator,
    _checkpoints,
    _merge,
    _nearest,
    _stable,
)
from tracker_bridge.planner.montecarlo.workspace import _Workspace
from tracker_bridge.planner.network import Network
from tracker_bridge.settings import Settings


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


def sample_work(
    snapshot: Snapshot,
    net: Network,
    settings: Settings,
    *,
    trials: int,
    seed: int | None = None,
    distribution: Distribution | None = None,
) -> IntArray:
    """The work (in ticks, ``net.ticks_per_day`` a day) each trial of :func:`simulate`
    gives every item.

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
    summary_keys, groups = _groups(snapshot, net)
    model, default_spread = _build_model(snapshot, net, settings, dist, level, groups)
    precision = risk.precision_days if stop_when_stable else 0.0
    acc, n_trials = _run_trials(model, n_trials, the_seed, workers, precision)
    criticality, p80_idx = _per_item(model, acc, n_trials, len(net.keys))
    milestones, summaries = _group_forecasts(snapshot, net, summary_keys, model, acc, n_trials)
    project, histogram = _project_forecast(snapshot, net.calendar, model.n, acc, n_trials)
    wanted = sorted(set(p80_idx.tolist()))
    dates = dict(zip(wanted, net.calendar.dates(np.array(wanted, dtype=np.int64)), strict=True))
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


def _groups(snapshot: Snapshot, net: Network) -> tuple[list[str], list[list[int]]]:
    """The summary items with leaves, and the network indices of every group whose finish is
    forecast: the milestones' members (in milestone order), then the summaries' leaves."""
    milestone_members: dict[str, list[int]] = {m.key: [] for m in snapshot.milestones}
    index = {key: i for i, key in enumerate(net.keys)}
    for item in snapshot.items:
        if item.milestone in milestone_members and item.key in index:
            milestone_members[item.milestone].append(index[item.key])
    summary_keys = [key for key, leaves in net.summaries.items() if leaves]
    groups = [*milestone_members.values(), *(net.summaries[key] for key in summary_keys)]
    return summary_keys, groups


def _run_trials(
    model: _Model, n_trials: int, seed: int, workers: int | None, precision: float
) -> tuple[_Accumulator, int]:
    """Run the chunks on a thread pool, stopping early once stable (``precision > 0``);
    returns what they gathered and the number of trials that ran."""
    n = model.n
    size = chunk_size(n)
    chunks = [(t0, min(n_trials, t0 + size)) for t0 in range(0, n_trials, size)]
    seeds = np.random.SeedSequence(seed).spawn(len(chunks))
    acc = _Accumulator(critical=np.zeros(n, dtype=np.int64))
    threads = workers if workers is not None else min(4, os.cpu_count() or 1)
    threads = max(1, min(threads, len(chunks)))
    local = threading.local()
    # Stability is checked after 512, 1024, 2048, ... trials (rounded up to whole chunks,
    # never depending on the threads), so the trials used, like the draws, depend only on
    # the snapshot, settings and seed; doubling keeps the checks' cost a small share.
    checks = _checkpoints(len(chunks), size) if precision > 0 else [len(chunks)]

    def run(c: int, into: _Accumulator) -> None:
        ws = getattr(local, "ws", None)
        if ws is None:
            ws = _Workspace(model, size)
            local.ws = ws
        _run_chunk(model, seeds[c], chunks[c][0], chunks[c][1], into, ws)

    if not n:
        return acc, n_trials
    done = ran = 0  # chunks counted in acc; chunks run (some may be ahead)
    ahead: _Accumulator | None = None
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for k, upto in enumerate(checks):
            if ahead is not None:  # not stable yet: the chunks run ahead count
                _merge(acc, ahead)
            own = range(ran, upto)
            # Threads this check leaves idle run the next check's first chunks meanwhile,
            # into their own accumulator, dropped if the forecasts are stable here: acc
            # always holds the chunks before the check, whatever the threads.
            following = checks[k + 1] if k + 1 < len(checks) else upto
            extra = range(upto, min(following, upto + (threads - len(own) if own else 0)))
            ahead = _Accumulator(critical=np.zeros_like(acc.critical)) if extra else None
            jobs = [pool.submit(run, c, acc) for c in own]
            jobs += [pool.submit(run, c, ahead) for c in extra if ahead is not None]
            for job in jobs:
                job.result()
            done, ran = upto, max(upto, extra.stop)
            if done < len(chunks) and _stable(acc, chunks[done - 1][1], precision):
                break
    return acc, chunks[done - 1][1]


def _per_item(
    model: _Model, acc: _Accumulator, n_trials: int, leaves: int
) -> tuple[FloatArray, IntArray]:
    """Criticality and P80 finish index of every leaf, back in network order (the hub nodes
    follow the leaves and are not reported)."""
    n = model.n
    criticality = np.zeros(n, dtype=np.float64)
    criticality[model.perm] = acc.critical / n_trials
    p80_idx = np.zeros(n, dtype=np.int64)
    if n:
        p80_idx[model.perm] = acc.items.quantile(0.8, n_trials)
    return criticality[:leaves], p80_idx[:leaves]


def _group_forecasts(
    snapshot: Snapshot,
    net: Network,
    summary_keys: list[str],
    model: _Model,
    acc: _Accumulator,
    n_trials: int,
) -> tuple[dict[str, Forecast], dict[str, Forecast]]:
    """Forecasts of the milestones and the summary items (groups in ``_groups`` order)."""
    cal = net.calendar
    by_key = snapshot.item_map()
    dues = [m.due for m in snapshot.milestones] + [by_key[k].due for k in summary_keys]
    found = [Forecast(None, None, None, None, due) for due in dues]
    rows = [g for g, _first, _end in model.group_cuts]
    if rows and model.n:
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
    return milestones, summaries


def _project_forecast(
    snapshot: Snapshot, cal: WorkCalendar, n: int, acc: _Accumulator, n_trials: int
) -> tuple[Forecast, list[tuple[dt.date, int]]]:
    """The project's forecast (on time = by the latest milestone due date) and the
    histogram of its finish dates."""
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
    return project, histogram
