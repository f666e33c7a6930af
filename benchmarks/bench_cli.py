"""Benchmark the command line end to end: start-up and ``plan --json`` on big snapshots.

    python benchmarks/bench_cli.py                   # prints the figures
    python benchmarks/bench_cli.py --sizes 10000     # a quicker run

Every figure is the wall-clock time of a fresh ``tracker-bridge`` process (best of
``--repeats``), as a user or cron would see it:

* ``--help``: start-up alone (the commands are imported only when used);
* loading each example config of ``config/`` (a config imports the adapters whose sections
  it has: their options are validated with the adapter's own models);
* ``plan --snapshot F --json``: load and validate the snapshot file, plan with the default
  overlays (Monte Carlo risk, ``risk.trials`` trials) and print the plan as JSON into a pipe;
  also with ``--trials 1000`` in a config file, to show what the simulation costs.

The snapshots are ``bench_planner.random_snapshot``'s deep networks (long chains, about 1.5
relations of all four types per item). Peak memory (max RSS of the process) is printed too.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_planner import random_snapshot

CLI = [sys.executable, "-m", "tracker_bridge.cli"]
CONFIGS = Path(__file__).resolve().parents[1] / "config"


def timed(args: list[str], repeats: int) -> tuple[float, float, int]:
    """Best wall-clock seconds of ``repeats`` runs, peak RSS (MB) and output size (bytes)."""
    best = float("inf")
    size = 0
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(args, capture_output=True, check=True)
        best = min(best, time.perf_counter() - started)
        size = len(done.stdout)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    return best, peak, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--startup-only", action="store_true", help="--help and configs only")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    seconds, _, _ = timed([*CLI, "--help"], args.repeats * 3)
    print(f"tracker-bridge --help: {seconds:.3f} s")
    for example in ("redmine.toml", "github.toml", "webhooks.toml"):
        code = (
            "from pathlib import Path; from tracker_bridge.settings import load_settings; "
            f"load_settings(Path({str(CONFIGS / example)!r}))"
        )
        seconds, _, _ = timed([sys.executable, "-c", code], args.repeats * 3)
        print(f"load config/{example}: {seconds:.3f} s")
    if args.startup_only:
        return
    print(f"{'items':>7} {'config':<14} {'seconds':>8} {'JSON MB':>8} {'peak RSS MB':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        fewer = Path(tmp) / "fewer.toml"
        fewer.write_text("[risk]\ntrials = 1000\n", encoding="utf-8")
        default = Path(tmp) / "default.toml"
        default.write_text("", encoding="utf-8")
        for n in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"snap-{n}.json"
            path.write_text(
                random_snapshot(n, 50).model_dump_json(warnings=False), encoding="utf-8"
            )
            for label, config in (("default", default), ("trials=1000", fewer)):
                command = [
                    *CLI,
                    "plan",
                    "--snapshot",
                    str(path),
                    "--json",
                    "--config",
                    str(config),
                    "--as-of",
                    "2027-01-04",
                ]
                seconds, peak, size = timed(command, args.repeats)
                print(f"{n:>7} {label:<14} {seconds:>8.2f} {size / 1e6:>8.1f} {peak:>12}")


if __name__ == "__main__":
    main()
