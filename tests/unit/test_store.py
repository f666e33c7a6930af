"""The store: versioned migrations, baselines, clear errors. The baseline tests run on both
stores (an SQLite file and PostgreSQL); the file's own behaviour on SQLite only."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tracker_bridge.errors import StoreError
from tracker_bridge.model import Plan, Snapshot
from tracker_bridge.planner import plan
from tracker_bridge.settings import Settings, StoreSettings
from tracker_bridge.store import Store, active_baseline, default_path, schema_version
from tracker_bridge.store import database as store_module

SNAPSHOT = Snapshot.model_validate(
    {
        "project": {"name": "web shop", "start": "2025-03-03"},
        "items": [
            {"key": "A", "estimate_hours": 16},
            {"key": "B", "estimate_hours": 24},
        ],
        "dependencies": [{"predecessor": "A", "successor": "B"}],
    }
)


def a_plan(as_of: dt.date = dt.date(2025, 3, 3)) -> Plan:
    return plan(SNAPSHOT, Settings(), as_of)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "state.sqlite3"


@pytest.fixture
def target(store_section: dict[str, str]) -> StoreSettings:
    """A ``[store]`` section: an SQLite file, then a PostgreSQL schema."""
    return StoreSettings.model_validate(store_section)


def test_open_creates_the_file_in_wal_mode_at_the_current_version(path: Path) -> None:
    with Store.open(path) as store:
        assert store.version() == schema_version() >= 1
    assert path.is_file()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = conn.execute("SELECT version, description FROM schema_version").fetchall()
        assert versions[0] == (1, "baselines")
        columns = {row[1] for row in conn.execute("PRAGMA table_info(baselines)")}
        assert {"project", "name", "saved_at", "active", "data"} <= columns
    finally:
        conn.close()


def test_default_path_is_the_user_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    expected = tmp_path / "data" / "tracker-bridge" / "state.sqlite3"
    assert default_path() == expected
    assert not expected.exists()  # only opening creates it
    with Store.open(None) as store:
        assert store.path == expected
    assert expected.is_file()


def test_save_list_get_and_activate_baselines(target: StoreSettings) -> None:
    saved_at = dt.datetime(2025, 3, 3, 9, 30, tzinfo=dt.UTC)
    with Store.open(target) as store:
        assert store.get_baseline("web shop") is None
        first = store.save_baseline("web shop", a_plan(), SNAPSHOT, saved_at=saved_at)
        assert first.name == "2025-03-03"  # the status date by default
        second = store.save_baseline(
            "web shop", a_plan(dt.date(2025, 3, 4)), SNAPSHOT, "re-plan", saved_at=saved_at
        )
        store.save_baseline("other", a_plan(), SNAPSHOT, "x", saved_at=saved_at)

        infos = store.list_baselines("web shop")
        assert [(i.name, i.active) for i in infos] == [("2025-03-03", False), ("re-plan", True)]
        assert infos[0].items == 2 and infos[0].as_of == dt.date(2025, 3, 3)
        assert infos[0].project_finish == dt.date(2025, 3, 7)
        assert infos[0].saved_at == saved_at
        assert len(store.list_baselines()) == 3
        assert store.projects() == ["other", "web shop"]

        assert store.get_baseline("web shop") == second  # the active one
        assert store.get_baseline("web shop", "2025-03-03") == first
        store.set_active("web shop", "2025-03-03")
        assert store.get_baseline("web shop") == first
        assert store.is_active("web shop", "2025-03-03")
        assert not store.is_active("web shop", "re-plan")
        assert store.get_baseline("other") is not None  # other projects untouched


def test_names_are_unique_per_project(target: StoreSettings) -> None:
    with Store.open(target) as store:
        store.save_baseline("web shop", a_plan(), SNAPSHOT, "v1")
        with pytest.raises(StoreError, match=r"already has a baseline named 'v1'"):
            store.save_baseline("web shop", a_plan(), SNAPSHOT, "v1")
        store.save_baseline("other", a_plan(), SNAPSHOT, "v1")  # fine elsewhere
        with pytest.raises(StoreError, match="must not be empty"):
            store.save_baseline("web shop", a_plan(), SNAPSHOT, "  ")
        assert [i.name for i in store.list_baselines("web shop")] == ["v1"]


def test_unknown_names_are_errors_that_list_the_known_ones(target: StoreSettings) -> None:
    with Store.open(target) as store:
        store.save_baseline("web shop", a_plan(), SNAPSHOT, "v1")
        with pytest.raises(StoreError, match=r"no baseline named 'v2' \(baselines: 'v1'\)"):
            store.get_baseline("web shop", "v2")
        with pytest.raises(StoreError, match="no baseline named 'v2'"):
            store.set_active("web shop", "v2")
        assert store.get_baseline("web shop") is not None  # the failed switch changed nothing


def test_baselines_survive_reopening(target: StoreSettings) -> None:
    with Store.open(target) as store:
        saved = store.save_baseline("web shop", a_plan(), SNAPSHOT, "v1")
    with Store.open(target) as store:
        assert store.get_baseline("web shop") == saved


def test_an_older_file_is_migrated(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Store.open(path) as store:
        store.save_baseline("web shop", a_plan(), SNAPSHOT, "v1")

    def add_jobs(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE test_jobs (id INTEGER PRIMARY KEY, project TEXT NOT NULL)")

    released = len(store_module.MIGRATIONS)
    migrations: list[Any] = [*store_module.MIGRATIONS, ("test table", add_jobs)]
    monkeypatch.setattr(store_module, "MIGRATIONS", migrations)
    with Store.open(path) as store:
        assert store.version() == released + 1
        assert store.get_baseline("web shop") is not None  # data kept
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM test_jobs").fetchone() == (0,)
        rows = conn.execute("SELECT version, description FROM schema_version ORDER BY 1")
        found = rows.fetchall()
        assert found[0] == (1, "baselines")
        assert found[-1] == (released + 1, "test table")
    finally:
        conn.close()


def test_a_failed_migration_leaves_the_last_complete_version(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store.open(path).close()

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half (x)")
        raise sqlite3.OperationalError("disk on fire")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, ("b", broken)])
    with pytest.raises(StoreError, match="disk on fire"):
        Store.open(path)
    monkeypatch.undo()
    with Store.open(path) as store:
        assert store.version() == len(store_module.MIGRATIONS)
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "half" not in tables
    finally:
        conn.close()


def test_a_newer_file_is_refused(path: Path) -> None:
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version VALUES (99, 'from the future', '2099-01-01')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"newer tracker-bridge \(schema version 99; this"):
        Store.open(path)


def test_unusable_files_give_clear_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(StoreError, match="cannot create the store directory"):
        Store.open(blocker / "sub" / "state.sqlite3")
    with pytest.raises(StoreError, match="is a directory"):
        Store.open(tmp_path)
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database at all, just some bytes" * 100)
    with pytest.raises(StoreError, match="not a tracker-bridge store"):
        Store.open(garbage)
    foreign = tmp_path / "foreign.sqlite3"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE customers (id)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a tracker-bridge store"):
        Store.open(foreign)


def test_active_baseline_never_creates_the_file(path: Path) -> None:
    assert active_baseline(path, "web shop") is None
    assert not path.exists()
    with Store.open(path) as store:
        saved = store.save_baseline("web shop", a_plan(), SNAPSHOT, "v1")
    assert active_baseline(path, "web shop") == saved
    assert active_baseline(path, "other") is None
