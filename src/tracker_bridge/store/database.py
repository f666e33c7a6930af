"""The store: where it lives (:class:`Location`: an SQLite file, the default, or a PostgreSQL
database), opening it (a private file in WAL mode; a connection), the versioned migrations
(one schema description, spelled per :mod:`~tracker_bridge.store.dialect`), transactions, and
the one translation of the driver's errors into :class:`StoreError`."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

import platformdirs

from tracker_bridge.errors import StoreError, StoreUnavailableError
from tracker_bridge.store.dialect import Connection, Dialect

APP_NAME = "tracker-bridge"
FILE_NAME = "state.sqlite3"
BUSY_TIMEOUT_SECONDS = 10.0

#: A migration: schema statements (with the dialect's ``{id}``, ``{real}``, ``{json}``
#: tokens), or a function for what SQL text alone cannot say.
Migration = tuple[str, ...] | Callable[[Connection], None]

_M1_BASELINES = (
    """
    CREATE TABLE baselines (
        id {id},
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        saved_at TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
        data {json},
        UNIQUE (project, name)
    )
    """,
    "CREATE UNIQUE INDEX baselines_one_active ON baselines (project) WHERE active = 1",
)

_M2_SNAPSHOT_CACHE = (
    """
    CREATE TABLE snapshot_cache (
        project TEXT PRIMARY KEY,
        saved_at TEXT NOT NULL,
        data {json}
    )
    """,
    """
    CREATE TABLE sync_cursors (
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (project, name)
    )
    """,
)

_M3_WRITTEN_VALUES = (
    """
    CREATE TABLE written_values (
        project TEXT NOT NULL,
        item TEXT NOT NULL,
        field TEXT NOT NULL,
        value TEXT NOT NULL,
        written_at TEXT NOT NULL,
        PRIMARY KEY (project, item, field)
    )
    """,
)

# Times are Unix epoch seconds ({real}: float64): the queue compares them on every claim.
_M4_JOB_QUEUE = (
    """
    CREATE TABLE jobs (
        id {id},
        project TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
        created_at {real} NOT NULL,
        not_before {real} NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        lease_until {real},
        lease_owner TEXT,
        deliveries INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        updated_at {real} NOT NULL,
        finished_at {real}
    )
    """,
    # One waiting job per project: new deliveries coalesce into it.
    "CREATE UNIQUE INDEX jobs_one_queued ON jobs (project) WHERE state = 'queued'",
    "CREATE INDEX jobs_by_state ON jobs (state, not_before)",
)

_M5_WEBHOOK_DELIVERIES = (
    """
    CREATE TABLE webhook_deliveries (
        id {id},
        source TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        received_at {real} NOT NULL,
        event TEXT,
        outcome TEXT NOT NULL,
        UNIQUE (source, delivery_id)
    )
    """,
    "CREATE INDEX webhook_deliveries_received ON webhook_deliveries (received_at)",
    # Which project pass covers a delivery; processed_count audits "exactly once".
    """
    CREATE TABLE delivery_jobs (
        delivery BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
        project TEXT NOT NULL,
        job_id BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
        processed_at {real},
        processed_count INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (delivery, project)
    )
    """,
    "CREATE INDEX delivery_jobs_job ON delivery_jobs (job_id)",
)

# Workers seen recently (``store status``): each worker thread stamps its row as it polls.
_M6_WORKERS = (
    """
    CREATE TABLE workers (
        name TEXT PRIMARY KEY,
        started_at {real} NOT NULL,
        seen_at {real} NOT NULL,
        jobs_done INTEGER NOT NULL DEFAULT 0
    )
    """,
)

# (description, migration) in order; version N = the first N applied. Append only.
MIGRATIONS: list[tuple[str, Migration]] = [
    ("baselines", _M1_BASELINES),
    ("snapshot cache and sync cursors", _M2_SNAPSHOT_CACHE),
    ("values last written per item and field", _M3_WRITTEN_VALUES),
    ("job queue (dead letters are jobs in state 'dead')", _M4_JOB_QUEUE),
    ("webhook delivery ids", _M5_WEBHOOK_DELIVERIES),
    ("workers seen recently", _M6_WORKERS),
]

#: The tables of the schema, parents before children (``store copy`` copies in this order).
TABLES = (
    "baselines",
    "snapshot_cache",
    "sync_cursors",
    "written_values",
    "jobs",
    "webhook_deliveries",
    "delivery_jobs",
    "workers",
)


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


@dataclass(frozen=True)
class Location:
    """Where the store lives: an SQLite file (``path``; None: the default file) or, with
    ``url``, a PostgreSQL database (the password apart: never in the URL or the config)."""

    path: Path | None = None
    url: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def is_postgres(self) -> bool:
        return self.url is not None

    def describe(self) -> str:
        """The file, or the URL (without a password), for messages."""
        if self.url is not None:
            from tracker_bridge.store.postgres import redact_url

            return redact_url(self.url)
        return str(resolve_path(self.path))


class HasLocation(Protocol):
    """A config section that knows where the store is (``settings.store``)."""

    def location(self) -> Location: ...


#: What every ``open``-like function takes: a file, a location, or ``settings.store``.
StoreTarget = Path | Location | HasLocation | None


def locate(target: StoreTarget) -> Location:
    """The :class:`Location` of a file path, a location or a ``[store]`` section."""
    if target is None or isinstance(target, Path):
        return Location(path=target)
    if isinstance(target, Location):
        return target
    return target.location()


def sqlite_dialect() -> Dialect:
    """SQLite's dialect: one writer at a time (BEGIN IMMEDIATE), JSON1 functions."""
    return Dialect(
        name="sqlite",
        types={
            "id": "INTEGER PRIMARY KEY",
            "real": "REAL",
            "json": "TEXT NOT NULL CHECK (json_valid(data))",
        },
        begin="BEGIN IMMEDIATE",
        for_update="",
        skip_locked="",
        tables_sql="SELECT name FROM sqlite_master WHERE type = 'table'",
        json_field=lambda column, key: f"json_extract({column}, '$.{key}')",
        json_length=lambda column, key: f"(SELECT COUNT(*) FROM json_each({column}, '$.{key}'))",
        errors=(sqlite3.Error,),
        message=lambda where, e: sqlite_message(Path(where), e),  # type: ignore[arg-type]
        lock_key=lambda conn, project: None,  # BEGIN IMMEDIATE already serialises writers
    )


