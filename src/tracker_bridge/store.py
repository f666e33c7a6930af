"""The embedded SQLite store: state that outlives one pass — baselines, sync cursors and the
snapshot cache, the values we wrote (webhook echoes), webhook delivery ids, the job queue with
its dead letters — and the per-project lock files beside it.

One file, by default ``<user data dir>/tracker-bridge/state.sqlite3`` (``platformdirs``), or
``[store] path`` in the config. The schema is versioned: ``schema_version`` records every
migration applied, :data:`MIGRATIONS` lists them in order, and opening a file written by an
older tracker-bridge applies the missing ones (each in its own transaction, so a crash leaves
the file at the last complete version). A file written by a *newer* tracker-bridge is
refused rather than guessed at.

The file runs in WAL mode (readers never block the writer) and every operation is one short
transaction; a busy file is retried for a few seconds before it is reported.

Later migrations append to :data:`MIGRATIONS` (never edit a released one). Besides baselines
the file holds cached snapshots and sync cursors, the values last written per item and field
(to recognise our own echoes in webhooks), webhook delivery ids, and the job queue of the
webhook server (a failed job that used up its attempts stays as a dead letter, state 'dead').

:func:`project_lock` is the per-project lock that makes cron runs and webhook passes of the
same project take turns: ``fcntl.flock`` on a lock file next to the store file.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import platformdirs
from pydantic import ValidationError

from tracker_bridge.errors import StoreError
from tracker_bridge.model import Baseline, ChangeSet, Plan, Snapshot
from tracker_bridge.planner.baseline import make_baseline

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


@dataclass(frozen=True)
class BaselineInfo:
    """One row of :meth:`Store.list_baselines`: what a baseline is, without its items."""

    project: str
    name: str
    saved_at: dt.datetime
    active: bool
    as_of: dt.date
    project_finish: dt.date
    items: int
    budget_at_completion: float | None


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class Store:
    """An open store file. Use :meth:`open`; close it (or use ``with``) when done."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: Path | None = None, *, timeout: float = BUSY_TIMEOUT_SECONDS) -> Store:
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
            raise StoreError(_message(target, e)) from None
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
            raise StoreError(_message(target, e)) from None
        except BaseException:
            conn.close()
            raise
        return store

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
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
        """One short write transaction (BEGIN IMMEDIATE: take the write lock up front)."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None
        try:
            yield conn
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
                raise StoreError(_message(self.path, e)) from None

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
                    (current + 1, description, _utc_now().isoformat()),
                )
            current += 1

    def version(self) -> int:
        """The schema version of the open file."""
        return self._version()

    # ---------------------------------------------------------------- baselines

    def save_baseline(
        self,
        project: str,
        plan: Plan,
        snapshot: Snapshot,
        name: str | None = None,
        *,
        saved_at: dt.datetime | None = None,
    ) -> Baseline:
        """Freeze ``plan`` as a baseline of ``project`` and make it the active one.

        ``name`` defaults to the plan's status date (``YYYY-MM-DD``); names are unique per
        project and a taken name is an error (nothing is overwritten).
        """
        name = (name if name is not None else plan.project.as_of.isoformat()).strip()
        if not name:
            raise StoreError("a baseline name must not be empty")
        baseline = make_baseline(plan, snapshot, name, saved_at or _utc_now())
        data = baseline.model_dump_json()
        try:
            with self._transaction() as conn:
                taken = conn.execute(
                    "SELECT 1 FROM baselines WHERE project = ? AND name = ?", (project, name)
                ).fetchone()
                if taken:
                    raise StoreError(
                        f"project {project!r} already has a baseline named {name!r}; "
                        "choose another name (--name)"
                    )
                conn.execute("UPDATE baselines SET active = 0 WHERE project = ?", (project,))
                conn.execute(
                    "INSERT INTO baselines (project, name, saved_at, active, data) "
                    "VALUES (?, ?, ?, 1, ?)",
                    (project, name, baseline.saved_at.isoformat(), data),
                )
        except sqlite3.IntegrityError:
            raise StoreError(
                f"project {project!r} already has a baseline named {name!r}; "
                "choose another name (--name)"
            ) from None
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None
        return baseline

    def list_baselines(self, project: str | None = None) -> list[BaselineInfo]:
        """Baselines of ``project`` (of every project when None), oldest first."""
        sql = (
            "SELECT project, name, saved_at, active, json_extract(data, '$.as_of'),"
            " json_extract(data, '$.project_finish'),"
            " (SELECT COUNT(*) FROM json_each(data, '$.items')),"
            " json_extract(data, '$.budget_at_completion')"
            " FROM baselines"
        )
        args: tuple[str, ...] = ()
        if project is not None:
            sql += " WHERE project = ?"
            args = (project,)
        sql += " ORDER BY project, saved_at, id"
        try:
            rows = self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None
        return [
            BaselineInfo(
                project=row[0],
                name=row[1],
                saved_at=dt.datetime.fromisoformat(row[2]),
                active=bool(row[3]),
                as_of=dt.date.fromisoformat(row[4]),
                project_finish=dt.date.fromisoformat(row[5]),
                items=int(row[6]),
                budget_at_completion=None if row[7] is None else float(row[7]),
            )
            for row in rows
        ]

    def projects(self) -> list[str]:
        """Projects that have at least one baseline."""
        rows = self._conn.execute("SELECT DISTINCT project FROM baselines ORDER BY project")
        return [str(row[0]) for row in rows]

    def get_baseline(self, project: str, name: str | None = None) -> Baseline | None:
        """The named baseline (an error if there is none), or the active one (None if none)."""
        try:
            if name is None:
                row = self._conn.execute(
                    "SELECT data FROM baselines WHERE project = ? AND active = 1", (project,)
                ).fetchone()
                if row is None:
                    return None
            else:
                row = self._conn.execute(
                    "SELECT data FROM baselines WHERE project = ? AND name = ?", (project, name)
                ).fetchone()
                if row is None:
                    raise StoreError(self._unknown(project, name))
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None
        try:
            return Baseline.model_validate_json(row[0])
        except ValidationError as e:
            raise StoreError(
                f"{self.path}: baseline {name or '(active)'!r} of project {project!r} is "
                f"damaged: {e.errors()[0]['msg']}"
            ) from None

    def is_active(self, project: str, name: str) -> bool:
        row = self._conn.execute(
            "SELECT active FROM baselines WHERE project = ? AND name = ?", (project, name)
        ).fetchone()
        return bool(row and row[0])

    def set_active(self, project: str, name: str) -> None:
        """Make ``name`` the active baseline of ``project`` (the one ``plan`` compares with)."""
        try:
            with self._transaction() as conn:
                exists = conn.execute(
                    "SELECT 1 FROM baselines WHERE project = ? AND name = ?", (project, name)
                ).fetchone()
                if not exists:
                    raise StoreError(self._unknown(project, name))
                conn.execute("UPDATE baselines SET active = 0 WHERE project = ?", (project,))
                conn.execute(
                    "UPDATE baselines SET active = 1 WHERE project = ? AND name = ?",
                    (project, name),
                )
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None

    def _unknown(self, project: str, name: str) -> str:
        names = [info.name for info in self.list_baselines(project)]
        known = ", ".join(repr(n) for n in names) if names else "none saved yet"
        return f"project {project!r} has no baseline named {name!r} (baselines: {known})"

    # ------------------------------------------------------- snapshot cache, cursors

    def get_cursor(self, project: str, name: str = "issues") -> str | None:
        """The sync cursor ``name`` of ``project`` (e.g. the last ``updated_on`` seen)."""
        try:
            row = self._conn.execute(
                "SELECT value FROM sync_cursors WHERE project = ? AND name = ?", (project, name)
            ).fetchone()
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None
        return None if row is None else str(row[0])

    def set_cursor(self, project: str, value: str, name: str = "issues") -> None:
        """Remember the sync cursor ``name`` of ``project``."""
        try:
            with self._transaction() as conn:
                conn.execute(
                    "INSERT INTO sync_cursors (project, name, value, updated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (project, name) DO UPDATE SET "
                    "value = excluded.value, updated_at = excluded.updated_at",
                    (project, name, value, _utc_now().isoformat()),
                )
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None

    def save_snapshot_cache(self, project: str, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` as the cached state of ``project`` (replacing the previous one)."""
        data = snapshot.model_dump_json()
        try:
            with self._transaction() as conn:
                conn.execute(
                    "INSERT INTO snapshot_cache (project, saved_at, data) VALUES (?, ?, ?) "
                    "ON CONFLICT (project) DO UPDATE SET saved_at = excluded.saved_at, "
                    "data = excluded.data",
                    (project, _utc_now().isoformat(), data),
                )
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None

    def load_snapshot_cache(self, project: str) -> Snapshot | None:
        """The cached snapshot of ``project``; None when there is none (or it is unreadable)."""
        try:
            row = self._conn.execute(
                "SELECT data FROM snapshot_cache WHERE project = ?", (project,)
            ).fetchone()
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None
        if row is None:
            return None
        try:
            return Snapshot.model_validate_json(row[0])
        except ValidationError:
            # a cache written by another version: ignore it, the next fetch is a full one
            return None

    # ---------------------------------------------------------------- our writes

    def record_written(
        self, project: str, changes: ChangeSet, *, at: dt.datetime | None = None
    ) -> int:
        """Remember the field values a pass just wrote (to recognise their echoes)."""
        if not changes.fields:
            return 0
        stamp = (at or _utc_now()).isoformat()
        try:
            with self._transaction() as conn:
                conn.executemany(
                    "INSERT INTO written_values (project, item, field, value, written_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (project, item, field) DO UPDATE SET "
                    "value = excluded.value, written_at = excluded.written_at",
                    [(project, c.item, c.field, c.new, stamp) for c in changes.fields],
                )
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None
        return len(changes.fields)

    def written_value(self, project: str, item: str, field: str) -> str | None:
        """The value we last wrote to ``field`` of ``item`` (None: never written)."""
        try:
            row = self._conn.execute(
                "SELECT value FROM written_values WHERE project = ? AND item = ? AND field = ?",
                (project, item, field),
            ).fetchone()
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None
        return None if row is None else str(row[0])

    def written_values_of_field(self, project: str, field: str) -> set[str]:
        """Every value we last wrote to ``field`` on any item of ``project``."""
        try:
            rows = self._conn.execute(
                "SELECT DISTINCT value FROM written_values WHERE project = ? AND field = ?",
                (project, field),
            ).fetchall()
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None
        return {str(row[0]) for row in rows}

    # ------------------------------------------------------ deliveries and the queue

    def accept_delivery(
        self,
        source: str,
        delivery_id: str,
        projects: Sequence[str],
        *,
        now: float,
        debounce_seconds: float,
        max_wait_seconds: float,
        event: str | None = None,
        outcome: str = "queued",
    ) -> Accepted:
        """Record a webhook delivery and enqueue (or coalesce) a pass per project, atomically.

        A delivery id seen before is a redelivery: nothing is queued and ``duplicate`` is set.
        Each project has at most one waiting job: a new delivery joins it and pushes its
        ``not_before`` to ``now + debounce_seconds``, but never past ``max_wait_seconds`` after
        the job's first delivery. A job in backoff after a failure keeps its later time.
        """
        try:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "INSERT INTO webhook_deliveries (source, delivery_id, received_at, event, "
                    "outcome) VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, delivery_id) DO NOTHING",
                    (source, delivery_id, now, event, outcome),
                )
                if cursor.rowcount == 0:
                    return Accepted(duplicate=True, jobs={})
                delivery = int(cursor.lastrowid or 0)
                jobs: dict[str, int] = {}
                for project in dict.fromkeys(projects):
                    job_id = self._coalesce(
                        conn, project, now, debounce_seconds, max_wait_seconds, deliveries=1
                    )
                    conn.execute(
                        "INSERT INTO delivery_jobs (delivery, project, job_id) VALUES (?, ?, ?)",
                        (delivery, project, job_id),
                    )
                    jobs[project] = job_id
                return Accepted(duplicate=False, jobs=jobs)
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None

    def enqueue(
        self, project: str, *, now: float, debounce_seconds: float = 0, max_wait_seconds: float = 0
    ) -> int:
        """Queue a pass of ``project`` without a delivery (or join the waiting one)."""
        try:
            with self._transaction() as conn:
                return self._coalesce(
                    conn, project, now, debounce_seconds, max_wait_seconds, deliveries=0
                )
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None

    @staticmethod
    def _coalesce(
        conn: sqlite3.Connection,
        project: str,
        now: float,
        debounce: float,
        max_wait: float,
        *,
        deliveries: int,
    ) -> int:
        row = conn.execute(
            "SELECT id, created_at, not_before, attempts FROM jobs "
            "WHERE project = ? AND state = 'queued'",
            (project,),
        ).fetchone()
        if row is None:
            cursor = conn.execute(
                "INSERT INTO jobs (project, state, created_at, not_before, deliveries, "
                "updated_at) VALUES (?, 'queued', ?, ?, ?, ?)",
                (project, now, now + max(0.0, min(debounce, max_wait)), deliveries, now),
            )
            return int(cursor.lastrowid or 0)
        job_id, created_at, not_before, attempts = int(row[0]), row[1], row[2], int(row[3])
        due = min(now + debounce, float(created_at) + max_wait)
        if attempts > 0:  # waiting for a retry: keep the backoff
            due = max(due, float(not_before))
        conn.execute(
            "UPDATE jobs SET not_before = ?, deliveries = deliveries + ?, updated_at = ? "
            "WHERE id = ?",
            (due, deliveries, now, job_id),
        )
        return job_id

    def claim_job(
        self, owner: str, *, now: float, lease_seconds: float, max_attempts: int
    ) -> Job | None:
        """Take the next due job with a lease until ``now + lease_seconds``; None when idle.

        A running job whose lease ran out (its worker was killed or hangs) is claimed again
        first; after ``max_attempts`` claims it goes dead instead. A project never has two
        running jobs with live leases.
        """
        try:
            # a read first: an idle worker polling must not take the write lock (the
            # webhook requests' short writes would wait for it)
            due = self._conn.execute(
                "SELECT 1 FROM jobs WHERE (state = 'queued' AND not_before <= ?) "
                "OR (state = 'running' AND lease_until < ?) LIMIT 1",
                (now, now),
            ).fetchone()
            if due is None:
                return None
            with self._transaction() as conn:
                while True:
                    row = conn.execute(
                        f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state = 'running' "
                        "AND lease_until < ? ORDER BY lease_until, id LIMIT 1",
                        (now,),
                    ).fetchone()
                    if row is None or int(row[6]) < max_attempts:
                        break
                    conn.execute(
                        "UPDATE jobs SET state = 'dead', lease_until = NULL, lease_owner = NULL, "
                        "updated_at = ?, finished_at = ?, last_error = ? WHERE id = ?",
                        (
                            now,
                            now,
                            f"lease expired on attempt {row[6]} of {max_attempts} (the worker "
                            "was killed or hung); last error: " + str(row[9] or "none"),
                            row[0],
                        ),
                    )
                if row is None:
                    row = conn.execute(
                        f"SELECT {_JOB_COLUMNS} FROM jobs AS j WHERE state = 'queued' "
                        "AND not_before <= ? AND NOT EXISTS (SELECT 1 FROM jobs AS r "
                        "WHERE r.project = j.project AND r.state = 'running') "
                        "ORDER BY not_before, id LIMIT 1",
                        (now,),
                    ).fetchone()
                if row is None:
                    return None
                conn.execute(
                    "UPDATE jobs SET state = 'running', attempts = attempts + 1, "
                    "lease_until = ?, lease_owner = ?, updated_at = ? WHERE id = ?",
                    (now + lease_seconds, owner, now, row[0]),
                )
                row = conn.execute(
                    f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (row[0],)
                ).fetchone()
                return _job(row)
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None

    def renew_lease(self, job_id: int, owner: str, *, now: float, lease_seconds: float) -> bool:
        """Extend a running job's lease; False when the lease was lost to another worker."""
        try:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ? "
                    "AND state = 'running' AND lease_owner = ?",
                    (now + lease_seconds, now, job_id, owner),
                )
                return cursor.rowcount == 1
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None

    def complete_job(self, job_id: int, owner: str, *, now: float) -> bool:
        """Mark a job done and its deliveries processed; False when the lease was lost."""
        try:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "UPDATE jobs SET state = 'done', lease_until = NULL, finished_at = ?, "
                    "updated_at = ?, last_error = NULL WHERE id = ? AND state = 'running' "
                    "AND lease_owner = ?",
                    (now, now, job_id, owner),
                )
                if cursor.rowcount != 1:
                    return False
                conn.execute(
                    "UPDATE delivery_jobs SET processed_at = ?, "
                    "processed_count = processed_count + 1 WHERE job_id = ?",
                    (now, job_id),
                )
                return True
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None

    def fail_job(
        self,
        job_id: int,
        owner: str,
        error: str,
        *,
        now: float,
        max_attempts: int,
        backoff_seconds: float,
    ) -> str | None:
        """Record a failed pass: queue a retry after ``backoff_seconds * 2**(attempts-1)``, or
        make the job dead after ``max_attempts``. Returns the new state (None: lease lost)."""
        try:
            with self._transaction() as conn:
                row = conn.execute(
                    "SELECT attempts FROM jobs WHERE id = ? AND state = 'running' "
                    "AND lease_owner = ?",
                    (job_id, owner),
                ).fetchone()
                if row is None:
                    return None
                attempts = int(row[0])
                if attempts >= max_attempts:
                    conn.execute(
                        "UPDATE jobs SET state = 'dead', lease_until = NULL, lease_owner = NULL, "
                        "last_error = ?, updated_at = ?, finished_at = ? WHERE id = ?",
                        (error, now, now, job_id),
                    )
                    return "dead"
                due = now + backoff_seconds * 2 ** (attempts - 1)
                self._requeue(conn, job_id, due, now, error=error)
                return "queued"
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None

    def release_job(self, job_id: int, owner: str, *, now: float, not_before: float) -> bool:
        """Give a claimed job back untouched (its project was busy): the claim does not count."""
        try:
            with self._transaction() as conn:
                cursor = conn.execute(
                    "UPDATE jobs SET attempts = MAX(0, attempts - 1) WHERE id = ? "
                    "AND state = 'running' AND lease_owner = ?",
                    (job_id, owner),
                )
                if cursor.rowcount != 1:
                    return False
                self._requeue(conn, job_id, not_before, now)
                return True
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None

    @staticmethod
    def _requeue(
        conn: sqlite3.Connection, job_id: int, due: float, now: float, *, error: str | None = None
    ) -> None:
        """Put ``job_id`` back in the queue, absorbing a job that waits for the same project."""
        project = conn.execute("SELECT project FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
        waiting = conn.execute(
            "SELECT id, deliveries FROM jobs WHERE project = ? AND state = 'queued' AND id != ?",
            (project, job_id),
        ).fetchone()
        extra = 0
        if waiting is not None:
            conn.execute(
                "UPDATE delivery_jobs SET job_id = ? WHERE job_id = ?", (job_id, waiting[0])
            )
            conn.execute("DELETE FROM jobs WHERE id = ?", (waiting[0],))
            extra = int(waiting[1])
        conn.execute(
            "UPDATE jobs SET state = 'queued', lease_until = NULL, lease_owner = NULL, "
            "not_before = ?, deliveries = deliveries + ?, updated_at = ?, "
            "last_error = COALESCE(?, last_error) WHERE id = ?",
            (due, extra, now, error, job_id),
        )

    def retry_job(self, job_id: int, *, now: float) -> int:
        """Queue a dead (or waiting) job again now, with fresh attempts; returns the job id
        that will run (a job already waiting for the project absorbs it)."""
        try:
            with self._transaction() as conn:
                row = conn.execute(
                    "SELECT state, project, deliveries FROM jobs WHERE id = ?", (job_id,)
                ).fetchone()
                if row is None:
                    raise StoreError(_no_job(job_id))
                state, project, deliveries = str(row[0]), str(row[1]), int(row[2])
                if state in ("running", "done"):
                    raise StoreError(
                        f"job {job_id} is {state}; only dead or queued jobs can be retried"
                    )
                if state == "queued":
                    conn.execute(
                        "UPDATE jobs SET not_before = ?, attempts = 0, updated_at = ? WHERE id = ?",
                        (now, now, job_id),
                    )
                    return job_id
                waiting = conn.execute(
                    "SELECT id FROM jobs WHERE project = ? AND state = 'queued'", (project,)
                ).fetchone()
                if waiting is not None:
                    target = int(waiting[0])
                    conn.execute(
                        "UPDATE delivery_jobs SET job_id = ? WHERE job_id = ?", (target, job_id)
                    )
                    conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
                    conn.execute(
                        "UPDATE jobs SET not_before = ?, attempts = 0, "
                        "deliveries = deliveries + ?, updated_at = ? WHERE id = ?",
                        (now, deliveries, now, target),
                    )
                    return target
                conn.execute(
                    "UPDATE jobs SET state = 'queued', not_before = ?, created_at = ?, "
                    "attempts = 0, finished_at = NULL, updated_at = ? WHERE id = ?",
                    (now, now, now, job_id),
                )
                return job_id
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None

    def drop_job(self, job_id: int) -> Job:
        """Delete a queued, dead or done job (its deliveries stay recorded, unprocessed)."""
        try:
            with self._transaction() as conn:
                row = conn.execute(
                    f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)
                ).fetchone()
                if row is None:
                    raise StoreError(_no_job(job_id))
                job = _job(row)
                if job.state == "running":
                    raise StoreError(
                        f"job {job_id} is running (lease until {_stamp(job.lease_until)}); "
                        "drop it after it finished or its lease ran out"
                    )
                conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
                return job
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None

    def get_job(self, job_id: int) -> Job | None:
        """One job by id."""
        try:
            row = self._conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None
        return None if row is None else _job(row)

    def list_jobs(
        self,
        states: Sequence[str] | None = None,
        project: str | None = None,
        limit: int = 200,
    ) -> list[Job]:
        """Jobs, newest first, optionally only in ``states`` and of ``project``."""
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE 1 = 1"
        args: list[Any] = []
        if states:
            sql += f" AND state IN ({', '.join('?' for _ in states)})"
            args.extend(states)
        if project is not None:
            sql += " AND project = ?"
            args.append(project)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        try:
            rows = self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None
        return [_job(row) for row in rows]

    def queue_counts(self) -> dict[str, int]:
        """Number of jobs per state (every state present, zero when none)."""
        counts = dict.fromkeys(JOB_STATES, 0)
        try:
            for state, count in self._conn.execute(
                "SELECT state, COUNT(*) FROM jobs GROUP BY state"
            ):
                counts[str(state)] = int(count)
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None
        return counts

    def stuck_jobs(self, *, now: float) -> list[Job]:
        """Running jobs whose lease ran out: their worker died or hangs, nobody renews them."""
        try:
            rows = self._conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state = 'running' AND lease_until < ? "
                "ORDER BY lease_until",
                (now,),
            ).fetchall()
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None
        return [_job(row) for row in rows]

    def check_writable(self) -> None:
        """Take the write lock and give it back (nothing written); StoreError when we cannot."""
        with self._transaction():
            pass

    def delivery_stats(self, source: str | None = None) -> DeliveryStats:
        """Deliveries recorded, queued for a pass, processed, and processed more than once."""
        where, args = ("WHERE d.source = ?", (source,)) if source else ("", ())
        try:
            row = self._conn.execute(
                "SELECT COUNT(DISTINCT d.id), COUNT(j.delivery), "
                "COALESCE(SUM(j.processed_count >= 1), 0), COALESCE(SUM(j.processed_count > 1), 0) "
                f"FROM webhook_deliveries AS d LEFT JOIN delivery_jobs AS j ON j.delivery = d.id "
                f"{where}",
                args,
            ).fetchone()
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None
        return DeliveryStats(
            deliveries=int(row[0]), queued=int(row[1]), processed=int(row[2]), repeated=int(row[3])
        )

    def has_delivery(self, source: str, delivery_id: str) -> bool:
        """Whether this delivery id was recorded."""
        try:
            row = self._conn.execute(
                "SELECT 1 FROM webhook_deliveries WHERE source = ? AND delivery_id = ?",
                (source, delivery_id),
            ).fetchone()
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None
        return row is not None

    def prune(self, *, before: float) -> int:
        """Forget deliveries received and jobs finished before ``before`` (dead jobs stay)."""
        try:
            with self._transaction() as conn:
                n = conn.execute(
                    "DELETE FROM webhook_deliveries WHERE received_at < ?", (before,)
                ).rowcount
                n += conn.execute(
                    "DELETE FROM jobs WHERE state = 'done' AND finished_at < ?", (before,)
                ).rowcount
                return int(n)
        except sqlite3.Error as e:
            raise StoreError(_message(self.path, e)) from None


