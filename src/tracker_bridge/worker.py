"""The worker: runs the passes the webhook server queued, one project at a time.

A job is claimed with a lease (``webhooks.lease_seconds``, renewed while the pass runs), so
the job of a worker that was killed is claimed again once its lease ran out. A job plans the
project's planning unit (:mod:`tracker_bridge.units`: the whole combined plan for a member of
one, as ``tracker-bridge run`` does) and holds the same locks as ``run``: when cron is planning
the unit, the job goes back to the queue untouched. A failed pass is retried
after ``retry_backoff_seconds * 2**(attempt-1)``; after ``max_attempts`` the job is dead — a
dead letter with its error, listed by ``tracker-bridge queue list`` and revived by ``queue
retry``. The pass function is injectable (tests, benchmarks).

Workers in several processes and on several machines may share a PostgreSQL store; ``worker
--concurrency N`` runs N of them as threads of one process (:func:`run_workers`). When the
database server goes away (a restart), the loop reconnects by itself, and recording a
finished pass is retried for a while first, so the pass is not run again for nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tracker_bridge.errors import StoreError
from tracker_bridge.pipeline import PassResult
from tracker_bridge.settings import Settings
from tracker_bridge.store import Job, ProjectLockedError, Store, StoreTarget, locate
from tracker_bridge.store.reconnect import until_reachable
from tracker_bridge.store.status import HEARTBEAT_SECONDS
from tracker_bridge.units import run_unit, unit_locks, unit_of

__all__ = ["JobRun", "PassFunction", "Worker", "WorkerSupervisor", "default_pass", "run_workers"]

T = TypeVar("T")

log = logging.getLogger(__name__)

#: ``(settings, project name, store) -> PassResult``; the store records the values written.
PassFunction = Callable[[Settings, str, Store], PassResult]

PRUNE_EVERY_SECONDS = 3600.0


def default_pass(
    settings: Settings, project: str, store: Store, *, as_of: dt.date | None = None
) -> PassResult:
    """One real pass (fetch, plan, write back) of the project's planning unit, with today as
    the status date unless ``as_of`` is given: a project of a combined plan is planned with
    the whole plan, as ``run`` does. The job's project's result is returned; it fails when
    any project of the unit failed (the unit is retried as a whole)."""
    unit = unit_of(settings, project)
    results = run_unit(settings, unit, as_of=as_of or dt.date.today(), store=store, lock=False)
    own = next(r for r in results if r.project == project)
    failures = [f"{r.project}: {r.error}" for r in results if not r.ok and r is not own]
    if own.ok and failures:
        own.ok, own.error = False, "; ".join(failures)
    return own


@dataclass(frozen=True)
class JobRun:
    """What the worker did with one claimed job.

    ``outcome``: ``done``; ``retry`` (failed, queued again with backoff); ``dead`` (failed for
    the last time); ``busy`` (another run held the project lock; back in the queue);
    ``lost`` (the lease went to another worker meanwhile; nothing recorded).
    """

    job: Job
    outcome: str
    error: str | None
    seconds: float


class Worker:
    """Claims due jobs from the store and runs one pass per job."""

    def __init__(
        self,
        settings: Settings,
        *,
        pass_fn: PassFunction = default_pass,
        store_path: StoreTarget = None,
        clock: Callable[[], float] = time.time,
        name: str | None = None,
        use_project_lock: bool = True,
    ) -> None:
        self.settings = settings
        self.pass_fn = pass_fn
        self.store_path = store_path if store_path is not None else settings.store
        self.clock = clock
        self.name = name or default_name()
        self.use_project_lock = use_project_lock
        self._local = threading.local()
        self._last_prune = 0.0
        self._last_seen = 0.0
        self._started = clock()
        self.jobs_done = 0
        #: The error that interrupted the last loop iteration (None: the last one was fine).
        self.last_error: str | None = None

    def store(self) -> Store:
        """This thread's store connection."""
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = Store.open(self.store_path)
            self._local.store = store
        return store

    def close(self) -> None:
        store: Store | None = getattr(self._local, "store", None)
        if store is not None:
            self._local.store = None
            try:
                store.close()
            except Exception:  # pragma: no cover - closing a broken connection
                log.debug("closing the worker's store failed", exc_info=True)

    # ------------------------------------------------------------------ one job

    def run_once(self) -> JobRun | None:
        """Claim one due job and run it; None when no job is due."""
        hooks = self.settings.webhooks
        owner = f"{self.name}:{uuid.uuid4().hex[:8]}"
        store = self.store()
        job = store.claim_job(
            owner,
            now=self.clock(),
            lease_seconds=hooks.lease_seconds,
            max_attempts=hooks.max_attempts,
        )
        if job is None:
            return None
        started = time.perf_counter()
        if job.project not in self.settings.projects:
            error = f"project {job.project!r} is no longer configured"
            state = store.fail_job(
                job.id, owner, error, now=self.clock(), max_attempts=1, backoff_seconds=0
            )
            return JobRun(job, state or "lost", error, time.perf_counter() - started)
        try:
            if self.use_project_lock:
                unit = unit_of(self.settings, job.project)
                with unit_locks(self.store_path, unit, on=store):
                    result = self._run_with_lease(job, owner)
            else:
                result = self._run_with_lease(job, owner)
        except ProjectLockedError as e:
            later = self.clock() + max(hooks.debounce_seconds, 5.0)
            released = store.release_job(job.id, owner, now=self.clock(), not_before=later)
            log.info("job %d: %s; back in the queue", job.id, e)
            return JobRun(
                job, "busy" if released else "lost", str(e), time.perf_counter() - started
            )
        except Exception as e:  # the lock file could not be written (disk full, EIO, ...)
            result = PassResult(project=job.project, error=_describe(e))
        seconds = time.perf_counter() - started
        if result.ok:
            try:
                done = self._recording(lambda s: s.complete_job(job.id, owner, now=self.clock()))
            except StoreError as e:  # the pass ran; recording it failed: retry the job
                result = PassResult(project=job.project, error=f"recording the pass: {e}")
            else:
                log.info("job %d (%s): pass done in %.1f s", job.id, job.project, seconds)
                self.jobs_done += done
                return JobRun(job, "done" if done else "lost", None, seconds)
        return self._failed(job, owner, result.error or "the pass failed", seconds)

    def _failed(self, job: Job, owner: str, error: str, seconds: float) -> JobRun:
        """Queue a retry of a failed job (or make it dead) with its real error."""
        hooks = self.settings.webhooks
        state = self._recording(
            lambda s: s.fail_job(
                job.id,
                owner,
                error,
                now=self.clock(),
                max_attempts=hooks.max_attempts,
                backoff_seconds=hooks.retry_backoff_seconds,
            )
        )
        log.warning(
            "job %d (%s): attempt %d failed (%s): %s",
            job.id,
            job.project,
            job.attempts,
            "dead letter" if state == "dead" else "will retry",
            error,
        )
        outcome = {"queued": "retry", "dead": "dead"}.get(state or "", "lost")
        return JobRun(job, outcome, error, seconds)

    def _recording(self, record: Callable[[Store], T]) -> T:
        """Record a pass's outcome; while the database server is away (a restart), try
        again on fresh connections for up to half a lease: the lease still holds, and a pass
        not recorded would run again."""
        return until_reachable(
            lambda: record(self.store()),
            forget=self.close,
            seconds=self.settings.webhooks.lease_seconds / 2,
            first_pause=0.2,
            longest_pause=5.0,
            what="recording a pass",
            log=log,
        )

    def _run_with_lease(self, job: Job, owner: str) -> PassResult:
        """Run the pass while a helper thread renews the lease."""
        stop = threading.Event()
        lease = self.settings.webhooks.lease_seconds
        renewer = threading.Thread(
            target=self._renew, args=(job.id, owner, lease, stop), daemon=True
        )
        renewer.start()
        try:
            return self.pass_fn(self.settings, job.project, self.store())
        except Exception as e:  # a bug in a pass must not stop the worker
            log.exception("job %d (%s): the pass crashed", job.id, job.project)
            return PassResult(project=job.project, error=f"{type(e).__name__}: {e}")
        finally:
            stop.set()
            renewer.join()

    def _renew(self, job_id: int, owner: str, lease: float, stop: threading.Event) -> None:
        interval = max(0.05, lease / 3)
        store: Store | None = None
        try:
            while not stop.wait(interval):
                try:
                    if store is None:
                        store = Store.open(self.store_path)
                    renewed = store.renew_lease(
                        job_id, owner, now=self.clock(), lease_seconds=lease
                    )
                except StoreError as e:  # a busy file, a restarting server: next round
                    log.warning("job %d: cannot renew the lease: %s", job_id, e)
                    if store is not None:
                        store.close()
                    store = None
                    continue
                if not renewed:
                    log.warning("job %d: lease lost to another worker", job_id)
                    return
        finally:
            if store is not None:
                store.close()

    # ------------------------------------------------------------------ loops

    def run_until_idle(self, max_jobs: int | None = None) -> list[JobRun]:
        """Run due jobs until none is due (or ``max_jobs`` ran)."""
        runs: list[JobRun] = []
        while max_jobs is None or len(runs) < max_jobs:
            run = self.run_once()
            if run is None:
                break
            runs.append(run)
        return runs

    def run(self, stop: threading.Event, poll_seconds: float = 0.5) -> None:
        """Run jobs until ``stop`` is set; prune old delivery ids and jobs now and then.

        No error ends the loop: a busy or broken store (disk full, I/O error) or a bug is
        logged, remembered in :attr:`last_error` and tried again after a pause that grows
        to a minute while the fault lasts. A job it interrupted is claimed again when its
        lease runs out.
        """
        log.info("worker %s started (store %s)", self.name, locate(self.store_path).describe())
        pause = poll_seconds
        try:
            while not stop.is_set():
                try:
                    self._prune()
                    self._heartbeat()
                    ran = self.run_once()
                except Exception as e:
                    self.last_error = _describe(e)
                    log.error("worker: %s; trying again in %g s", self.last_error, pause)
                    self.close()  # a fresh connection next time
                    stop.wait(pause)
                    pause = min(pause * 2, 60.0)
                    continue
                pause = poll_seconds
                self.last_error = None
                if ran is None:
                    stop.wait(poll_seconds)
        finally:
            self.close()
            log.info("worker %s stopped", self.name)

    def _heartbeat(self) -> None:
        """Stamp this worker in the store now and then (``store status`` lists it)."""
        now = self.clock()
        if now - self._last_seen < HEARTBEAT_SECONDS:
            return
        self._last_seen = now
        self.store().worker_seen(
            self.name, now=now, started_at=self._started, jobs_done=self.jobs_done
        )

    def _prune(self) -> None:
        now = self.clock()
        if now - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = now
        days = self.settings.webhooks.retention_days
        removed = self.store().prune(before=now - days * 86400)
        if removed:
            log.info(
                "worker: pruned %d delivery ids and finished jobs older than %g days", removed, days
            )


