"""Benchmark the command line end to end: start-up and ``plan --json`` on big snapshots.

    python benchmarks/bench_cli.py                   # prints the figures
    python benchmarks/bench_cli.py --sizes 10000     # a quicker run

Every figure is the wall-clock time of a fresh ``tracker-bridge`` process (best of
``--repeats``), as a user or cron would see it:

* ``--help``: start-up alone (the commands are imported only when used);
* loading each example config of ``config/`` (a config imports the adapters whose sections
  it has: their options are validated with the adapter's own models);
* ``plan --snapshot F --json``: load and validate the snapshot file, plan with the default
  overlays (Monte Carlo risk, ``risk.trials`` trials at most) and print the plan as JSON into
  a pipe; also with ``trials = 1000`` in a config file, to show what the simulation costs, and
  with ``--schedule-only`` (the critical-path schedule without overlays).

The snapshots are ``bench_planner.random_snapshot``'s deep networks (long chains, about 1.5
relations of all four types per item). Peak memory (max RSS of each process) is printed too,
and the CPU seconds (user + system, all threads) of the best run: on a shared machine the
wall-clock figures are only as good as the CPU the process got.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_planner import random_snapshot

CLI = [sys.executable, "-m", "tracker_bridge.cli"]
CONFIGS = Path(__file__).resolve().parents[1] / "config"
# The runs must not read (or be slowed by) the default store of the person running them:
# `plan` looks for a saved baseline there.
ISOLATED = {**os.environ, "XDG_DATA_HOME": tempfile.mkdtemp(prefix="bench-cli-")}


def run(args: list[str]) -> tuple[float, float, int, int]:
    """One fresh process: wall-clock and CPU seconds, its peak RSS (MB), output bytes."""
    started = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ISOLATED)
    assert child.stdout is not None
    size = len(child.stdout.read())
    _, status, usage = os.wait4(child.pid, 0)  # this child's own figures
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{' '.join(args)} failed ({child.returncode})")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024, size


def timed(args: list[str], repeats: int) -> tuple[float, float, int, int]:
    """The best of ``repeats`` runs (by wall-clock time)."""
    return min((run(args) for _ in range(repeats)), key=lambda figures: figures[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--startup-only", action="store_true", help="--help and configs only")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    seconds, _, _, _ = timed([*CLI, "--help"], args.repeats * 3)
    print(f"tracker-bridge --help: {seconds:.3f} s")
    for example in ("redmine.toml", "github.toml", "webhooks.toml"):
        code = (
            "from pathlib import Path; from tracker_bridge.settings import load_settings; "
            f"load_settings(Path({str(CONFIGS / example)!r}))"
        )
        seconds, _, _, _ = timed([sys.executable, "-c", code], args.repeats * 3)
        print(f"load config/{example}: {seconds:.3f} s")
    if args.startup_only:
        return
    print(f"{'items':>7} {'config':<14} {'seconds':>8} {'CPU s':>6} {'JSON MB':>8} {'peak MB':>8}")
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
            runs = (("schedule only", default), ("default", default), ("trials=1000", fewer))
            for label, config in runs:
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
                    *(["--schedule-only"] if label == "schedule only" else []),
                ]
                seconds, cpu, peak, size = timed(command, args.repeats)
                print(
                    f"{n:>7} {label:<14} {seconds:>8.2f} {cpu:>6.2f} {size / 1e6:>8.1f} {peak:>8}"
                )


if __name__ == "__main__":
    main()
