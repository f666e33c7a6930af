"""The PostgreSQL store against a real server (a throw-away cluster on loopback, see
tests/conftest.py): settings and errors, migrations in its dialect, workers claiming side by
side, leases and advisory locks that outlive a killed worker, a server restart, and moving an
SQLite store into it. The store API itself runs on both backends in test_store.py and
test_webhook.py."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from tracker_bridge.cli import main
from tracker_bridge.demo.postgres import LocalPostgres
from tracker_bridge.errors import ConfigError, StoreError, StoreUnavailableError
from tracker_bridge.model import ChangeSet, FieldChange, Plan, Snapshot
from tracker_bridge.planner import plan
from tracker_bridge.settings import Settings, StoreSettings, settings_from_dict
from tracker_bridge.store import Location, ProjectLockedError, Store, project_lock, schema_version
from tracker_bridge.store import database as store_module
from tracker_bridge.store.copy import copy_store

SNAPSHOT = Snapshot.model_validate(
    {
        "project": {"name": "web shop", "start": "2025-03-03"},
        "items": [{"key": "A", "estimate_hours": 16}, {"key": "B", "estimate_hours": 24}],
        "dependencies": [{"predecessor": "A", "successor": "B"}],
    }
)


def a_plan() -> Plan:
    return plan(SNAPSHOT, Settings(), dt.date(2025, 3, 3))


@pytest.fixture
def pg(pg_url: str) -> StoreSettings:
    return StoreSettings(url=pg_url)


def raw(server: LocalPostgres, url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, password=server.password, autocommit=True)


# ------------------------------------------------------------------ settings, errors


def test_settings_errors_never_show_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_dict({"store": {"url": "postgresql://tb:hunter2@db/tb"}})
    assert "must not contain a password" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigError, match=r"either path .* or url"):
        settings_from_dict({"store": {"url": "postgresql://tb@db/tb", "path": "/x.sqlite3"}})
    with pytest.raises(ConfigError, match="postgresql://USER@HOST"):
        settings_from_dict({"store": {"url": "mysql://tb@db/tb"}})
    with pytest.raises(ConfigError, match="must not be written in the config file"):
        settings_from_dict({"store": {"url": "postgresql://tb@db/tb", "password": "x"}})


def test_the_password_comes_from_a_file_or_the_environment(
    postgres_server: LocalPostgres, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRACKER_BRIDGE_STORE_PASSWORD")
    secret = tmp_path / "store.pw"
    secret.write_text(postgres_server.password + "\n")
    with Store.open(StoreSettings(url=pg_url, password_file=secret)) as store:
        assert store.version() == schema_version()
    monkeypatch.setenv("MY_DB_PASSWORD", postgres_server.password)
    with Store.open(StoreSettings(url=pg_url, password_env="MY_DB_PASSWORD")) as store:
        assert store.dialect.name == "postgresql"


def test_a_wrong_password_is_one_line_without_the_password(pg_url: str) -> None:
    with pytest.raises(StoreUnavailableError) as caught:
        Store.open(Location(url=pg_url, password="not-the-password-42"))
    message = str(caught.value)
    assert "password authentication failed" in message
    assert "password_env" in message  # says where the password comes from
    assert "not-the-password-42" not in message and "\n" not in message


def test_an_unreachable_server_is_one_clear_line() -> None:
    from tracker_bridge.demo.postgres import free_port

    url = f"postgresql://tb@127.0.0.1:{free_port()}/tb"
    with pytest.raises(StoreUnavailableError) as caught:
        Store.open(Location(url=url, password="secret-99"))
    message = str(caught.value)
    assert message.startswith(f"cannot connect to the store {url}: ")
    assert "refused" in message.lower() and "secret-99" not in message


# ------------------------------------------------------------------------ migrations


def test_the_schema_is_the_same_description_in_postgres_types(
    postgres_server: LocalPostgres, pg: StoreSettings
) -> None:
    with Store.open(pg) as store:
        assert store.version() == schema_version()
    assert pg.url is not None
    with raw(postgres_server, pg.url) as conn:
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = 'jobs'"
            ).fetchall()
        )
        versions = conn.execute("SELECT version, description FROM schema_version ORDER BY 1")
        assert versions.fetchall()[0] == (1, "baselines")
    # float64 for epoch seconds (PostgreSQL's REAL would round to minutes), identity keys
    assert types["not_before"] == "double precision" and types["id"] == "bigint"


def test_postgres_migrates_refuses_newer_and_foreign_schemas(
    postgres_server: LocalPostgres, pg: StoreSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(pg) as store:
        store.save_baseline("web shop", a_plan(), SNAPSHOT, "v1")
    extra = ("CREATE TABLE test_extra (id {id}, at {real} NOT NULL)",)
    with monkeypatch.context() as patched:
        patched.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, ("x", extra)])
        with Store.open(pg) as store:
            assert (store.opened_at_version, store.version()) == (
                schema_version() - 1,
                schema_version(),
            )
            assert store.get_baseline("web shop") is not None
    with pytest.raises(StoreError, match=r"newer tracker-bridge \(schema version 7; this"):
        Store.open(pg)
    assert pg.url is not None
    foreign = pg.url.replace("search_path%3D", "search_path%3Dforeign_")
    with raw(postgres_server, pg.url) as conn:
        schema = pg.url.rsplit("%3D", 1)[1]
        conn.execute(f"CREATE SCHEMA foreign_{schema}")
        conn.execute(f"CREATE TABLE foreign_{schema}.customers (id int)")
    with pytest.raises(StoreError, match="is a PostgreSQL schema but not a tracker-bridge store"):
        Store.open(Location(url=foreign, password=postgres_server.password))


# ------------------------------------------------------------------- shared queue


def test_concurrent_workers_claim_every_job_exactly_once(pg: StoreSettings) -> None:
    now = time.time()
    with Store.open(pg) as store:
        ids = {store.enqueue(f"p{n:03d}", now=now) for n in range(120)}
    claims: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        try:
            with Store.open(pg) as store:
                while job := store.claim_job(name, now=now, lease_seconds=60, max_attempts=3):
                    with lock:
                        claims.append((job.id, name))
                    time.sleep(0.002)  # a pass: the others claim meanwhile
                    assert store.complete_job(job.id, name, now=now)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    counts = Counter(job_id for job_id, _ in claims)
    assert set(counts) == ids and set(counts.values()) == {1}
    assert len({name for _, name in claims}) > 1  # they really worked side by side
    with Store.open(pg) as store:
        assert store.queue_counts() == {"queued": 0, "running": 0, "done": 120, "dead": 0}


def test_concurrent_deliveries_coalesce_into_one_job_per_project(pg: StoreSettings) -> None:
    now = time.time()
    errors: list[BaseException] = []

    def deliver(sender: int) -> None:
        try:
            with Store.open(pg) as store:
                for n in range(25):
                    store.accept_delivery(
                        "github",
                        f"{sender}-{n}",
                        ["web", "orders"] if n % 2 else ["orders", "web"],
                        now=now,
                        debounce_seconds=5,
                        max_wait_seconds=20,
                    )
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with Store.open(pg) as store:
        jobs = store.list_jobs(["queued"])
        assert sorted(j.project for j in jobs) == ["orders", "web"]
        assert {j.deliveries for j in jobs} == {200}
        assert store.delivery_stats().deliveries == 200


KILLED_WORKER = """
import sys, time
from tracker_bridge.store import Location, Store
from tracker_bridge.units import PlanningUnit, unit_locks
location = Location(url=sys.argv[1], password=sys.argv[2])
with Store.open(location) as store:
    job = store.claim_job("doomed", now=time.time(), lease_seconds=2, max_attempts=3)
    with unit_locks(location, PlanningUnit((job.project,))):
        print(job.id, flush=True)
        time.sleep(600)