def default_name() -> str:
    """``host:pid``: a worker's name in leases, heartbeats and lock holders."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _describe(error: BaseException) -> str:
    """One line for a job's last error: our own errors as they are, others with their type."""
    if isinstance(error, StoreError):
        return str(error)
    return f"{type(error).__name__}: {error}"


class WorkerSupervisor:
    """Runs a worker in a thread and starts a fresh one whenever it dies (``serve``).

    :meth:`Worker.run` catches every error itself; this is the net under it (a
    ``MemoryError``, a bug in the loop). A restart waits ``backoff`` seconds, doubling up to
    ``max_backoff`` while restarts keep coming. :meth:`status` is what readiness reports.
    """

    def __init__(
        self,
        make_worker: Callable[[], Worker],
        stop: threading.Event,
        *,
        poll_seconds: float = 0.5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
    ) -> None:
        self.make_worker = make_worker
        self.stop = stop
        self.poll_seconds = poll_seconds
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.restarts = 0
        self.state = "starting"
        self.last_error: str | None = None
        self._worker: Worker | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the supervising thread (a daemon: it never keeps the process alive)."""
        self._thread = threading.Thread(target=self._supervise, name="worker", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _supervise(self) -> None:
        pause = self.backoff
        while not self.stop.is_set():
            try:
                self._worker = self.make_worker()
                self.state = "running"
                self._worker.run(self.stop, self.poll_seconds)
            except BaseException as e:  # whatever killed it, start another
                self.last_error = _describe(e)
                self.restarts += 1
                self.state = "restarting"
                log.error(
                    "worker died (%s); restart %d in %g s", self.last_error, self.restarts, pause
                )
                self.stop.wait(pause)
                pause = min(pause * 2, self.max_backoff)
        self.state = "stopped"

    def status(self) -> dict[str, object]:
        """``{"state", "alive", "restarts", "error"}``: ``running`` and alive when all is well."""
        alive = self._thread is not None and self._thread.is_alive()
        worker = self._worker
        error = worker.last_error if worker is not None and worker.last_error else None
        state = self.state if alive else "dead"
        return {
            "state": state,
            "ok": alive and state == "running" and error is None,
            "restarts": self.restarts,
            "error": error or (self.last_error if state != "running" else None),
        }


def run_workers(
    make_worker: Callable[[int], Worker],
    concurrency: int,
    stop: threading.Event,
    poll_seconds: float = 0.5,
) -> None:
    """Run ``concurrency`` workers as threads of this process until ``stop`` is set, each
    under a :class:`WorkerSupervisor` (a worker that dies is replaced)."""
    supervisors = [
        WorkerSupervisor(functools.partial(make_worker, n), stop, poll_seconds=poll_seconds)
        for n in range(concurrency)
    ]
    for supervisor in supervisors:
        supervisor.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:  # Ctrl-C too: the passes under way finish, then the threads end
        stop.set()
        for supervisor in supervisors:
            supervisor.join(timeout=60)
