"""Saved baselines of a project: save, list, read, choose the active one."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydantic import ValidationError

from tracker_bridge.errors import StoreError
from tracker_bridge.model import Baseline, Plan, Snapshot
from tracker_bridge.planner.baseline import make_baseline
from tracker_bridge.store.database import Database, utc_now


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


class Baselines(Database):
    """Baselines (one active per project: the one plans compare with)."""

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
        baseline = make_baseline(plan, snapshot, name, saved_at or utc_now())
        data = baseline.model_dump_json()
        # the check and the insert are atomic: SQLite's BEGIN IMMEDIATE holds the write lock;
        # on PostgreSQL the unique (project, name) index refuses a concurrent twin
        with self._transaction() as conn:
            self.dialect.lock_key(conn, project)
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
        return baseline

    def list_baselines(self, project: str | None = None) -> list[BaselineInfo]:
        """Baselines of ``project`` (of every project when None), oldest first."""
        field, length = self.dialect.json_field, self.dialect.json_length
        sql = (
            f"SELECT project, name, saved_at, active, {field('data', 'as_of')},"
            f" {field('data', 'project_finish')}, {length('data', 'items')},"
            f" {field('data', 'budget_at_completion')} FROM baselines"
        )
        args: tuple[str, ...] = ()
        if project is not None:
            sql += " WHERE project = ?"
            args = (project,)
        sql += " ORDER BY project, saved_at, id"
        with self._translated():
            rows = self._conn.execute(sql, args).fetchall()
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
        with self._translated():
            rows = self._conn.execute(
                "SELECT DISTINCT project FROM baselines ORDER BY project"
            ).fetchall()
        return [str(row[0]) for row in rows]

    def get_baseline(self, project: str, name: str | None = None) -> Baseline | None:
        """The named baseline (an error if there is none), or the active one (None if none)."""
        with self._translated():
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
        try:
            return Baseline.model_validate_json(row[0])
        except ValidationError as e:
            raise StoreError(
                f"{self.where}: baseline {name or '(active)'!r} of project {project!r} is "
                f"damaged: {e.errors()[0]['msg']}"
            ) from None

    def is_active(self, project: str, name: str) -> bool:
        with self._translated():
            row = self._conn.execute(
                "SELECT active FROM baselines WHERE project = ? AND name = ?", (project, name)
            ).fetchone()
        return bool(row and row[0])

    def set_active(self, project: str, name: str) -> None:
        """Make ``name`` the active baseline of ``project`` (the one ``plan`` compares with)."""
        with self._transaction() as conn:
            self.dialect.lock_key(conn, project)
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

    def _unknown(self, project: str, name: str) -> str:
        names = [info.name for info in self.list_baselines(project)]
        known = ", ".join(repr(n) for n in names) if names else "none saved yet"
        return f"project {project!r} has no baseline named {name!r} (baselines: {known})"
