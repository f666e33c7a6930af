"""Benchmark resource levelling on PSPLIB J30 and on a large tracker-sized problem.

    python benchmarks/bench_levelling.py            # J30 (240 instances) + 10,000 issues
    python benchmarks/bench_levelling.py --limit 20 # the first 20 instances only
    python benchmarks/bench_levelling.py --risk-only # the Monte Carlo on the levelled schedule

J30: 240 instances of 30 jobs and 4 renewable resources with proven optimal makespans.
Every schedule is checked by an independent checker (precedence and capacity on every day).
Large: 10,000 issues for 50 people (each issue assigned to one person, capacity one issue
per person-day) with ~1.5 finish-to-start relations per issue.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from tracker_bridge.planner.levelling import Problem, level

sys.path.insert(0, str(Path(__file__).parent))
from psplib import Instance, check, parse

DATA = Path(__file__).resolve().parent / "data" / "psplib-j30"


def as_problem(inst: Instance) -> Problem:
    """RCPSP instance -> levelling problem: each resource is a pool of its capacity."""
    n = len(inst.duration)
    pred = [j for j in range(n) for _ in inst.successors[j]]
    succ = [s for j in range(n) for s in inst.successors[j]]
    dur = np.array(inst.duration, dtype=np.int64)
    return Problem(
        duration=dur,
        release=np.zeros(n, dtype=np.int64),
        pred=np.array(pred, dtype=np.int64),
        succ=np.array(succ, dtype=np.int64),
        offset=dur[np.array(pred, dtype=np.int64)],
        demand=np.array(inst.demand, dtype=np.int64),
        capacity=np.array(inst.capacity, dtype=np.int64)[:, None],
        rank=np.arange(n, dtype=np.int64),
        fixed=np.zeros(n, dtype=bool),
    )


def bench_j30(data: Path, limit: int | None, schedules: int) -> None:
    optimum = {
        row["problem"]: int(row["optimum"]) for row in csv.DictReader((data / "optimum.csv").open())
    }
    names = sorted(optimum)[:limit]
    devs: list[float] = []
    times: list[float] = []
    cpu: list[float] = []
    infeasible = 0
    worst = ("", 0.0)
    for name in names:
        inst = parse(data / name)
        prob = as_problem(inst)
        t0, c0 = time.perf_counter(), time.process_time()
        res = level(prob, schedules=schedules)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if check(inst, res.start.tolist()):
            infeasible += 1
        dev = 100.0 * (res.makespan - optimum[name]) / optimum[name]
        devs.append(dev)
        if dev > worst[1]:
            worst = (name, dev)
    optimal = sum(1 for d in devs if d == 0)
    print(f"PSPLIB J30, {len(names)} instances, {schedules} schedules each")
    print(f"  mean deviation from optimum: {statistics.mean(devs):.2f} %")
    print(f"  optimal: {optimal}/{len(names)}; within 5 %: {sum(d <= 5 for d in devs)}")
    print(f"  worst: {worst[1]:.2f} % ({worst[0] or '-'}); infeasible: {infeasible}")
    wall, busy = statistics.mean(times) * 1000, statistics.mean(cpu) * 1000
    print(
        f"  time per instance: wall {wall:.0f} ms (max {max(times) * 1000:.0f}), cpu {busy:.0f} ms"
    )


def bench_large(n: int, people: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    dur = rng.integers(1, 11, n).astype(np.int64)
    m = int(1.5 * n)
    succ = rng.integers(1, n, m)
    pred = np.maximum(succ - rng.integers(1, 50, m), 0)
    person = rng.integers(0, people, n)
    demand = np.zeros((n, people), dtype=np.int64)
    demand[np.arange(n), person] = 1
    prob = Problem(
        duration=dur,
        release=np.zeros(n, dtype=np.int64),
        pred=pred.astype(np.int64),
        succ=succ.astype(np.int64),
        offset=dur[pred],
        demand=demand,
        capacity=np.ones((people, 1), dtype=np.int64),
        rank=np.arange(n, dtype=np.int64),
        fixed=np.zeros(n, dtype=bool),
    )
    t0, c0 = time.perf_counter(), time.process_time()
    res = level(prob, schedules=3)
    wall, busy = time.perf_counter() - t0, time.process_time() - c0
    print(f"{n} issues, {people} people: levelled in {wall:.2f} s wall, {busy:.2f} s cpu")
    print(
        f"  ({res.schedules} schedules: priority rule + justification), finish day {res.makespan}"
    )


def bench_overlay(n: int, people: int) -> None:
    """The levelling overlay of plan(): problem from the snapshot, levelling, explanation."""
    from bench_planner import START, random_snapshot

    from tracker_bridge.planner import plan
    from tracker_bridge.planner.cpm import run_passes
    from tracker_bridge.planner.network import compile_network
    from tracker_bridge.planner.overlays import OverlayContext
    from tracker_bridge.planner.resourcing import levelling_stage
    from tracker_bridge.settings import Settings

    snap = random_snapshot(n, 50)
    items = [
        it.model_copy(update={"assignee": f"P{k % people}"}) for k, it in enumerate(snap.items)
    ]
    snap = snap.model_copy(update={"items": items})
    settings = Settings.model_validate({"planner": {"level": True}})
    base = plan(snap, settings, START, overlays=False)
    net = compile_network(snap, settings, START)
    ctx = OverlayContext(base, snap, net, run_passes(net), settings, START, None)
    t0, c0 = time.perf_counter(), time.process_time()
    levelling_stage(ctx)
    wall, busy = time.perf_counter() - t0, time.process_time() - c0
    lv = base.overlays.levelling
    assert lv is not None
    print(
        f"levelling overlay of plan(), {n} issues (all relation types, lags), {people} people, "
        f"{lv.schedules} schedules: {wall:.2f} s wall, {busy:.2f} s cpu; "
        f"finish {lv.unlevelled_finish} -> {lv.finish}"
    )


def bench_risk(n: int, people: int, trials: int) -> None:
    """The Monte Carlo on the CPM network and on the levelled one (risk.schedule), same
    snapshot, seed and trials; best of three, wall and CPU seconds."""
    from bench_planner import START, random_snapshot

    from tracker_bridge.planner import plan
    from tracker_bridge.planner.cpm import run_passes
    from tracker_bridge.planner.montecarlo import simulate
    from tracker_bridge.planner.network import compile_network
    from tracker_bridge.planner.overlays import OverlayContext
    from tracker_bridge.planner.resourcing import levelling_stage
    from tracker_bridge.planner.sequencing import sequenced_network
    from tracker_bridge.settings import Settings

    snap = random_snapshot(n, 50)
    items = [
        it.model_copy(update={"assignee": f"P{k % people}"}) for k, it in enumerate(snap.items)
    ]
    snap = snap.model_copy(update={"items": items})
    settings = Settings.model_validate(
        {"planner": {"level": True}, "risk": {"schedule": "levelled", "precision_days": 0}}
    )
    net = compile_network(snap, settings, START)
    ctx = OverlayContext(
        plan(snap, settings, START, overlays=False),
        snap,
        net,
        run_passes(net),
        settings,
        START,
        None,
    )
    levelling_stage(ctx)
    lv = ctx.levelling
    assert lv is not None and lv.result is not None
    t0, c0 = time.perf_counter(), time.process_time()
    seq = sequenced_network(lv.net, lv.problem, lv.result, lv.resource)
    build = (time.perf_counter() - t0, time.process_time() - c0)
    print(
        f"Monte Carlo, {n} issues, {people} people, {trials} trials "
        f"({len(seq.pred) - len(net.pred)} person-order relations added in "
        f"{build[0]:.2f} s wall, {build[1]:.2f} s cpu):"
    )
    for name, network in (("cpm", net), ("levelled", seq)):
        runs = []
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            result = simulate(lv.snapshot, network, settings, trials=trials)
            runs.append((time.perf_counter() - t0, time.process_time() - c0))
        wall, busy = min(runs)
        print(
            f"  {name:9s} {wall:.2f} s wall, {busy:.2f} s cpu; "
            f"P50 {result.project.p50}, P80 {result.project.p80}, P95 {result.project.p95}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--risk-only", action="store_true")
    args = parser.parse_args()
    if not args.risk_only:
        bench_j30(args.data, args.limit, args.schedules)
        if not args.skip_large:
            bench_large(10_000, 50)
            bench_overlay(10_000, 50)
    bench_risk(10_000, 50, 10_000)


if __name__ == "__main__":
    main()
