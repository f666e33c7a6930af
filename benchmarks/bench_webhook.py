"""Benchmark the webhook server and its queue on loopback (bounded; stops by itself).

    python benchmarks/bench_webhook.py                 # load, burst, kill, crowd, locked
    python benchmarks/bench_webhook.py --duration 5    # shorter load phase

Five phases, each against ``tracker-bridge``'s real ASGI app served by uvicorn on
127.0.0.1 in a child process, with a fake pass function (no tracker is called):

1. **load** — signed GitHub ``issues`` deliveries (the real ``@octokit/webhooks-examples``
   payload when the contract cache is present) at ``--rate`` per second for ``--duration``
   seconds, open loop (each send is scheduled, a slow answer does not slow the sender; a
   pool of keep-alive connections on raw asyncio streams), over 8 projects, with the worker
   thread running the passes meanwhile. Prints the ack latency
   p50/p95/p99/max and the deliveries lost (accepted with 202 but not in the store).
2. **burst** — ``--burst`` deliveries for one project as fast as 32 connections send them;
   counts the passes the worker ran for them (target <= 2: one coalesced job, plus at most
   one more for deliveries that arrived while it ran).
3. **kill** — deliveries for 8 projects while a *separate* worker process runs slow passes;
   the worker is killed with SIGKILL in the middle of a pass and a new one is started. Its
   job is claimed again once the lease ran out. Checks in the store that every accepted
   delivery was processed exactly once.

4. **crowd** — the server limited to 1,024 open files (a service's default) and ``--idle``
   (1,100) connections that never send a byte; then 20 deliveries on fresh connections.
5. **locked** — another process holds the store's write lock for 3 s while a delivery waits
   for it; ``/livez`` is polled meanwhile.

Targets: ack p99 <= 20 ms, 0 lost, burst passes <= 2, exactly once after the kill; in the
crowd every delivery acknowledged within 1 s; ``/livez`` within 100 ms while the store is
locked.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import resource
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tracker_bridge.webhook import sign

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / ".cache/github-contract/octokit-webhooks-examples-7.6.1/api.github.com/index.json"
SECRET = "bench-secret-not-a-real-one"
PROJECTS = 8
SERVICE_FILES = 1024  # a service's usual RLIMIT_NOFILE (crowd phase)


# ------------------------------------------------------------------------ child processes


def _fake_pass(log: Path, seconds: float) -> Any:
    from tracker_bridge.pipeline import PassResult

    def run(settings: Any, project: str, store: Any) -> PassResult:
        time.sleep(seconds)
        with open(log, "a", encoding="utf-8") as fh:  # one short line, appended atomically
            fh.write(f"{project} {os.getpid()}\n")
        return PassResult(project=project, ok=True)

    return run


def child_serve(config: Path, port: int, passes: Path, pass_seconds: float, worker: bool) -> None:
    """The server as `tracker-bridge serve` runs it (limits, supervised worker), fake passes."""
    import threading

    import uvicorn

    from tracker_bridge.model import Finding
    from tracker_bridge.server import server_config
    from tracker_bridge.settings import load_settings
    from tracker_bridge.webhook import create_app
    from tracker_bridge.worker import Worker, WorkerSupervisor

    settings = load_settings(config)
    stop = threading.Event()
    supervisor = None
    if worker:
        fake = _fake_pass(passes, pass_seconds)
        supervisor = WorkerSupervisor(lambda: Worker(settings, pass_fn=fake), stop)
        supervisor.start()
    app = create_app(
        settings,
        check=lambda s, p: [Finding(id="bench.ok", ok=True, message="")],
        worker=supervisor.status if supervisor else None,
    )
    cfg, _ = server_config(app, settings, "127.0.0.1", port, log_level="warning", access_log=False)
    server = uvicorn.Server(cfg)
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    server.run()
    stop.set()


def child_worker(config: Path, passes: Path, pass_seconds: float) -> None:
    """A worker process alone (the one the benchmark kills)."""
    import threading

    from tracker_bridge.settings import load_settings
    from tracker_bridge.worker import Worker

    settings = load_settings(config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    Worker(settings, pass_fn=_fake_pass(passes, pass_seconds)).run(stop, 0.05)


# ------------------------------------------------------------------------------ helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, store: Path | str, **webhooks: float) -> Path:
    """A config with 8 projects; ``store``: an SQLite file, or a PostgreSQL URL (str)."""
    where = f'url = "{store}"' if isinstance(store, str) else f'path = "{store}"'
    lines = [f"[store]\n{where}\n", '[trackers.gh]\nkind = "github"\n']
    for i in range(PROJECTS):
        lines.append(
            f'[projects.p{i}]\ntracker = "gh"\nproject = "bench/repo-{i}"\n'
            f'[projects.p{i}.github]\nrepositories = ["bench/repo-{i}"]\n'
        )
    hooks = {"github_secret_env": '"BENCH_WEBHOOK_SECRET"'}
    hooks.update({key: repr(value) for key, value in webhooks.items()})
    lines.append("[webhooks]\n" + "".join(f"{k} = {v}\n" for k, v in hooks.items()))
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _service_files() -> None:
    """A service's usual open-files limit (1,024), for the crowd phase's server."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (SERVICE_FILES, SERVICE_FILES))


