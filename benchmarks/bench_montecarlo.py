"""Benchmark the Monte Carlo schedule simulation: 10,000 trials x 10,000 items.

    python benchmarks/bench_montecarlo.py            # prints the figures

The networks are ``bench_planner.random_snapshot``'s (about 1.5 relations per item of all four
types, lags -2..5 working days, a Mon-Fri calendar with holidays) in both shapes: ``wide``
(shallow) and ``deep`` (long chains, hundreds of levels). Every open item gets the default
spread (0.8x / 1.5x its estimate, PERT), and 20 risks threaten 5 items each.

"simulate" is the whole ``montecarlo.simulate`` call on an already compiled network: quantile
tables and level plans, sampling, forward and backward passes of every trial, criticality,
per-item P80 and the project percentiles — wall-clock seconds (best of ``--repeats``) and
the CPU seconds it used (all threads). The phase table is a separate single-thread run of
the same chunks, in CPU seconds of that thread, to show what dominates.

The machine's load average is printed too: on a shared machine, wall-clock figures are only
as good as the CPU time the benchmark actually got.

Target: 10,000 trials x 10,000 items in <= 2 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from bench_planner import START, random_snapshot, settings

from tracker_bridge.model import Risk, Snapshot
from tracker_bridge.planner import montecarlo
from tracker_bridge.planner.cpm import run_passes
from tracker_bridge.planner.network import Network, compile_network


def with_risks(n: int, window: int | None, risks: int = 20) -> Snapshot:
    """``random_snapshot`` plus a risk register."""
    snap = random_snapshot(n, window)
    rng = np.random.default_rng(3)
    snap.risks = [
        Risk(
            key=f"R{r}",
            probability=float(rng.uniform(0.05, 0.5)),
            impact_days=float(rng.integers(1, 6)),
            threatens=[f"T{int(i)}" for i in rng.choice(n, 5, replace=False)],
        )
        for r in range(risks)
    ]
    return snap


def phases(snap: Snapshot, net: Network, level: np.ndarray, trials: int) -> dict[str, float]:
    """CPU seconds per phase of a single-thread run of the same simulation."""
    cfg = settings()
    model, _ = montecarlo._build_model(snap, net, cfg, "pert", level)
    size = montecarlo.chunk_size(model.n)
    ws = montecarlo._Workspace(model, size)
    acc = montecarlo._Accumulator(critical=np.zeros(model.n, dtype=np.int64))
    totals: dict[str, float] = {}
    seeds = np.random.SeedSequence(1).spawn(-(-trials // size))
    for c, t0 in enumerate(range(0, trials, size)):
        montecarlo._run_chunk(model, seeds[c], t0, min(trials, t0 + size), acc, ws, totals)
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=None, help="default: up to 4 CPUs")
    args = parser.parse_args()
    cfg = settings()
    workers = args.workers or min(4, os.cpu_count() or 1)
    chunk = montecarlo.chunk_size(args.items)
    print(
        f"{args.trials:,} trials x {args.items:,} items = {args.trials * args.items:.0e} "
        f"item-trials; {os.cpu_count()} CPUs, {workers} worker thread(s), "
        f"{chunk} trials per chunk, numpy {np.__version__}"
    )
    print("load average before: " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + "\n")
    header = (
        f"{'shape':6} {'levels':>6} {'dtype':>5} {'simulate':>9} {'median':>7} "
        f"{'CPU':>6} {'item-trials/s':>13}  P50 / P80 / P95 finish"
    )
    print(header)
    print("-" * len(header))
    split: dict[str, dict[str, float]] = {}
    for shape, window in (("wide", None), ("deep", 50)):
        snap = with_risks(args.items, window)
        net = compile_network(snap, cfg, START)
        levels = run_passes(net).levels
        walls, cpus = [], []
        result = None
        for _ in range(args.repeats):
            c0, t0 = time.process_time(), time.perf_counter()
            result = montecarlo.simulate(
                snap, net, cfg, trials=args.trials, level=levels.level, workers=args.workers
            )
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        assert result is not None
        best = min(walls)
        model, _ = montecarlo._build_model(snap, net, cfg, "pert", levels.level)
        print(
            f"{shape:6} {levels.depth:>6} {np.dtype(model.dtype).name:>5} {best:>8.2f}s "
            f"{statistics.median(walls):>6.2f}s {min(cpus):>5.2f}s "
            f"{args.items * args.trials / best:>13.3g}  "
            f"{result.project.p50} / {result.project.p80} / {result.project.p95}"
        )
        split[shape] = phases(snap, net, levels.level, args.trials)

    print("\nphases, CPU seconds of one thread (same trials, no pool):")
    names = list(split["wide"])
    print(f"  {'phase':30} {'wide':>7} {'deep':>7}")
    for name in names:
        print(f"  {name:30} {split['wide'][name]:>6.2f}s {split['deep'].get(name, 0):>6.2f}s")
    total_w, total_d = sum(split["wide"].values()), sum(split["deep"].values())
    print(f"  {'total':30} {total_w:>6.2f}s {total_d:>6.2f}s")
    print("load average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print("\nTarget: 10,000 trials x 10,000 items in <= 2 s (best of --repeats runs).")
    stopping(args.items, args.trials, args.repeats)


def stopping(items: int, trials: int, repeats: int) -> None:
    """The risk overlay's run: at most ``trials``, stopping once the forecasts are stable."""
    cfg = settings()
    print(f"\nstop when stable (risk.precision_days = {cfg.risk.precision_days}):")
    print(f"  {'shape':6} {'trials used':>11} {'simulate':>9}  P50 / P80 / P95 (all trials)")
    for shape, window in (("wide", None), ("deep", 50)):
        snap = with_risks(items, window)
        net = compile_network(snap, cfg, START)
        level = run_passes(net).levels.level
        best, result = float("inf"), None
        for _ in range(repeats):
            t0 = time.perf_counter()
            result = montecarlo.simulate(
                snap, net, cfg, trials=trials, level=level, stop_when_stable=True
            )
            best = min(best, time.perf_counter() - t0)
        full = montecarlo.simulate(snap, net, cfg, trials=trials, level=level)
        assert result is not None
        print(
            f"  {shape:6} {result.trials:>11,} {best:>8.2f}s  {result.project.p50} / "
            f"{result.project.p80} / {result.project.p95} ({full.project.p50} / "
            f"{full.project.p80} / {full.project.p95})"
        )


if __name__ == "__main__":
    main()