class Database:
    """An open store: connection, transactions, migrations. Use :meth:`open`; close it (or
    use ``with``) when done."""

    def __init__(self, conn: Connection, location: Location, dialect: Dialect) -> None:
        self._conn = conn
        self.location = location
        self.dialect = dialect
        #: the SQLite file (None for PostgreSQL)
        self.path: Path | None = None if location.is_postgres else resolve_path(location.path)
        #: the file or the URL without a password, for messages
        self.where = location.describe()
        #: the schema version found on opening, before migrating (``store migrate``)
        self.opened_at_version = 0

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, target: StoreTarget = None, *, timeout: float = BUSY_TIMEOUT_SECONDS) -> Self:
        """Open (creating and migrating as needed) the store at ``target`` or the default file.

        ``timeout``: how long a statement waits for another process's write lock (SQLite).
        """
        location = locate(target)
        if location.url is not None:
            return cls._open_postgres(location)
        return cls._open_sqlite(location, timeout)

    @classmethod
    def _open_postgres(cls, location: Location) -> Self:
        from tracker_bridge.store import postgres

        assert location.url is not None
        conn = postgres.connect(location.url, location.password)
        store = cls(conn, location, postgres.dialect())
        try:
            with store._translated():
                # one migrating process at a time; the others wait, then find it done
                lock = ("SELECT pg_advisory_lock(?)", "SELECT pg_advisory_unlock(?)")
                key = (_MIGRATION_LOCK,)
                conn.execute(lock[0], key)
                try:
                    store._migrate()
                finally:
                    conn.execute(lock[1], key)
        except BaseException:
            conn.close()
            raise
        return store

    @classmethod
    def _open_sqlite(cls, location: Location, timeout: float) -> Self:
        target = resolve_path(location.path)
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
        store = cls(conn, Location(path=target), sqlite_dialect())
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
        with suppress(*self.dialect.errors):  # closing a connection the server dropped
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
    def _transaction(self) -> Iterator[Connection]:
        """One short write transaction (SQLite: BEGIN IMMEDIATE takes the write lock up
        front); a driver error in it rolls back and becomes a :class:`StoreError`."""
        conn = self._conn
        errors = self.dialect.errors
        with self._translated():
            conn.execute(self.dialect.begin)
        try:
            yield conn
        except errors as e:
            self._rollback()
            raise self._error(e) from None
        except BaseException:
            self._rollback()
            raise
        else:
            try:
                conn.execute("COMMIT")
            except errors as e:
                # report why the commit failed (disk full, I/O error), not the rollback's
                # "no transaction is active" when SQLite already rolled back on its own
                self._rollback()
                raise self._error(e) from None

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """The driver's errors as a :class:`StoreError` naming the store: the one translation."""
        try:
            yield
        except self.dialect.errors as e:
            raise self._error(e) from None

    def _error(self, error: BaseException) -> StoreError:
        message = self.dialect.message(self.where, error)
        if self.location.is_postgres:
            from tracker_bridge.store.postgres import is_disconnect

            if is_disconnect(error):
                return StoreUnavailableError(message)
        return StoreError(message)

    def _rollback(self) -> None:
        """Roll back if a transaction is still open; never mask the error that got us here."""
        with suppress(*self.dialect.errors):
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")

    def _version(self) -> int:
        row = self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _migrate(self) -> None:
        conn = self._conn
        tables = {str(row[0]) for row in conn.execute(self.dialect.tables_sql).fetchall()}
        if tables and "schema_version" not in tables:
            kind = "a PostgreSQL schema" if self.location.is_postgres else "an SQLite file"
            raise StoreError(
                f"{self.where} is {kind} but not a tracker-bridge store (no schema_version "
                "table); point [store] at another file or database"
            )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        target = schema_version()
        current = self._version()
        self.opened_at_version = current
        if current > target:
            raise StoreError(
                f"{self.where} was written by a newer tracker-bridge (schema version {current}; "
                f"this program knows up to {target}); upgrade tracker-bridge or point [store] "
                "at another file or database"
            )
        while current < target:
            with self._transaction():
                current = self._version()  # another process may have migrated meanwhile
                if current >= target:
                    break
                description, migration = MIGRATIONS[current]
                if callable(migration):
                    migration(conn)
                else:
                    for statement in migration:
                        conn.execute(self.dialect.ddl(statement))
                conn.execute(
                    "INSERT INTO schema_version (version, description, applied_at) "
                    "VALUES (?, ?, ?)",
                    (current + 1, description, utc_now().isoformat()),
                )
            current += 1

    def version(self) -> int:
        """The schema version of the open store."""
        with self._translated():
            return self._version()

    def check_writable(self) -> None:
        """Take the write lock and give it back (nothing written); StoreError when we cannot."""
        with self._transaction():
            pass


#: The advisory lock that lets one process at a time migrate a PostgreSQL store.
_MIGRATION_LOCK = 0x7472_6B62_6D69_6772  # "trkbmigr"


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