@contextlib.contextmanager
def child(*args: str, log: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A child process; with ``log``, limited to a service's open files, stderr to ``log``."""
    env = dict(os.environ, BENCH_WEBHOOK_SECRET=SECRET)
    with contextlib.ExitStack() as files:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", *args],
            env=env,
            start_new_session=True,
            stderr=files.enter_context(log.open("wb")) if log else None,
            preexec_fn=_service_files if log else None,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_ready(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    return
            finally:
                conn.close()
        time.sleep(0.1)
    raise SystemExit(f"the server on port {port} did not come up within {timeout} s")


def base_payload() -> dict[str, Any]:
    if EXAMPLES.exists():
        examples = {e["name"]: e["examples"] for e in json.loads(EXAMPLES.read_text())}
        payload: dict[str, Any] = examples["issues"][0]
        return payload
    return {  # a minimal stand-in when the contract cache was never fetched
        "action": "edited",
        "issue": {"number": 1, "title": "Spelling error in the README file"},
        "repository": {"full_name": "bench/repo-0"},
        "sender": {"login": "Codertocat"},
    }


def signed_body(base: dict[str, Any], project: int) -> bytes:
    payload = dict(base, repository=dict(base["repository"], full_name=f"bench/repo-{project}"))
    return json.dumps(payload).encode()


class Sender:
    """Signed deliveries over a pool of keep-alive HTTP/1.1 connections (raw asyncio streams:
    a general client's own overhead would be measured as server latency on a 2-core box)."""

    def __init__(self, port: int, connections: int) -> None:
        self.port = port
        self.connections = connections
        self.bodies = {i: signed_body(base_payload(), i) for i in range(PROJECTS)}
        self.signatures = {i: sign(SECRET.encode(), b) for i, b in self.bodies.items()}
        self.latencies: list[float] = []
        self.lateness: list[float] = []  # how far behind schedule a send started
        self.started: list[float] = []
        self.accepted: list[str] = []
        self.errors: dict[str, int] = {}
        self.queue: asyncio.Queue[tuple[float, int] | None] = asyncio.Queue()

    def _error(self, key: str) -> None:
        self.errors[key] = self.errors.get(key, 0) + 1

    async def _connection(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            while (item := await self.queue.get()) is not None:
                due, project = item
                delivery = str(uuid.uuid4())
                body = self.bodies[project]
                head = (
                    "POST /hooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Content-Type: application/json\r\nX-GitHub-Event: issues\r\n"
                    f"X-GitHub-Delivery: {delivery}\r\n"
                    f"X-Hub-Signature-256: {self.signatures[project]}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
                started = time.perf_counter()
                self.started.append(started)
                self.lateness.append(max(0.0, started - due))
                try:
                    writer.write(head + body)
                    await writer.drain()
                    status, answer = await self._response(reader)
                except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                    self._error(type(e).__name__)
                    return
                self.latencies.append(time.perf_counter() - started)
                if status == 202 and json.loads(answer).get("status") == "queued":
                    self.accepted.append(delivery)
                else:
                    self._error(f"HTTP {status}")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return status, await reader.readexactly(length)

    async def run(self, schedule: list[tuple[float, int]]) -> None:
        """Send each ``(perf_counter time, project)`` at its time (open loop)."""
        pool = [asyncio.create_task(self._connection()) for _ in range(self.connections)]
        for due, project in schedule:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            self.queue.put_nowait((due, project))
        for _ in pool:
            self.queue.put_nowait(None)
        await asyncio.gather(*pool)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def store_query(store: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(store, timeout=10)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def lost(store: Path, accepted: list[str]) -> int:
    known = {row[0] for row in store_query(store, "SELECT delivery_id FROM webhook_deliveries")}
    return sum(1 for d in accepted if d not in known)


def wait_idle(store: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = store_query(store, "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')")
        if busy[0][0] == 0:
            return True
        time.sleep(0.1)
    return False


def count_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


# ------------------------------------------------------------------------------ phases


async def load_phase(port: int, rate: float, duration: float) -> Sender:
    sender = Sender(port, connections=16)
    start = time.perf_counter() + 0.2
    await sender.run([(start + i / rate, i % PROJECTS) for i in range(int(rate * duration))])
    return sender


async def burst_phase(port: int, count: int) -> Sender:
    sender = Sender(port, connections=32)
    now = time.perf_counter()
    await sender.run([(now, 0)] * count)  # all due at once: as fast as 32 connections go
    return sender


def request_once(
    port: int, path: str, body: bytes | None = None, timeout: float = 15.0
) -> tuple[int, float]:
    """GET ``path``, or POST ``body`` as a signed delivery, on a fresh connection:
    (status, seconds from connect); status 0 when the connection failed."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {}
    if body is not None:
        headers = {
            "X-GitHub-Event": "issues",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(SECRET.encode(), body),
        }
    try:
        conn.request("GET" if body is None else "POST", path, body=body, headers=headers)
        status = conn.getresponse().status
    except OSError:
        status = 0
    finally:
        conn.close()
    return status, time.perf_counter() - started


def crowd_phase(port: int, idle: int, deliveries: int) -> dict[str, Any]:
    """``idle`` connections that never send a byte, then deliveries on fresh connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < idle + 256 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (idle + 256, hard))
    crowd: list[socket.socket] = []
    try:
        for _ in range(idle):
            sock = socket.socket()
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(("127.0.0.1", port))
            crowd.append(sock)
        time.sleep(5)  # connects the listen queue dropped are retried by TCP after 1 s, 3 s
        body = signed_body(base_payload(), 0)
        acks = [request_once(port, "/hooks/github", body) for _ in range(deliveries)]
        live = request_once(port, "/livez")
    finally:
        for sock in crowd:
            sock.close()
    ms = [seconds * 1000 for _, seconds in acks]
    return {
        "idle_connections": idle,
        "deliveries": deliveries,
        "accepted": sum(1 for status, _ in acks if status == 202),
        "ack_ms": {"p50": round(percentile(ms, 50), 2), "max": round(max(ms), 2)},
        "livez_ms": round(live[1] * 1000, 2),
    }


def locked_phase(port: int, store: Path, hold: float) -> dict[str, Any]:
    """Another process holds the store's write lock: a delivery waits, /livez must not."""
    import threading

    holder = sqlite3.connect(store, timeout=10, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    answer: list[tuple[int, float]] = []
    body = signed_body(base_payload(), 1)
    posting = threading.Thread(
        target=lambda: answer.append(request_once(port, "/hooks/github", body, hold + 15))
    )
    posting.start()
    time.sleep(0.2)
    live: list[float] = []
    until = time.monotonic() + hold
    while time.monotonic() < until:
        live.append(request_once(port, "/livez")[1] * 1000)
        time.sleep(0.05)
    ready = request_once(port, "/readyz")
    holder.execute("ROLLBACK")
    holder.close()
    posting.join()
    return {
        "held_s": hold,
        "livez_ms": {"p50": round(percentile(live, 50), 2), "max": round(max(live), 2)},
        "readyz": ready[0],
        "readyz_ms": round(ready[1] * 1000, 2),
        "delivery": answer[0][0],
        "delivery_s": round(answer[0][1], 2),
    }


def run(args: argparse.Namespace) -> int:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tb-bench-webhook-") as tmp:
        work = Path(tmp)
        ok = True

        # 1. load ------------------------------------------------------------------
        store = work / "load.sqlite3"
        config = write_config(
            work / "load.toml",
            store,
            debounce_seconds=1.0,
            max_wait_seconds=5.0,
            lease_seconds=30.0,
        )
        passes = work / "load-passes.log"
        port = free_port()
        with child("serve", str(config), str(port), str(passes), "0.02", "worker"):
            wait_ready(port)
            sender = asyncio.run(load_phase(port, args.rate, args.duration))
            wait_idle(store, 30)
        lat = [x * 1000 for x in sender.latencies]
        n_lost = lost(store, sender.accepted)
        p99 = percentile(lat, 99) if lat else float("nan")
        results["load"] = {
            "sent": len(lat) + sum(sender.errors.values()),
            "accepted": len(sender.accepted),
            "errors": sender.errors,
            "achieved_rate_per_s": round(
                (len(sender.started) - 1) / (max(sender.started) - min(sender.started)), 1
            ),
            "sender_behind_schedule_ms_max": round(max(sender.lateness) * 1000, 2),
            "ack_ms": {
                "p50": round(percentile(lat, 50), 2),
                "p95": round(percentile(lat, 95), 2),
                "p99": round(p99, 2),
                "max": round(max(lat), 2),
                "mean": round(statistics.fmean(lat), 2),
            },
            "lost": n_lost,
            "passes": count_lines(passes),
        }
        ok &= n_lost == 0 and p99 <= 20 and not sender.errors

        # 2. burst -----------------------------------------------------------------
        store = work / "burst.sqlite3"
        config = write_config(
            work / "burst.toml",
            store,
            debounce_seconds=2.0,
            max_wait_seconds=30.0,
            lease_seconds=30.0,
        )
        passes = work / "burst-passes.log"
        port = free_port()
        with child("serve", str(config), str(port), str(passes), "0.2", "worker"):
            wait_ready(port)
            t0 = time.perf_counter()
            sender = asyncio.run(burst_phase(port, args.burst))
            sent_in = time.perf_counter() - t0
            idle = wait_idle(store, 60)
        n_passes = count_lines(passes)
        results["burst"] = {
            "deliveries": args.burst,
            "accepted": len(sender.accepted),
            "sent_in_s": round(sent_in, 2),
            "passes": n_passes,
            "lost": lost(store, sender.accepted),
            "drained": idle,
        }
        ok &= n_passes <= 2 and idle and len(sender.accepted) == args.burst

        # 3. kill the worker mid-pass ---------------------------------------------
        store = work / "kill.sqlite3"
        config = write_config(
            work / "kill.toml", store, debounce_seconds=0.2, max_wait_seconds=2.0, lease_seconds=2.0
        )
        passes = work / "kill-passes.log"
        port = free_port()
        with child("serve", str(config), str(port), str(passes), "0", "no-worker"):
            wait_ready(port)
            with child("worker", str(config), str(passes), "0.8") as first:
                sender = asyncio.run(load_phase(port, 50, args.kill_seconds))
                # wait until the worker is inside a pass, then kill it without warning
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not store_query(
                    store, "SELECT 1 FROM jobs WHERE state = 'running'"
                ):
                    time.sleep(0.02)
                running = store_query(store, "SELECT id, project FROM jobs WHERE state = 'running'")
                os.killpg(first.pid, signal.SIGKILL)
                first.wait()
            more = asyncio.run(load_phase(port, 50, 1.0))  # deliveries while no worker runs
            with child("worker", str(config), str(passes), "0.05"):
                idle = wait_idle(store, 60)
        accepted = sender.accepted + more.accepted
        rows = store_query(
            store,
            "SELECT COUNT(*), SUM(processed_count = 1), SUM(processed_count > 1), "
            "SUM(processed_count = 0) FROM delivery_jobs",
        )[0]
        reclaimed = store_query(
            store, "SELECT COUNT(*) FROM jobs WHERE state = 'done' AND attempts > 1"
        )[0][0]
        dead = store_query(store, "SELECT COUNT(*) FROM jobs WHERE state = 'dead'")[0][0]
        results["kill"] = {
            "accepted": len(accepted),
            "lost": lost(store, accepted),
            "killed_during_job": running[0] if running else None,
            "processed_exactly_once": int(rows[1] or 0),
            "processed_twice_or_more": int(rows[2] or 0),
            "unprocessed": int(rows[3] or 0),
            "jobs_reclaimed_after_lease": int(reclaimed),
            "dead_jobs": int(dead),
            "passes_run": count_lines(passes),
            "drained": idle,
        }
        ok &= (
            idle
            and results["kill"]["lost"] == 0
            and int(rows[1] or 0) == len(accepted)
            and not rows[2]
            and not rows[3]
        )
        # 4. a crowd of idle connections under a service's open-files limit ---------
        store = work / "crowd.sqlite3"
        config = write_config(work / "crowd.toml", store, request_timeout_seconds=120.0)
        port = free_port()
        serve_log = work / "crowd-serve.log"
        with child(
            "serve", str(config), str(port), str(work / "p.log"), "0", "no-worker", log=serve_log
        ):
            wait_ready(port)
            results["crowd"] = crowd_phase(port, args.idle, 20)
        log = serve_log.read_text(errors="replace")
        results["crowd"]["accept_errors_logged"] = log.count("out of system resource")
        results["crowd"]["log_bytes"] = len(log)
        crowd = results["crowd"]
        ok &= crowd["accepted"] == crowd["deliveries"] and crowd["ack_ms"]["max"] <= 1000

        # 5. the store write-locked by another process -----------------------------
        store = work / "locked.sqlite3"
        config = write_config(work / "locked.toml", store)
        port = free_port()
        with child("serve", str(config), str(port), str(work / "p.log"), "0", "no-worker"):
            wait_ready(port)
            results["locked"] = locked_phase(port, store, 3.0)
        ok &= results["locked"]["livez_ms"]["max"] <= 100 and results["locked"]["delivery"] == 202
    print(json.dumps(results, indent=2))
    load = results["load"]
    print(
        f"\nload: {load['accepted']} deliveries at {load['achieved_rate_per_s']}/s -> ack p50 "
        f"{load['ack_ms']['p50']} ms, p95 {load['ack_ms']['p95']} ms, p99 {load['ack_ms']['p99']} "
        f"ms (target <= 20), lost {load['lost']} (target 0)"
    )
    print(
        f"burst: {results['burst']['deliveries']} deliveries -> {results['burst']['passes']} "
        "pass(es) (target <= 2)"
    )
    kill = results["kill"]
    print(
        f"kill: {kill['accepted']} deliveries, worker SIGKILLed in job {kill['killed_during_job']}"
        f" -> {kill['processed_exactly_once']} processed exactly once, "
        f"{kill['processed_twice_or_more']} twice, {kill['unprocessed']} never, "
        f"{kill['jobs_reclaimed_after_lease']} job(s) re-claimed after the lease"
    )
    crowd = results["crowd"]
    print(
        f"crowd: {crowd['idle_connections']} idle connections, open files limited to "
        f"{SERVICE_FILES} -> {crowd['accepted']}/{crowd['deliveries']} deliveries, ack p50 "
        f"{crowd['ack_ms']['p50']} ms, max {crowd['ack_ms']['max']} ms (target <= 1000); "
        f"{crowd['accept_errors_logged']} accept() errors logged"
    )
    locked = results["locked"]
    print(
        f"locked store ({locked['held_s']:g} s): /livez p50 {locked['livez_ms']['p50']} ms, max "
        f"{locked['livez_ms']['max']} ms (target <= 100); /readyz {locked['readyz']} in "
        f"{locked['readyz_ms']} ms; the waiting delivery {locked['delivery']} after "
        f"{locked['delivery_s']} s"
    )
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, rest = sys.argv[2], sys.argv[3:]
        if kind == "serve":
            child_serve(
                Path(rest[0]), int(rest[1]), Path(rest[2]), float(rest[3]), rest[4] == "worker"
            )
        else:
            child_worker(Path(rest[0]), Path(rest[1]), float(rest[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200, help="deliveries per second (load)")
    parser.add_argument("--duration", type=float, default=30, help="seconds of load (max 120)")
    parser.add_argument("--burst", type=int, default=1000, help="deliveries in the burst")
    parser.add_argument("--kill-seconds", type=float, default=3, help="load before the kill")
    parser.add_argument("--idle", type=int, default=1100, help="idle connections (crowd)")
    args = parser.parse_args()
    args.duration = min(args.duration, 120)
    args.burst = min(args.burst, 20_000)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
