"""The webhook server's delivery ids and its job queue: debounce, leases, retries and dead
letters (a job that used up its attempts stays in state 'dead').

Many workers may share the queue. On SQLite every write transaction holds the file's write
lock, so claims take turns. On PostgreSQL a claim locks the row it takes and passes over rows
another worker is claiming (``FOR UPDATE SKIP LOCKED``), so workers claim side by side; the
writes that read a project's waiting job and then change it (coalescing, requeueing, retry)
first take a transaction-level advisory lock on the project, which is what SQLite's single
writer gives for free."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tracker_bridge.errors import StoreError
from tracker_bridge.store.database import Database
from tracker_bridge.store.dialect import Connection


class Queue(Database):
    """Deliveries and jobs."""

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
        with self._transaction() as conn:
            inserted = conn.execute(
                "INSERT INTO webhook_deliveries (source, delivery_id, received_at, event, "
                "outcome) VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, delivery_id) DO NOTHING "
                "RETURNING id",
                (source, delivery_id, now, event, outcome),
            ).fetchone()
            if inserted is None:
                return Accepted(duplicate=True, jobs={})
            delivery = int(inserted[0])
            jobs: dict[str, int] = {}
            if len(set(projects)) > 1:  # sorted: one lock order, so no two deliveries deadlock
                for project in sorted(set(projects)):
                    self.dialect.lock_key(conn, project)
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

    def enqueue(
        self, project: str, *, now: float, debounce_seconds: float = 0, max_wait_seconds: float = 0
    ) -> int:
        """Queue a pass of ``project`` without a delivery (or join the waiting one)."""
        with self._transaction() as conn:
            return self._coalesce(
                conn, project, now, debounce_seconds, max_wait_seconds, deliveries=0
            )

    def _coalesce(
        self,
        conn: Connection,
        project: str,
        now: float,
        debounce: float,
        max_wait: float,
        *,
        deliveries: int,
    ) -> int:
        self.dialect.lock_key(conn, project)
        # FOR UPDATE (PostgreSQL): a worker claiming this job meanwhile is waited for, and
        # the job, no longer queued then, is not joined
        row = conn.execute(
            "SELECT id, created_at, not_before, attempts FROM jobs "
            "WHERE project = ? AND state = 'queued'" + self.dialect.for_update,
            (project,),
        ).fetchone()
        if row is None:
            inserted = conn.execute(
                "INSERT INTO jobs (project, state, created_at, not_before, deliveries, "
                "updated_at) VALUES (?, 'queued', ?, ?, ?, ?) RETURNING id",
                (project, now, now + max(0.0, min(debounce, max_wait)), deliveries, now),
            ).fetchone()
            return int(inserted[0])
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
        skip = self.dialect.skip_locked
        with self._translated():
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
                        "AND lease_until < ? ORDER BY lease_until, id LIMIT 1" + skip,
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
                        "ORDER BY not_before, id LIMIT 1" + skip,
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

    def renew_lease(self, job_id: int, owner: str, *, now: float, lease_seconds: float) -> bool:
        """Extend a running job's lease; False when the lease was lost to another worker."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ? "
                "AND state = 'running' AND lease_owner = ?",
                (now + lease_seconds, now, job_id, owner),
            )
            return bool(cursor.rowcount == 1)

    def complete_job(self, job_id: int, owner: str, *, now: float) -> bool:
        """Mark a job done and its deliveries processed; False when the lease was lost."""
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
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT attempts, project FROM jobs WHERE id = ? AND state = 'running' "
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
            self._requeue(conn, job_id, str(row[1]), due, now, error=error)
            return "queued"

    def release_job(self, job_id: int, owner: str, *, now: float, not_before: float) -> bool:
        """Give a claimed job back untouched (its project was busy): the claim does not count."""
        with self._transaction() as conn:
            row = conn.execute(
                "UPDATE jobs SET attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END "
                "WHERE id = ? AND state = 'running' AND lease_owner = ? RETURNING project",
                (job_id, owner),
            ).fetchone()
            if row is None:
                return False
            self._requeue(conn, job_id, str(row[0]), not_before, now)
            return True

    def _requeue(
        self,
        conn: Connection,
        job_id: int,
        project: str,
        due: float,
        now: float,
        *,
        error: str | None = None,
    ) -> None:
        """Put ``job_id`` back in the queue, absorbing a job that waits for the same project."""
        self.dialect.lock_key(conn, project)
        waiting = conn.execute(
            "SELECT id, deliveries FROM jobs WHERE project = ? AND state = 'queued' AND id != ?"
            + self.dialect.for_update,
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
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT state, project, deliveries FROM jobs WHERE id = ?"
                + self.dialect.for_update,
                (job_id,),
            ).fetchone()
            if row is None:
                raise StoreError(_no_job(job_id))
            state, project, deliveries = str(row[0]), str(row[1]), int(row[2])
            self.dialect.lock_key(conn, project)
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
                "SELECT id FROM jobs WHERE project = ? AND state = 'queued'"
                + self.dialect.for_update,
                (project,),
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

    def drop_job(self, job_id: int) -> Job:
        """Delete a queued, dead or done job (its deliveries stay recorded, unprocessed)."""
        with self._transaction() as conn:
            row = conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?" + self.dialect.for_update,
                (job_id,),
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

    def get_job(self, job_id: int) -> Job | None:
        """One job by id."""
        with self._translated():
            row = self._conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
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
        with self._translated():
            rows = self._conn.execute(sql, args).fetchall()
        return [_job(row) for row in rows]

    def queue_counts(self) -> dict[str, int]:
        """Number of jobs per state (every state present, zero when none)."""
        counts = dict.fromkeys(JOB_STATES, 0)
        with self._translated():
            for state, count in self._conn.execute(
                "SELECT state, COUNT(*) FROM jobs GROUP BY state"
            ).fetchall():
                counts[str(state)] = int(count)
        return counts

    def stuck_jobs(self, *, now: float) -> list[Job]:
        """Running jobs whose lease ran out: their worker died or hangs, nobody renews them."""
        with self._translated():
            rows = self._conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state = 'running' AND lease_until < ? "
                "ORDER BY lease_until",
                (now,),
            ).fetchall()
        return [_job(row) for row in rows]

    def delivery_stats(self, source: str | None = None) -> DeliveryStats:
        """Deliveries recorded, queued for a pass, processed, and processed more than once."""
        where, args = ("WHERE d.source = ?", (source,)) if source else ("", ())
        with self._translated():
            row = self._conn.execute(
                "SELECT COUNT(DISTINCT d.id), COUNT(j.delivery), "
                "COALESCE(SUM(CASE WHEN j.processed_count >= 1 THEN 1 ELSE 0 END), 0), "
                "COALESCE(SUM(CASE WHEN j.processed_count > 1 THEN 1 ELSE 0 END), 0) "
                f"FROM webhook_deliveries AS d LEFT JOIN delivery_jobs AS j ON j.delivery = d.id "
                f"{where}",
                args,
            ).fetchone()
        return DeliveryStats(
            deliveries=int(row[0]), queued=int(row[1]), processed=int(row[2]), repeated=int(row[3])
        )

    def has_delivery(self, source: str, delivery_id: str) -> bool:
        """Whether this delivery id was recorded."""
        with self._translated():
            row = self._conn.execute(
                "SELECT 1 FROM webhook_deliveries WHERE source = ? AND delivery_id = ?",
                (source, delivery_id),
            ).fetchone()
        return row is not None

    def prune(self, *, before: float) -> int:
        """Forget deliveries received and jobs finished before ``before`` (dead jobs stay)."""
        with self._transaction() as conn:
            n = conn.execute(
                "DELETE FROM webhook_deliveries WHERE received_at < ?", (before,)
            ).rowcount
            n += conn.execute(
                "DELETE FROM jobs WHERE state = 'done' AND finished_at < ?", (before,)
            ).rowcount
            return int(n)


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
