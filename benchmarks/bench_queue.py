"""Benchmark the shared queue on PostgreSQL: workers in separate processes, a killed worker,
a server restart, and the webhook ack latency with the PostgreSQL store.

    python benchmarks/bench_queue.py                   # 1,000 units; about 8 minutes
    python benchmarks/bench_queue.py --units 200       # shorter

Starts a throw-away PostgreSQL cluster on loopback (installing Debian's ``postgresql`` when
missing, as the tests do) unless ``--url`` names one (password in
``TRACKER_BRIDGE_STORE_PASSWORD``). Every phase gets a fresh schema. The pass is a stub
tracker: it sleeps ``--pass-ms`` (200) and appends the unit's name to a log, so each unit's
runs can be counted. Workers are real :class:`~tracker_bridge.worker.Worker` objects with
their project locks (advisory locks) and leases.

1. **scale** — ``--units`` planning units queued (as ``run --all --enqueue`` does), then
   1, 2, 4 and 8 worker processes drain the queue. Throughput and its ratio to linear (the
   one-worker throughput × workers); every unit must run exactly once.
2. **kill** — 4 workers, a fifth of the units, 3 s leases; one worker is killed with SIGKILL
   in the middle of a pass. Its unit must run once more after the lease, nothing lost,
   nothing else twice.
3. **restart** — 4 workers and ``serve`` (with its worker thread); PostgreSQL is restarted
   while both are busy and deliveries arrive. Every unit runs exactly once and every
   delivery acknowledged with 202 is in the store and processed.
4. **ack** — ``serve`` with the PostgreSQL store, signed deliveries at ``--rate`` (200) per
   second for ``--duration`` (20) s: ack latency p50/p99 (the load generator of
   ``bench_webhook.py``).

Targets: scale ≥ 0.8 × linear up to 8 workers and exactly once; kill: the killed unit ran
once more, every other once; restart: exactly once, no acknowledged delivery lost; ack p99
≤ 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bench_webhook as hooks  # the webhook benchmark's server child and load generator
import psycopg

from tracker_bridge.demo import postgres

PASSWORD_ENV = "TRACKER_BRIDGE_STORE_PASSWORD"


# ------------------------------------------------------------------------ child processes


def worker_settings(url: str, units: int, lease: float) -> Any:
    """Units ``u0000``... and the webhook benchmark's projects ``p0``... (restart phase)."""
    from tracker_bridge.settings import settings_from_dict

    names = [f"u{n:04d}" for n in range(units)] + [f"p{n}" for n in range(hooks.PROJECTS)]
    return settings_from_dict(
        {
            "store": {"url": url},
            "trackers": {"stub": {"kind": "github"}},
            "projects": {name: {"tracker": "stub", "project": "x"} for name in names},
            "webhooks": {"lease_seconds": lease, "max_attempts": 5},
        }
    )


def stub_pass(log: Path, seconds: float) -> Any:
    """A tracker with a fixed latency per pass; the unit is logged when the pass is done."""
    from tracker_bridge.pipeline import PassResult

    def run(settings: Any, project: str, store: Any) -> PassResult:
        with open(log, "a", encoding="utf-8") as fh:  # one short line, appended atomically
            fh.write(f"start {project} {os.getpid()}\n")
        time.sleep(seconds)
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"done {project} {os.getpid()}\n")
        return PassResult(project=project, ok=True)

    return run


def child_worker(url: str, units: int, log: str, pass_ms: float, lease: float, loop: bool) -> None:
    """One worker process: ready, wait for "go", then drain the queue (or loop until TERM)."""
    from tracker_bridge.worker import Worker

    settings = worker_settings(url, units, lease)
    worker = Worker(settings, pass_fn=stub_pass(Path(log), pass_ms / 1000))
    worker.store()  # connect before the clock starts
    print("ready", flush=True)
    sys.stdin.readline()
    if loop:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        worker.run(stop, 0.05)
    else:
        worker.run_until_idle()
        worker.close()


# ------------------------------------------------------------------------------ helpers


