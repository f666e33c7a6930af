"""The service never fails quietly: worker faults, store faults, readiness, private files.

Faults are real where the operating system lets a test cause them: SQLite's own "database
or disk is full" (``PRAGMA max_page_count``), a write lock held by another connection. A
full disk under the lock file is the ``ENOSPC`` that ``os.pwrite`` would raise, injected at
that call.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient
from test_webhook import (
    Clock,
    FakePasses,
    _config,
    all_ok,
    make_settings,
    post_github,
    secrets_env,  # noqa: F401 - the autouse fixture that sets the webhook secrets
)

from tracker_bridge.cli import main
from tracker_bridge.errors import StoreError
from tracker_bridge.model import Finding
from tracker_bridge.settings import Settings
from tracker_bridge.store import Store, lock_path, project_lock
from tracker_bridge.webhook import create_app
from tracker_bridge.worker import Worker, WorkerSupervisor

LOOPBACK = ("127.0.0.1", 50000)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, retry_backoff_seconds=10, max_attempts=3)


@pytest.fixture
def disk_full(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[bool], None]]:
    """``disk_full(True)``: writing the lock file fails with ENOSPC until ``disk_full(False)``."""
    real = os.pwrite
    state = {"full": False}

    def pwrite(fd: int, data: bytes, offset: int) -> int:
        if state["full"]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    yield lambda full: state.__setitem__("full", full)


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.02)


# ------------------------------------------------------------------------- the worker


def test_a_lock_file_on_a_full_disk_retries_the_job_with_the_real_error(
    settings: Settings, clock: Clock, disk_full: Callable[[bool], None]
) -> None:
    passes = FakePasses()
    worker = Worker(settings, pass_fn=passes, clock=clock)
    with Store.open(settings.store.path) as s:
        job_id = s.enqueue("web", now=clock.now)
    disk_full(True)
    (run,) = worker.run_until_idle(max_jobs=1)
    assert run.outcome == "retry" and passes.calls == []
    assert "No space left on device" in (run.error or "")
    assert str(lock_path(settings.store.path, "web")) in (run.error or "")
    with Store.open(settings.store.path) as s:
        job = s.get_job(job_id)
        assert job is not None and job.state == "queued"
        assert "No space left on device" in (job.last_error or "")
    disk_full(False)
    clock.now += 10  # the first backoff
    (run,) = worker.run_until_idle()
    assert run.outcome == "done" and passes.calls == ["web"]
    worker.close()


def test_a_lock_file_on_a_full_disk_is_one_line_on_the_cli(
    tmp_path: Path, disk_full: Callable[[bool], None], caplog: pytest.LogCaptureFixture
) -> None:
    disk_full(True)
    result = CliRunner().invoke(main, ["run", "--config", str(_config(tmp_path)), "--quiet"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    (failed,) = [line for line in result.output.splitlines() if "FAILED" in line]
    assert failed.startswith("orders: FAILED: cannot take the lock file ")
    assert failed.endswith("state.sqlite3.orders.lock: No space left on device")
    assert "Traceback" not in result.output
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []  # no traceback logged


def test_the_worker_loop_survives_any_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    passes = FakePasses()
    worker = Worker(settings, pass_fn=passes)
    real_claim = Store.claim_job
    faults = {"left": 2}

    def claim(self: Store, *args: Any, **kwargs: Any) -> Any:
        if faults["left"]:
            faults["left"] -= 1
            raise OSError(errno.EIO, "Input/output error")
        return real_claim(self, *args, **kwargs)

    monkeypatch.setattr(Store, "claim_job", claim)
    with Store.open(settings.store.path) as s:
        s.enqueue("web", now=time.time())
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop, 0.02))
    thread.start()
    try:
        wait_for(lambda: passes.calls == ["web"])
        assert thread.is_alive()
        wait_for(lambda: worker.last_error is None)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_the_supervisor_restarts_a_worker_that_died(settings: Settings) -> None:
    passes = FakePasses()
    made: list[Worker] = []
    release = threading.Event()

    class Dying(Worker):
        def run(self, stop: threading.Event, poll_seconds: float = 0.5) -> None:
            if len(made) == 1:
                release.wait(10)
                raise MemoryError("out of memory in the worker")
            super().run(stop, poll_seconds)

    def make() -> Worker:
        worker = Dying(settings, pass_fn=passes)
        made.append(worker)
        return worker

    stop = threading.Event()
    supervisor = WorkerSupervisor(make, stop, poll_seconds=0.02, backoff=0.3)
    supervisor.start()
    try:
        wait_for(lambda: supervisor.status()["state"] == "running")
        release.set()
        wait_for(lambda: supervisor.status()["state"] == "restarting")
        status = supervisor.status()
        assert status["ok"] is False and status["restarts"] == 1
        assert status["error"] == "MemoryError: out of memory in the worker"
        wait_for(lambda: supervisor.status()["state"] == "running")
        with Store.open(settings.store.path) as s:
            s.enqueue("web", now=time.time())
        wait_for(lambda: passes.calls == ["web"])
        assert supervisor.status()["ok"] is True and len(made) == 2
    finally:
        stop.set()
        supervisor.join(timeout=10)
    assert supervisor.status()["state"] == "dead"


# -------------------------------------------------------------------------- the store


def test_a_full_database_reports_disk_full_not_the_rollback(tmp_path: Path) -> None:
    with Store.open(tmp_path / "state.sqlite3") as store:
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL
        with pytest.raises(StoreError) as caught:
            store.set_cursor("orders", "x" * 100_000)
    assert "database or disk is full" in str(caught.value)
    assert "rollback" not in str(caught.value)


def test_store_and_lock_files_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        shared = tmp_path / "shared"
        shared.mkdir(mode=0o755)
        path = shared / "new" / "deeper" / "state.sqlite3"
        with Store.open(path) as store:
            store.set_cursor("orders", "2026-01-01")
            files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
        with project_lock(path, "orders") as lock:
            modes[lock.name] = stat.S_IMODE(lock.stat().st_mode)
    finally:
        os.umask(old)
    assert modes == dict.fromkeys(modes, 0o600) and len(modes) == 4
    for directory in (shared / "new", shared / "new" / "deeper"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # existing directories are kept


def test_opening_the_store_keeps_the_locks_other_connections_hold(tmp_path: Path) -> None:
    # POSIX drops every lock a process holds on a file when it closes any descriptor of it.
    # Had opening the store opened and closed the file itself, this process's shared lock
    # would be gone, the other process's connection would believe itself the last one and
    # delete the WAL under our open connection (a corrupt store in the next minutes).
    path = tmp_path / "state.sqlite3"
    with Store.open(path) as first:
        first.set_cursor("orders", "2026-01-01")
        Store.open(path).close()  # another thread of this process opens the store
        probe = (
            "import sqlite3, sys\n"
            "sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM sqlite_master').fetchall()"
        )
        subprocess.run([sys.executable, "-c", probe, str(path)], check=True)
        assert path.with_name(path.name + "-wal").exists(), "the WAL was deleted under us"
        assert first.get_cursor("orders") == "2026-01-01"


# ------------------------------------------------------------------ the event loop


def test_a_locked_store_does_not_stall_other_requests(
    settings: Settings, clock: Clock, examples: dict[str, Any]
) -> None:
    app = create_app(settings, clock=clock, check=all_ok)
    with Store.open(settings.store.path):
        pass  # create the file before another process takes its lock
    holder = Store.open(settings.store.path)
    with TestClient(app, client=LOOPBACK) as client:
        holder._conn.execute("BEGIN IMMEDIATE")  # another process writing for a long time
        answers: list[int] = []
        posting = threading.Thread(
            target=lambda: answers.append(
                post_github(client, "issues", examples["issues"][0]).status_code
            )
        )
        posting.start()
        time.sleep(0.3)  # the delivery now waits for the write lock
        started = time.monotonic()
        live = client.get("/livez")
        live_seconds = time.monotonic() - started
        ready = client.get("/readyz")
        ready_seconds = time.monotonic() - started - live_seconds
        holder._conn.execute("ROLLBACK")
        posting.join(timeout=15)
    holder.close()
    assert live.status_code == 200 and live_seconds < 1.0  # the store's wait is 10 s
    assert ready.status_code == 503 and ready_seconds < 3.0
    assert ready.json()["store"]["id"] == "store.unavailable"
    assert "busy" in ready.json()["store"]["message"]
    assert answers == [202]  # the delivery went through once the lock was released


# ----------------------------------------------------------------- liveness, readiness


def test_livez_calls_neither_a_tracker_nor_the_store(tmp_path: Path, clock: Clock) -> None:
    calls: list[str] = []

    def check(s: Settings, project: str) -> list[Finding]:
        calls.append(project)
        return []

    settings = make_settings(tmp_path / "never-created")
    with TestClient(create_app(settings, clock=clock, check=check)) as client:
        live = client.get("/livez")
    assert live.status_code == 200 and live.json() == {"ok": True}
    assert calls == [] and not (tmp_path / "never-created").exists()


def test_readiness_reports_a_dead_worker_and_jobs_past_their_lease(
    settings: Settings, clock: Clock
) -> None:
    status: dict[str, object] = {"state": "running", "ok": True, "restarts": 0, "error": None}
    app = create_app(settings, clock=clock, check=all_ok, worker=lambda: status)
    with TestClient(app, client=LOOPBACK) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["stuck_jobs"] == []
        status.update(state="dead", ok=False, error="OSError: [Errno 28] No space left")
        dead = client.get("/readyz")
        assert dead.status_code == 503
        assert dead.json()["worker"]["state"] == "dead"
        assert "No space left" in dead.json()["worker"]["error"]
        status.update(state="running", ok=True, error=None)
        with Store.open(settings.store.path) as s:
            job_id = s.enqueue("web", now=clock.now)
            assert s.claim_job("gone", now=clock.now, lease_seconds=60, max_attempts=3)
        assert client.get("/readyz").status_code == 200  # within its lease
        clock.now += 61
        stuck = client.get("/readyz")
        health = client.get("/healthz")
    assert stuck.status_code == 503
    assert [(j["id"], j["project"]) for j in stuck.json()["stuck_jobs"]] == [(job_id, "web")]
    assert health.status_code == 503 and health.json()["stuck_jobs"] == stuck.json()["stuck_jobs"]


def _leaky_check(settings: Settings, project: str) -> list[Finding]:
    return [
        Finding(
            id="redmine.connect.failed",
            ok=False,
            message="cannot reach https://redmine.example/users/current.json with the key "
            "from /etc/tracker-bridge/redmine-key",
            fix="Check [trackers.rm].url (https://redmine.example); key file ~/secrets/redmine-key",
        )
    ]


def test_health_detail_needs_loopback_and_names_no_url_or_path(
    settings: Settings, clock: Clock
) -> None:
    app = create_app(settings, clock=clock, check=_leaky_check)
    with TestClient(app) as remote:  # starlette's client address: not loopback
        public = remote.get("/healthz")
        ready = remote.get("/readyz")
    assert public.status_code == 503 and public.json() == {"ok": False}
    assert ready.status_code == 200 and ready.json() == {"ok": True}
    with TestClient(app, client=LOOPBACK) as local:
        detail = local.get("/healthz")
        proxied = local.get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.json() == {"ok": False}  # a reverse proxy on this host: not local
    body = detail.json()
    (finding,) = body["projects"]["orders"]
    assert finding["id"] == "redmine.connect.failed"
    text = detail.text
    for leak in ("redmine.example", "/etc/tracker-bridge", "secrets/redmine-key", "state.sqlite3"):
        assert leak not in text, leak
    assert str(settings.store.path.parent) not in text
    assert "<url>" in finding["message"] and "<path>" in finding["message"]


def test_health_detail_with_a_token(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TB_TEST_HEALTH_TOKEN", "health-token-for-tests")
    settings = make_settings(tmp_path, health_token_env="TB_TEST_HEALTH_TOKEN")
    app = create_app(settings, clock=clock, check=all_ok)
    with TestClient(app, client=LOOPBACK) as client:
        anonymous = client.get("/readyz")  # a token is configured: loopback is not enough
        wrong = client.get("/readyz", headers={"Authorization": "Bearer nope"})
        right = client.get("/readyz", headers={"Authorization": "Bearer health-token-for-tests"})
    assert anonymous.json() == {"ok": True} and wrong.json() == {"ok": True}
    assert right.json()["worker"] == {"state": "external", "ok": True}
    assert right.json()["store"]["id"] == "store.ok"
    assert "health-token-for-tests" not in right.text


# -------------------------------------------------------------------- the log flood


def test_accept_errors_are_logged_once_a_minute() -> None:
    import logging

    from tracker_bridge.server import AcceptErrorFilter

    now = {"t": 1000.0}
    flood = AcceptErrorFilter(interval=60, clock=lambda: now["t"])

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, (), None)

    passed = [flood.filter(record("socket.accept() out of system resource")) for _ in range(1000)]
    assert passed.count(True) == 1
    assert flood.filter(record("Task exception was never retrieved"))  # others untouched
    now["t"] += 61
    again = record("socket.accept() out of system resource")
    assert flood.filter(again) and again.getMessage().endswith("; 999 repeats not logged")
