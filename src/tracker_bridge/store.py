"""The embedded SQLite store: local state that outlives one pass (baselines for now).

One file, by default ``<user data dir>/tracker-bridge/state.sqlite3`` (``platformdirs``), or
``[store] path`` in the config. The schema is versioned: ``schema_version`` records every
migration applied, :data:`MIGRATIONS` lists them in order, and opening a file written by an
older tracker-bridge applies the missing ones (each in its own transaction, so a crash leaves
the file at the last complete version). A file written by a *newer* tracker-bridge is
refused rather than guessed at.

The file runs in WAL mode (readers never block the writer) and every operation is one short
transaction; a busy file is retried for a few seconds before it is reported.

Planned later migrations append to :data:`MIGRATIONS` (never edit a released one): cached
snapshots and sync cursors, the values last written per item and field, webhook delivery ids,
the job queue, and dead letters.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import platformdirs
from pydantic import ValidationError

from tracker_bridge.errors import StoreError
from tracker_bridge.model import Baseline, Plan, Snapshot
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


# (description, function) in order; version N = the first N applied. Append only.
MIGRATIONS: list[tuple[str, Migration]] = [
    ("baselines", _m1_baselines),
]


def schema_version() -> int:
    """The schema version this program writes."""
    return len(MIGRATIONS)


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
    def open(cls, path: Path | None = None) -> Store:
        """Open (creating and migrating as needed) the store at ``path`` or the default."""
        target = resolve_path(path)
        if target.is_dir():
            raise StoreError(f"store {target} is a directory; [store] path must name a file")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(
                f"cannot create the store directory {target.parent}: {e.strerror or e}; "
                "set [store] path to a writable location"
            ) from None
        try:
            conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(_message(target, e)) from None
        store = cls(conn, target)
        try:
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
            conn.execute("ROLLBACK")
            raise
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as e:
                conn.execute("ROLLBACK")
                raise StoreError(_message(self.path, e)) from None

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
