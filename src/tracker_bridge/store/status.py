"""What ``store status`` shows: the schema version, the queue's depth and oldest waiting job,
and the workers seen recently (each worker thread stamps its row as it polls)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracker_bridge.store.database import Database

#: A worker stamps its row at most this often (a poll every half second would be a write
#: every half second per worker for nothing).
HEARTBEAT_SECONDS = 10.0


@dataclass(frozen=True)
class WorkerSeen:
    """One worker thread (``host:pid/n``) and when it last polled the queue."""

    name: str
    started_at: float
    seen_at: float
    jobs_done: int


@dataclass(frozen=True)
class StoreStatus:
    """The store at a glance."""

    backend: str
    where: str
    version: int
    counts: dict[str, int]
    due: int
    oldest_queued_age: float | None
    workers: list[WorkerSeen]

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "store": self.where,
            "schema_version": self.version,
            "jobs": self.counts,
            "due": self.due,
            "oldest_queued_seconds": self.oldest_queued_age,
            "workers": [w.__dict__ for w in self.workers],
        }


class Status(Database):
    """Worker heartbeats and the store's status."""

    def worker_seen(self, name: str, *, now: float, started_at: float, jobs_done: int) -> None:
        """Stamp worker ``name`` as alive now, with the jobs it finished so far."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO workers (name, started_at, seen_at, jobs_done) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at, "
                "started_at = excluded.started_at, jobs_done = excluded.jobs_done",
                (name, started_at, now, jobs_done),
            )

    def status(self, *, now: float, recent_seconds: float = 300.0) -> StoreStatus:
        """Version, jobs per state, due jobs, the oldest waiting job's age, recent workers."""
        from tracker_bridge.store.queue import JOB_STATES

        counts = dict.fromkeys(JOB_STATES, 0)
        with self._translated():
            version = self._version()
            for state, count in self._conn.execute(
                "SELECT state, COUNT(*) FROM jobs GROUP BY state"
            ).fetchall():
                counts[str(state)] = int(count)
            due, oldest = self._conn.execute(
                "SELECT COALESCE(SUM(CASE WHEN not_before <= ? THEN 1 ELSE 0 END), 0), "
                "MIN(created_at) FROM jobs WHERE state = 'queued'",
                (now,),
            ).fetchone()
            rows = self._conn.execute(
                "SELECT name, started_at, seen_at, jobs_done FROM workers WHERE seen_at >= ? "
                "ORDER BY name",
                (now - recent_seconds,),
            ).fetchall()
        return StoreStatus(
            backend=self.dialect.name,
            where=self.where,
            version=version,
            counts=counts,
            due=int(due),
            oldest_queued_age=None if oldest is None else max(0.0, now - float(oldest)),
            workers=[WorkerSeen(str(r[0]), float(r[1]), float(r[2]), int(r[3])) for r in rows],
        )
