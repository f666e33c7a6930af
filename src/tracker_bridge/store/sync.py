"""Sync state of a project: cursors, the cached snapshot, and the values we last wrote (to
recognise our own echoes in webhooks)."""

from __future__ import annotations

import datetime as dt

from pydantic import ValidationError

from tracker_bridge.model import ChangeSet, Snapshot
from tracker_bridge.store.database import Database, utc_now


class SyncState(Database):
    """Cursors, the snapshot cache and the written values of each project."""

    def get_cursor(self, project: str, name: str = "issues") -> str | None:
        """The sync cursor ``name`` of ``project`` (e.g. the last ``updated_on`` seen)."""
        with self._translated():
            row = self._conn.execute(
                "SELECT value FROM sync_cursors WHERE project = ? AND name = ?", (project, name)
            ).fetchone()
        return None if row is None else str(row[0])

    def set_cursor(self, project: str, value: str, name: str = "issues") -> None:
        """Remember the sync cursor ``name`` of ``project``."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO sync_cursors (project, name, value, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (project, name) DO UPDATE SET "
                "value = excluded.value, updated_at = excluded.updated_at",
                (project, name, value, utc_now().isoformat()),
            )

    def save_snapshot_cache(self, project: str, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` as the cached state of ``project`` (replacing the previous one)."""
        data = snapshot.model_dump_json()
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO snapshot_cache (project, saved_at, data) VALUES (?, ?, ?) "
                "ON CONFLICT (project) DO UPDATE SET saved_at = excluded.saved_at, "
                "data = excluded.data",
                (project, utc_now().isoformat(), data),
            )

    def load_snapshot_cache(self, project: str) -> Snapshot | None:
        """The cached snapshot of ``project``; None when there is none (or it is unreadable)."""
        with self._translated():
            row = self._conn.execute(
                "SELECT data FROM snapshot_cache WHERE project = ?", (project,)
            ).fetchone()
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
        stamp = (at or utc_now()).isoformat()
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO written_values (project, item, field, value, written_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (project, item, field) DO UPDATE SET "
                "value = excluded.value, written_at = excluded.written_at",
                [(project, c.item, c.field, c.new, stamp) for c in changes.fields],
            )
        return len(changes.fields)

    def written_value(self, project: str, item: str, field: str) -> str | None:
        """The value we last wrote to ``field`` of ``item`` (None: never written)."""
        with self._translated():
            row = self._conn.execute(
                "SELECT value FROM written_values WHERE project = ? AND item = ? AND field = ?",
                (project, item, field),
            ).fetchone()
        return None if row is None else str(row[0])

    def written_values_of_field(self, project: str, field: str) -> set[str]:
        """Every value we last wrote to ``field`` on any item of ``project``."""
        with self._translated():
            rows = self._conn.execute(
                "SELECT DISTINCT value FROM written_values WHERE project = ? AND field = ?",
                (project, field),
            ).fetchall()
        return {str(row[0]) for row in rows}