JOB_STATES = ("queued", "running", "done", "dead")
_JOB_COLUMNS = (
    "id, project, state, created_at, not_before, deliveries, attempts, lease_until, "
    "lease_owner, last_error, updated_at, finished_at"
)


@dataclass(frozen=True)
class Job:
    """One job of the queue: a pass of one project that one or more deliveries asked for."""

    id: int
    project: str
    state: str
    created_at: float
    not_before: float
    deliveries: int
    attempts: int
    lease_until: float | None
    lease_owner: str | None
    last_error: str | None
    updated_at: float
    finished_at: float | None

    def to_json(self) -> dict[str, Any]:
        """The job for ``--json`` output (times as ISO 8601, UTC)."""
        return {
            "id": self.id,
            "project": self.project,
            "state": self.state,
            "created_at": _stamp(self.created_at),
            "not_before": _stamp(self.not_before),
            "deliveries": self.deliveries,
            "attempts": self.attempts,
            "lease_until": _stamp(self.lease_until),
            "last_error": self.last_error,
            "finished_at": _stamp(self.finished_at),
        }


def _job(row: Sequence[Any]) -> Job:
    return Job(
        id=int(row[0]),
        project=str(row[1]),
        state=str(row[2]),
        created_at=float(row[3]),
        not_before=float(row[4]),
        deliveries=int(row[5]),
        attempts=int(row[6]),
        lease_until=None if row[7] is None else float(row[7]),
        lease_owner=None if row[8] is None else str(row[8]),
        last_error=None if row[9] is None else str(row[9]),
        updated_at=float(row[10]),
        finished_at=None if row[11] is None else float(row[11]),
    )