"""


def test_a_killed_workers_lock_is_freed_and_its_job_runs_once_more(
    postgres_server: LocalPostgres, pg: StoreSettings
) -> None:
    assert pg.url is not None
    with Store.open(pg) as store:
        job_id = store.enqueue("web", now=time.time())
    doomed = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, pg.url, postgres_server.password],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert doomed.stdout is not None
        assert int(doomed.stdout.readline()) == job_id
        held = pytest.raises(ProjectLockedError, match=rf"\(\S+:{doomed.pid}\)")
        with held, project_lock(pg, "web"):
            pass
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        if doomed.stdout is not None:
            doomed.stdout.close()
    with project_lock(pg, "web", wait=5):  # the server dropped the dead session's lock
        pass
    with Store.open(pg) as store:
        assert store.claim_job("w", now=time.time(), lease_seconds=60, max_attempts=3) is None
        again = store.claim_job("w", now=time.time() + 2.5, lease_seconds=60, max_attempts=3)
        assert again is not None and (again.id, again.attempts) == (job_id, 2)
        assert store.complete_job(job_id, "w", now=time.time())
        assert store.queue_counts()["done"] == 1


def test_a_server_restart_is_one_error_then_a_fresh_connection_works(
    postgres_server: LocalPostgres, pg: StoreSettings
) -> None:
    store = Store.open(pg)
    try:
        store.enqueue("web", now=time.time())
        postgres_server.restart()
        with pytest.raises(StoreUnavailableError, match="will reconnect"):
            store.queue_counts()
    finally:
        store.close()
    with Store.open(pg) as fresh:
        assert fresh.queue_counts()["queued"] == 1  # nothing committed was lost


# ------------------------------------------------------------------------ moving in


def test_an_sqlite_store_is_copied_into_postgres(tmp_path: Path, pg: StoreSettings) -> None:
    now = time.time()
    with Store.open(tmp_path / "old.sqlite3") as old:
        old.save_baseline("web shop", a_plan(), SNAPSHOT, "v1")
        old.save_baseline("web shop", a_plan(), SNAPSHOT, "v2")
        old.set_cursor("web shop", "2025-03-03T10:00:00Z")
        old.save_snapshot_cache("web shop", SNAPSHOT)
        old.record_written(
            "web shop",
            ChangeSet(fields=[FieldChange(item="A", field="p80", old=None, new="2025-03-07")]),
        )
        old.accept_delivery(
            "github", "d-1", ["web shop"], now=now, debounce_seconds=0, max_wait_seconds=0
        )
        dead = old.enqueue("orders", now=now)
        old.claim_job("w", now=now, lease_seconds=60, max_attempts=1)
        old.fail_job(dead, "w", "boom", now=now, max_attempts=1, backoff_seconds=1)
        with Store.open(pg) as new:
            copied = copy_store(old, new)
            assert copied["baselines"] == 2 and copied["jobs"] == 2
            assert new.list_baselines() == old.list_baselines()
            assert new.get_baseline("web shop") == old.get_baseline("web shop")
            assert new.get_cursor("web shop") == "2025-03-03T10:00:00Z"
            assert new.load_snapshot_cache("web shop") == SNAPSHOT
            assert new.written_value("web shop", "A", "p80") == "2025-03-07"
            assert new.list_jobs() == old.list_jobs()
            assert new.has_delivery("github", "d-1")
            assert new.delivery_stats() == old.delivery_stats()
            # new rows get ids after the copied ones
            assert new.enqueue("later", now=now) > max(j.id for j in old.list_jobs())
            with pytest.raises(StoreError, match="already holds data"):
                copy_store(old, new)


def test_store_commands_copy_migrate_and_status(
    tmp_path: Path, pg: StoreSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "tb.toml"
    config.write_text(
        f'[store]\nurl = "{pg.url}"\n\n'
        '[trackers.rm]\nkind = "redmine"\nurl = "https://redmine.example"\n'
        'api_key_env = "TB_TEST_RM_KEY"\n\n'
        '[projects.orders]\ntracker = "rm"\nproject = "order-management"\n'
        '[projects.web]\ntracker = "rm"\nproject = "web"\n'
        '[projects.api]\ntracker = "rm"\nproject = "api"\n'
        '[plans.shop]\nprojects = ["web", "api"]\n',
        encoding="utf-8",
    )
    old = tmp_path / "old.sqlite3"
    with Store.open(old) as store:
        store.save_baseline("orders", a_plan(), SNAPSHOT, "v1")
    runner = CliRunner()
    copied = runner.invoke(main, ["store", "copy", "--from", str(old), "--config", str(config)])
    assert copied.exit_code == 0, copied.output
    assert "Copied 1 rows" in copied.output and "baselines 1" in copied.output
    migrated = runner.invoke(main, ["store", "migrate", "--config", str(config)])
    assert migrated.exit_code == 0 and f"schema version {schema_version()}, up to date" in (
        migrated.output
    )
    queued = runner.invoke(main, ["run", "--all", "--enqueue", "--config", str(config)])
    assert queued.exit_code == 0, queued.output
    assert "Queued 2 unit(s)" in queued.output  # orders, and the plan shop (web + api)
    status = runner.invoke(main, ["store", "status", "--json", "--config", str(config)])
    assert status.exit_code == 0, status.output
    body = json.loads(status.output)
    assert body["backend"] == "postgresql" and body["schema_version"] == schema_version()
    assert body["jobs"]["queued"] == 2 and body["due"] == 2
    assert body["oldest_queued_seconds"] is not None and body["oldest_queued_seconds"] < 60
    assert os.environ["TRACKER_BRIDGE_STORE_PASSWORD"] not in status.output


def test_worker_concurrency_runs_each_job_once(tmp_path: Path, pg: StoreSettings) -> None:
    config = tmp_path / "tb.toml"
    config.write_text(
        f'[store]\nurl = "{pg.url}"\n\n'
        '[trackers.rm]\nkind = "redmine"\nurl = "https://redmine.example"\n'
        'api_key_env = "TB_TEST_RM_KEY"\n',
        encoding="utf-8",
    )
    with Store.open(pg) as store:
        ids = [store.enqueue(f"gone-{n}", now=time.time()) for n in range(6)]
    result = CliRunner().invoke(
        main, ["worker", "--until-idle", "--concurrency", "3", "--config", str(config)]
    )
    assert result.exit_code == 1  # the projects are not configured: dead letters
    reported = [line.split()[1] for line in result.output.splitlines() if line.startswith("job ")]
    assert sorted(int(n) for n in reported) == sorted(ids)
    with Store.open(pg) as store:
        assert store.queue_counts()["dead"] == 6
