"""Benchmark the CPM planner on random networks of 10k and 100k items.

    python benchmarks/bench_planner.py            # prints a table of timings
    python benchmarks/bench_planner.py --parents-only   # just the parent-issue cases

Each network has ~1.5 dependencies per item of all four types with lags in -2..5 working days,
on a Mon-Fri calendar with 10 holidays a year. Two shapes are measured:

* ``wide``  — each item's predecessors are drawn from all earlier items (shallow network);
* ``deep``  — predecessors are drawn from the 50 items before it (long chains, as in real
  projects where work follows work), which is the harder case for a level-by-level pass.

"planning" is the CPM itself (levelling + forward + backward pass + floats) on the compiled
network; "compile" turns the Snapshot into arrays; "full plan()" is ``plan(..., overlays=False)``:
compile + planning + building the pydantic Plan of 100k items (the Monte Carlo overlay has its
own benchmark, ``bench_montecarlo.py``). The reference is a plain hand-written networkx
forward/backward pass (FS only, the same graph), as a project would write it without
vectorisation.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time
from collections.abc import Callable

import networkx as nx

from tracker_bridge.model import Dependency, Project, Snapshot, WorkItem
from tracker_bridge.planner import plan
from tracker_bridge.planner.cpm import run_passes
from tracker_bridge.planner.network import compile_network
from tracker_bridge.settings import CalendarSettings, Settings

START = dt.date(2027, 1, 4)
TYPES = ["FS", "FS", "FS", "SS", "FF", "SF"]


def random_snapshot(n: int, window: int | None, seed: int = 7) -> Snapshot:
    """A random DAG: item i depends on ~1.5 earlier items (all of them or a recent window)."""
    rng = random.Random(seed)
    items = [
        WorkItem.model_construct(
            key=f"T{i}",
            title="",
            status="open",
            estimate_hours=rng.choice([0, 4, 8, 16, 24, 40]),
            start=None,
            due=None,
            done_ratio=0,
            parent=None,
            milestone=None,
            closed_on=None,
        )
        for i in range(n)
    ]
    deps = []
    for i in range(1, n):
        lo = 0 if window is None else max(0, i - window)
        for _ in range(3 if rng.random() < 0.5 else 0):  # mean 1.5 per item
            j = rng.randrange(lo, i)
            deps.append(
                Dependency.model_construct(
                    predecessor=f"T{j}",
                    successor=f"T{i}",
                    type=rng.choice(TYPES),
                    lag_days=rng.randint(-2, 5),
                )
            )
    return Snapshot.model_construct(
        project=Project(name="bench", start=START),
        items=items,
        dependencies=deps,
        milestones=[],
        time_entries=[],
        risks=[],
    )


def settings() -> Settings:
    holidays = [START + dt.timedelta(days=d) for d in range(0, 700, 35)]
    return Settings(calendar=CalendarSettings(holidays=holidays))


def networkx_reference(snapshot: Snapshot, hours_per_day: float) -> int:
    """A plain forward/backward pass with networkx, FS relations only, as people write it."""
    graph = nx.DiGraph()
    for item in snapshot.items:
        graph.add_node(item.key, d=-(-int(item.estimate_hours or 0) // int(hours_per_day)))
    for dep in snapshot.dependencies:
        graph.add_edge(dep.predecessor, dep.successor, lag=dep.lag_days)
    order = list(nx.topological_sort(graph))
    es: dict[str, int] = {}
    for v in order:
        es[v] = max(
            (es[u] + graph.nodes[u]["d"] + graph[u][v]["lag"] for u in graph.pred[v]), default=0
        )
    finish = max(es[v] + graph.nodes[v]["d"] for v in order)
    ls: dict[str, int] = {}
    for v in reversed(order):
        d = graph.nodes[v]["d"]
        ls[v] = min((ls[w] - graph[v][w]["lag"] - d for w in graph.succ[v]), default=finish - d)
    return finish


def best_of(repeats: int, fn: Callable[[], object]) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--parents-only", action="store_true", help="only the parent cases")
    args = parser.parse_args()
    if args.parents_only:
        parents(args.repeats)
        return
    cfg = settings()
    as_of = START
    header = (
        f"{'shape':6} {'items':>7} {'deps':>7} {'levels':>6} {'planning':>9} "
        f"{'compile':>8} {'full plan()':>11} {'networkx FS':>11} {'nx/plan':>8}"
    )
    print(header)
    print("-" * len(header))
    for n in (int(s) for s in args.sizes.split(",")):
        for shape, window in (("wide", None), ("deep", 50)):
            snap = random_snapshot(n, window)
            net = compile_network(snap, cfg, as_of)
            depth = run_passes(net).levels.depth
            planning, _ = best_of(args.repeats, lambda net=net: run_passes(net))
            compiling, _ = best_of(
                max(1, args.repeats // 2), lambda snap=snap: compile_network(snap, cfg, as_of)
            )
            full, _ = best_of(
                max(1, args.repeats // 2), lambda snap=snap: plan(snap, cfg, as_of, overlays=False)
            )
            reference, _ = best_of(1, lambda snap=snap: networkx_reference(snap, 8))
            print(
                f"{shape:6} {n:>7} {len(snap.dependencies):>7} {depth:>6} "
                f"{planning * 1000:>7.1f}ms {compiling * 1000:>6.0f}ms {full * 1000:>9.0f}ms "
                f"{reference * 1000:>9.0f}ms {reference / planning:>7.1f}x"
            )
    print("\nTarget: planning 100k items in <= 150 ms (best of --repeats runs).")
    parents(args.repeats)


def parents(repeats: int) -> None:
    """Parent issues: a relation between two big epics, and a deep chain of parents."""
    cfg = settings()
    items: list[dict[str, object]] = [{"key": "A"}, {"key": "B"}]
    for epic in "AB":
        items += [{"key": f"{epic}{i}", "parent": epic, "estimate_hours": 8} for i in range(1000)]
    epics = Snapshot.model_validate(
        {
            "project": {"name": "epics", "start": START},
            "items": items,
            "dependencies": [{"predecessor": "A", "successor": "B"}],
        }
    )
    chain = {
        "project": {"name": "deep parents", "start": START},
        "items": [
            {"key": f"P{i}", "parent": f"P{i - 1}" if i else None, "estimate_hours": 8}
            for i in range(2000)
        ],
    }
    deep = Snapshot.model_validate(chain)
    print(f"\n{'parents':44} {'best':>8}")
    cases: list[tuple[str, Callable[[], object]]] = [
        (
            "2 epics x 1,000 leaves, one relation: plan()",
            lambda: plan(epics, cfg, START, overlays=False),
        ),
        ("2,000-deep parent chain: validate", lambda: Snapshot.model_validate(chain)),
        ("2,000-deep parent chain: plan()", lambda: plan(deep, cfg, START, overlays=False)),
    ]
    for label, fn in cases:
        best, _ = best_of(repeats, fn)
        print(f"{label:44} {best * 1000:>6.0f}ms")


if __name__ == "__main__":
    main()