def _no_job(job_id: int) -> str:
    return f"no job {job_id} in the queue (see: tracker-bridge queue list)"


def _stamp(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Accepted:
    """What :meth:`Store.accept_delivery` did: a redelivery, or the job per project."""

    duplicate: bool
    jobs: dict[str, int]


@dataclass(frozen=True)
class DeliveryStats:
    """Counts for the benchmark and monitoring (see :meth:`Store.delivery_stats`)."""

    deliveries: int
    queued: int
    processed: int
    repeated: int


class ProjectLockedError(StoreError):
    """Another run holds the project's lock."""

    def __init__(self, project: str, pid: int | None, waited: float) -> None:
        self.project = project
        self.pid = pid
        holder = f" (pid {pid})" if pid else ""
        waited_text = f" after waiting {waited:g} s" if waited > 0 else ""
        super().__init__(
            f"project {project} is being planned by another run{holder}{waited_text}; "
            "try again later"
        )


def lock_path(store_path: Path | None, project: str) -> Path:
    """The lock file of ``project``: ``<store file>.<project>.lock`` beside the store."""
    target = resolve_path(store_path)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", project)
    if safe != project:
        safe += "-" + hashlib.sha256(project.encode()).hexdigest()[:8]
    return target.with_name(f"{target.name}.{safe}.lock")


@contextmanager
def project_lock(
    store_path: Path | None,
    project: str,
    *,
    wait: float = 0.0,
    poll: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Path]:
    """Hold the per-project lock (``fcntl.flock``) for a pass; wait up to ``wait`` seconds.

    Raises :class:`ProjectLockedError` naming the holder's pid when the lock stays taken. The
    kernel drops the lock when its holder dies, so a killed run never leaves it stuck.
    """
    path = lock_path(store_path, project)
    try:
        make_private_dir(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    except OSError as e:
        raise StoreError(
            f"cannot create the lock file {path}: {e.strerror or e}; set [store] path to a "
            "writable location"
        ) from None
    try:
        try:
            _take_lock(fd, project, wait, poll, clock, sleep)
        except OSError as e:  # disk full, quota, EIO, ENOLCK on NFS: one clear error
            raise StoreError(f"cannot take the lock file {path}: {e.strerror or e}") from None
        try:
            yield path
        finally:
            with suppress(OSError):
                os.ftruncate(fd, 0)
            with suppress(OSError):  # closing the descriptor below drops the lock anyway
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _take_lock(
    fd: int,
    project: str,
    wait: float,
    poll: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    """``flock`` the open lock file (waiting up to ``wait`` s) and write our pid into it."""
    deadline = clock() + max(0.0, wait)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if clock() >= deadline:
                raise ProjectLockedError(project, _lock_holder(fd), wait) from None
            sleep(min(poll, max(0.0, deadline - clock())) or poll)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        fcntl.flock(fd, fcntl.LOCK_UN)
        raise


def _lock_holder(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def active_baseline(path: Path | None, project: str) -> Baseline | None:
    """The active baseline of ``project``; None when there is none or no store file yet.

    Never creates the store file: planning without ever saving a baseline stays file-free.
    """
    target = resolve_path(path)
    if not target.is_file():
        return None
    with Store.open(target) as store:
        return store.get_baseline(project)


def _message(path: Path, error: sqlite3.Error) -> str:
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