def fresh_schema(base: str, password: str, name: str) -> str:
    """A new empty schema; the store URL that uses it."""
    with psycopg.connect(base, password=password, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.execute(f"CREATE SCHEMA {name}")
    return f"{base}?options=-csearch_path%3D{name}"


def enqueue(url: str, units: int) -> None:
    from tracker_bridge.settings import StoreSettings
    from tracker_bridge.store import Store

    now = time.time()
    with Store.open(StoreSettings(url=url)) as store:
        for n in range(units):
            store.enqueue(f"u{n:04d}", now=now)


def query(url: str, password: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, password=password, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


@contextlib.contextmanager
def workers(
    count: int, url: str, units: int, log: Path, pass_ms: float, lease: float, loop: bool
) -> Iterator[list[subprocess.Popen[str]]]:
    """``count`` worker processes, each connected and waiting for the start signal."""
    args = [url, str(units), str(log), str(pass_ms), str(lease), "loop" if loop else "drain"]
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit("a worker process did not start")
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()


def go(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()


def runs(log: Path) -> tuple[Counter[str], Counter[str]]:
    """Passes started and passes done, per queued unit (``u...``; not webhook projects)."""
    lines = [line.split() for line in (log.read_text().splitlines() if log.exists() else [])]
    started = Counter(w[1] for w in lines if w[0] == "start" and w[1].startswith("u"))
    done = Counter(w[1] for w in lines if w[0] == "done" and w[1].startswith("u"))
    return started, done


def mid_pass(log: Path, pid: int, timeout: float = 60) -> str:
    """Wait until process ``pid`` is in the middle of a pass; the unit it is running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [line.split() for line in (log.read_text().splitlines() if log.exists() else [])]
        mine = [w for w in lines if len(w) == 3 and w[2] == str(pid)]
        if mine and mine[-1][0] == "start" and len(mine) > 2:  # a few passes in
            return mine[-1][1]
        time.sleep(0.01)
    raise SystemExit(f"worker {pid} never started a pass")


def wait_done(url: str, password: str, total: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if query(url, password, "SELECT COUNT(*) FROM jobs WHERE state = 'done'")[0][0] >= total:
            return True
        time.sleep(0.2)
    return False


# ------------------------------------------------------------------------------ phases


def scale_phase(base: str, password: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for count in (1, 2, 4, 8):
        url = fresh_schema(base, password, f"bench_scale_{count}")
        enqueue(url, args.units)
        log = work / f"scale-{count}.log"
        with workers(count, url, args.units, log, args.pass_ms, 60, loop=False) as procs:
            started = time.time()
            go(procs)
            for proc in procs:
                proc.wait()
            exited = time.time() - started
        _, done = runs(log)
        attempts = query(url, password, "SELECT MAX(attempts), COUNT(*) FROM jobs")[0]
        # from the start signal to the last pass recorded (the processes' exit is not the
        # queue's work; it is shown apart)
        last = query(url, password, "SELECT MAX(finished_at) FROM jobs")[0][0]
        seconds = float(last) - started
        rows.append(
            {
                "workers": count,
                "seconds": round(seconds, 2),
                "until_exit_s": round(exited, 2),
                "units_per_s": round(args.units / seconds, 2),
                "exactly_once": len(done) == args.units
                and set(done.values()) == {1}
                and attempts == (1, args.units),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    single = rows[0]["units_per_s"]
    for row in rows:
        row["of_linear"] = round(row["units_per_s"] / (single * row["workers"]), 3)
    return {"rows": rows}


def kill_phase(base: str, password: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    units = max(20, args.units // 5)
    url = fresh_schema(base, password, "bench_kill")
    enqueue(url, units)
    log = work / "kill.log"
    with workers(4, url, units, log, args.pass_ms, 3.0, loop=True) as procs:
        go(procs)
        victim = mid_pass(log, procs[0].pid)
        procs[0].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        finished = wait_done(url, password, units, timeout=120 + units * args.pass_ms / 1000)
        seconds = time.monotonic() - killed_at
    started, done = runs(log)
    twice = sorted(unit for unit, n in started.items() if n > 1)
    retried = query(url, password, "SELECT project, attempts FROM jobs WHERE attempts > 1")
    once = len(done) == units and set(done.values()) == {1}
    return {
        "units": units,
        "killed_in_the_middle_of": victim,
        "all_done": finished,
        "seconds_after_kill": round(seconds, 1),
        "started_twice": twice,
        "jobs_with_two_attempts": [list(r) for r in retried],
        "done_once": once,
        "ok": finished and twice == [victim] and once,
    }


def restart_phase(
    server: postgres.LocalPostgres | None,
    base: str,
    password: str,
    work: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:
    if server is None:
        return {"skipped": "--url given: this benchmark does not restart someone else's server"}
    units = max(20, args.units // 5)
    url = fresh_schema(base, password, "bench_restart")
    enqueue(url, units)
    log = work / "restart.log"
    config = hooks.write_config(work / "restart.toml", url, debounce_seconds=0.5, lease_seconds=30)
    port = hooks.free_port()
    serve_passes = work / "restart-serve.log"
    # serve only accepts here: the four workers run every job, so every pass is in one log
    with (
        hooks.child("serve", str(config), str(port), str(serve_passes), "0.02", "none"),
        workers(4, url, units, log, args.pass_ms, 30.0, loop=True) as procs,
    ):
        hooks.wait_ready(port)
        go(procs)
        sender_box: list[hooks.Sender] = []
        load = threading.Thread(
            target=lambda: sender_box.append(asyncio.run(hooks.load_phase(port, 50, 6.0)))
        )
        load.start()
        time.sleep(2.0)
        restarted = time.monotonic()
        server.restart(mode="fast")
        down = round(time.monotonic() - restarted, 2)
        load.join()
        finished = wait_done(url, password, units, timeout=120 + units * args.pass_ms / 1000)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and query(
            url, password, "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
        ) != [(0,)]:
            time.sleep(0.2)
    sender = sender_box[0]
    known = {r[0] for r in query(url, password, "SELECT delivery_id FROM webhook_deliveries")}
    unprocessed = query(
        url,
        password,
        "SELECT COUNT(*) FROM delivery_jobs WHERE processed_count <> 1",
    )[0][0]
    _, done = runs(log)
    lost = sum(1 for d in sender.accepted if d not in known)
    return {
        "server_down_s": down,
        "units_done_once": finished and len(done) == units and set(done.values()) == {1},
        "deliveries_acknowledged": len(sender.accepted),
        "deliveries_refused_while_down": sender.errors,
        "acknowledged_lost": lost,
        "acknowledged_not_processed_once": unprocessed,
        "ok": finished and lost == 0 and unprocessed == 0,
    }


def ack_phase(base: str, password: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    url = fresh_schema(base, password, "bench_ack")
    config = hooks.write_config(
        work / "ack.toml", url, debounce_seconds=1.0, max_wait_seconds=5.0, lease_seconds=30.0
    )
    port = hooks.free_port()
    with hooks.child("serve", str(config), str(port), str(work / "ack.log"), "0.02", "worker"):
        hooks.wait_ready(port)
        sender = asyncio.run(hooks.load_phase(port, args.rate, args.duration))
    lat = [x * 1000 for x in sender.latencies]
    known = {r[0] for r in query(url, password, "SELECT delivery_id FROM webhook_deliveries")}
    return {
        "rate_per_s": args.rate,
        "sent": len(lat),
        "errors": sender.errors,
        "ack_ms": {
            "p50": round(hooks.percentile(lat, 50), 2),
            "p99": round(hooks.percentile(lat, 99), 2),
            "max": round(max(lat), 2),
        },
        "lost": sum(1 for d in sender.accepted if d not in known),
    }


def run(args: argparse.Namespace) -> int:
    server = None
    if args.url:
        base, password = args.url, os.environ.get(PASSWORD_ENV, "")
    else:
        server = postgres.start()
        base, password = server.url, server.password
    os.environ[PASSWORD_ENV] = password
    os.environ["BENCH_WEBHOOK_SECRET"] = hooks.SECRET
    results: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="tb-bench-queue-"))
    try:
        phases = args.phases.split(",")
        if "scale" in phases:
            results["scale"] = scale_phase(base, password, work, args)
        if "kill" in phases:
            results["kill"] = kill_phase(base, password, work, args)
        if "restart" in phases:
            results["restart"] = restart_phase(server, base, password, work, args)
        if "ack" in phases:
            results["ack"] = ack_phase(base, password, work, args)
    finally:
        if server is not None:
            server.remove()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))
    ok = True
    if "scale" in results:
        rows = results["scale"]["rows"]
        ok &= all(r["exactly_once"] and r["of_linear"] >= 0.8 for r in rows)
    ok &= results.get("kill", {}).get("ok", True)
    ok &= results.get("restart", {}).get("ok", True)
    if "ack" in results:
        ok &= results["ack"]["ack_ms"]["p99"] <= 20 and results["ack"]["lost"] == 0
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        url, units, log, pass_ms, lease, mode = sys.argv[2:8]
        child_worker(url, int(units), log, float(pass_ms), float(lease), mode == "loop")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=1000, help="planning units queued")
    parser.add_argument("--pass-ms", type=float, default=200, help="the stub tracker's latency")
    parser.add_argument("--rate", type=float, default=200, help="deliveries per second (ack)")
    parser.add_argument("--duration", type=float, default=20, help="seconds of load (ack)")
    parser.add_argument("--phases", default="scale,kill,restart,ack", help="comma-separated")
    parser.add_argument("--url", help="an existing database (default: a throw-away cluster)")
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
