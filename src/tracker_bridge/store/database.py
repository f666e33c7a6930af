"""The store file: opening it private, WAL mode, versioned migrations, transactions, and
the one translation of SQLite errors into :class:`StoreError`."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Self

import platformdirs

from tracker_bridge.errors import StoreError

APP_NAME = "tracker-bridge"
FILE_NAME = "state.sqlite3"
BUSY_TIMEOUT_SECONDS = 10.0

Migration = Callable[[sqlite3.Connection], None]


def _m1_baselines(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE baselines (
            id INTEGER PRIMARY KEY,
            project TEXT NOT NULL,
            name TEXT NOT NULL,
            saved_at TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
            data TEXT NOT NULL CHECK (json_valid(data)),
            UNIQUE (project, name)
        )
        """
    )
    conn.execute("CREATE UNIQUE INDEX baselines_one_active ON baselines (project) WHERE active = 1")


def _m2_snapshot_cache(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE snapshot_cache (
            project TEXT PRIMARY KEY,
            saved_at TEXT NOT NULL,
            data TEXT NOT NULL CHECK (json_valid(data))
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE sync_cursors (
            project TEXT NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (project, name)
        )
        """
    )


def _m3_written_values(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE written_values (
            project TEXT NOT NULL,
            item TEXT NOT NULL,
            field TEXT NOT NULL,
            value TEXT NOT NULL,
            written_at TEXT NOT NULL,
            PRIMARY KEY (project, item, field)
        )
        """
    )


def _m4_job_queue(conn: sqlite3.Connection) -> None:
    # Times are Unix epoch seconds (REAL): the queue compares them on every claim.
    conn.execute(
        """
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            project TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
            created_at REAL NOT NULL,
            not_before REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            lease_until REAL,
            lease_owner TEXT,
            deliveries INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            updated_at REAL NOT NULL,
            finished_at REAL
        )
        """
    )
    # One waiting job per project: new deliveries coalesce into it.
    conn.execute("CREATE UNIQUE INDEX jobs_one_queued ON jobs (project) WHERE state = 'queued'")
    conn.execute("CREATE INDEX jobs_by_state ON jobs (state, not_before)")


def _m5_webhook_deliveries(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE webhook_deliveries (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            delivery_id TEXT NOT NULL,
            received_at REAL NOT NULL,
            event TEXT,
            outcome TEXT NOT NULL,
            UNIQUE (source, delivery_id)
        )
        """
    )
    conn.execute("CREATE INDEX webhook_deliveries_received ON webhook_deliveries (received_at)")
    # Which project pass covers a delivery; processed_count audits "exactly once".
    conn.execute(
        """
        CREATE TABLE delivery_jobs (
            delivery INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
            project TEXT NOT NULL,
            job_id INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
            processed_at REAL,
            processed_count INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (delivery, project)
        )
        """
    )
    conn.execute("CREATE INDEX delivery_jobs_job ON delivery_jobs (job_id)")


# (description, function) in order; version N = the first N applied. Append only.
MIGRATIONS: list[tuple[str, Migration]] = [
    ("baselines", _m1_baselines),
    ("snapshot cache and sync cursors", _m2_snapshot_cache),
    ("values last written per item and field", _m3_written_values),
    ("job queue (dead letters are jobs in state 'dead')", _m4_job_queue),
    ("webhook delivery ids", _m5_webhook_deliveries),
]


def schema_version() -> int:
    """The schema version this program writes."""
    return len(MIGRATIONS)


#: Store, WAL and lock files are the owner's only: the store caches issue data.
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def make_private_dir(path: Path) -> None:
    """Create ``path`` and its missing parents owner-only (0700); existing ones are kept."""
    missing: list[Path] = []
    for parent in (path, *path.parents):
        if parent.is_dir():
            break
        missing.append(parent)
    for directory in reversed(missing):
        with suppress(FileExistsError):  # another process made it meanwhile
            directory.mkdir(mode=PRIVATE_DIR_MODE)


def _chmod_private(path: Path) -> None:
    try:
        os.chmod(path, PRIVATE_FILE_MODE)
    except OSError as e:
        raise StoreError(f"cannot make the store {path} private: {e.strerror or e}") from None


def default_path() -> Path:
    """``<user data dir>/tracker-bridge/state.sqlite3`` (not created here)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / FILE_NAME


def resolve_path(path: Path | None) -> Path:
    """The configured path (``~`` expanded) or the default."""
    return default_path() if path is None else Path(path).expanduser()


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class Database:
    """An open store file: connection, transactions, migrations. Use :meth:`open`; close it
    (or use ``with``) when done."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: Path | None = None, *, timeout: float = BUSY_TIMEOUT_SECONDS) -> Self:
        """Open (creating and migrating as needed) the store at ``path`` or the default.

        ``timeout``: how long a statement waits for another process's write lock.
        """
        target = resolve_path(path)
        if target.is_dir():
            raise StoreError(f"store {target} is a directory; [store] path must name a file")
        try:
            make_private_dir(target.parent)
        except OSError as e:
            raise StoreError(
                f"cannot create the store directory {target.parent}: {e.strerror or e}; "
                "set [store] path to a writable location"
            ) from None
        new = not target.exists()
        try:
            conn = sqlite3.connect(target, timeout=timeout, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(sqlite_message(target, e)) from None
        store = cls(conn, target)
        try:
            if new:
                # the store caches issue data: owner-only, before WAL mode creates -wal and
                # -shm with the file's mode. By path, never by opening and closing the file
                # ourselves: closing any descriptor of it drops this process's SQLite locks.
                _chmod_private(target)
            conn.execute("PRAGMA foreign_keys = ON")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                raise StoreError(f"store {target}: cannot switch to WAL mode (got {mode})")
            store._migrate()
        except sqlite3.Error as e:
            conn.close()
            raise StoreError(sqlite_message(target, e)) from None
        except BaseException:
            conn.close()
            raise
        return store

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction (BEGIN IMMEDIATE: take the write lock up front); an
        SQLite error in it rolls back and becomes a :class:`StoreError` naming the file."""
        conn = self._conn
        with self._translated():
            conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except sqlite3.Error as e:
            self._rollback()
            raise StoreError(sqlite_message(self.path, e)) from None
        except BaseException:
            self._rollback()
            raise
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as e:
                # report why the commit failed (disk full, I/O error), not the rollback's
                # "no transaction is active" when SQLite already rolled back on its own
                self._rollback()
                raise StoreError(sqlite_message(self.path, e)) from None

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """SQLite's errors as a :class:`StoreError` naming the file: the one translation."""
        try:
            yield
        except sqlite3.Error as e:
            raise StoreError(sqlite_message(self.path, e)) from None

    def _rollback(self) -> None:
        """Roll back if a transaction is still open; never mask the error that got us here."""
        if self._conn.in_transaction:
            with suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")

    def _version(self) -> int:
        row = self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _migrate(self) -> None:
        conn = self._conn
        tables = {
            str(row[0])
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if tables and "schema_version" not in tables:
            raise StoreError(
                f"{self.path} is an SQLite file but not a tracker-bridge store (no "
                "schema_version table); point [store] path at another file"
            )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        target = schema_version()
        current = self._version()
        if current > target:
            raise StoreError(
                f"{self.path} was written by a newer tracker-bridge (schema version {current}; "
                f"this program knows up to {target}); upgrade tracker-bridge or set [store] "
                "path to another file"
            )
        while current < target:
            with self._transaction():
                current = self._version()  # another process may have migrated meanwhile
                if current >= target:
                    break
                description, migration = MIGRATIONS[current]
                migration(conn)
                conn.execute(
                    "INSERT INTO schema_version (version, description, applied_at) "
                    "VALUES (?, ?, ?)",
                    (current + 1, description, utc_now().isoformat()),
                )
            current += 1

    def version(self) -> int:
        """The schema version of the open file."""
        return self._version()

    def check_writable(self) -> None:
        """Take the write lock and give it back (nothing written); StoreError when we cannot."""
        with self._transaction():
            pass


def sqlite_message(path: Path, error: sqlite3.Error) -> str:
    text = str(error)
    lowered = text.lower()
    if "not a database" in lowered or "file is encrypted" in lowered:
        return f"{path} is not a tracker-bridge store (not an SQLite database)"
    if "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        return (
            f"cannot write the store {path} ({text}); check its permissions or set "
            "[store] path to a writable location"
        )
    if "locked" in lowered or "busy" in lowered:
        return (
            f"the store {path} is busy (another tracker-bridge is writing to it for more "
            f"than {BUSY_TIMEOUT_SECONDS:g} s); try again"
        )
    return f"store {path}: {text}"
