"""Benchmark the page rendering of a pass: charts drawn vs. charts reused from the cache.

    python benchmarks/bench_charts.py                # prints the figures
    python benchmarks/bench_charts.py --items 500    # a smaller project

A pass that changes nothing in the tracker used to draw its three PNG charts anyway (and
import matplotlib for it). Each figure is ``render_desired`` (fields, page and charts) in a
fresh process, as cron runs it, for a plan of ``--items`` issues (``bench_planner``'s deep
network): first with an empty chart cache (draw and keep), then with the cache holding the
charts of the same inputs (reuse: no drawing, no matplotlib). Best of ``--repeats``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

RENDER = """
import datetime as dt, sys, time
from pathlib import Path
from tracker_bridge.adapters.redmine.style import RedminePageStyle
from tracker_bridge.chart_cache import ChartCache
from tracker_bridge.model import Snapshot
from tracker_bridge.planner import plan
from tracker_bridge.publish import render_desired
from tracker_bridge.settings import FieldNames, Settings
snapshot = Snapshot.model_validate_json(Path(sys.argv[1]).read_text())
result = plan(snapshot, Settings(), dt.date(2027, 1, 4))
started = time.perf_counter()
render_desired(result, snapshot, style=RedminePageStyle("textile"), page_title="Plan",
               field_names=FieldNames(), chart_store=ChartCache(Path(sys.argv[2]), "bench"))
print(time.perf_counter() - started, "matplotlib" in sys.modules)
"""


def run(snapshot: Path, cache: Path) -> tuple[float, bool]:
    done = subprocess.run(
        [sys.executable, "-c", RENDER, str(snapshot), str(cache)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, imported = done.stdout.split()
    return float(seconds), imported == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_planner import random_snapshot

    print(f"load average {os.getloadavg()[0]:.1f}; {args.items:,} items")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "snapshot.json"
        path.write_text(random_snapshot(args.items, 50).model_dump_json(warnings=False))
        drawn, reused = [], []
        for r in range(args.repeats):
            cache = Path(tmp) / f"cache-{r}"
            drawn.append(run(path, cache))
            reused.append(run(path, cache))
        best_drawn, best_reused = min(t for t, _ in drawn), min(t for t, _ in reused)
        print(f"render_desired, charts drawn:  {best_drawn:6.2f} s (matplotlib imported)")
        print(
            f"render_desired, charts reused: {best_reused:6.2f} s "
            f"(matplotlib imported: {any(m for _, m in reused)})"
        )


if __name__ == "__main__":
    main()
