"""The store: state that outlives one pass — baselines, sync cursors and the
snapshot cache, the values we wrote (webhook echoes), webhook delivery ids, the job queue with
its dead letters — and the per-project lock files beside it.

By default one SQLite file, ``<user data dir>/tracker-bridge/state.sqlite3``
(``platformdirs``), or ``[store] path`` in the config. With ``[store] url =
"postgresql://..."`` the same tables live in PostgreSQL, shared by workers and servers on
several machines (:mod:`~tracker_bridge.store.postgres`; psycopg is imported only then).

The schema is versioned: ``schema_version`` records every
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
same project take turns: ``fcntl.flock`` on a lock file next to the store file, or a
PostgreSQL advisory lock.

The package: ``database`` (where the store is, migrations, transactions, error
translation), ``dialect`` (what SQLite and PostgreSQL spell differently), ``postgres``,
``baselines``, ``sync`` (cursors, snapshot cache, written values), ``queue`` (deliveries,
jobs), ``status`` (workers seen, queue depth), ``locks`` and ``copy`` (SQLite into
PostgreSQL); :class:`Store` is all of them on one connection.
"""

from __future__ import annotations

from tracker_bridge.model import Baseline
from tracker_bridge.store.baselines import BaselineInfo, Baselines
from tracker_bridge.store.database import (
    BUSY_TIMEOUT_SECONDS,
    MIGRATIONS,
    PRIVATE_DIR_MODE,
    PRIVATE_FILE_MODE,
    Database,
    Location,
    StoreTarget,
    default_path,
    locate,
    make_private_dir,
    resolve_path,
    schema_version,
)
from tracker_bridge.store.locks import ProjectLockedError, lock_path, project_lock
from tracker_bridge.store.queue import JOB_STATES, Accepted, DeliveryStats, Job, Queue
from tracker_bridge.store.status import Status, StoreStatus, WorkerSeen
from tracker_bridge.store.sync import SyncState

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "JOB_STATES",
    "MIGRATIONS",
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "Accepted",
    "BaselineInfo",
    "Database",
    "DeliveryStats",
    "Job",
    "Location",
    "ProjectLockedError",
    "Store",
    "StoreStatus",
    "StoreTarget",
    "WorkerSeen",
    "active_baseline",
    "default_path",
    "locate",
    "lock_path",
    "make_private_dir",
    "project_lock",
    "resolve_path",
    "schema_version",
]


class Store(Baselines, SyncState, Queue, Status):
    """An open store with everything in it. Use :meth:`open`; close it (or use ``with``)
    when done."""


def active_baseline(store: StoreTarget, project: str) -> Baseline | None:
    """The active baseline of ``project``; None when there is none or no store file yet.

    Never creates the store file: planning without ever saving a baseline stays file-free.
    """
    location = locate(store)
    target: StoreTarget = location
    if not location.is_postgres:
        target = resolve_path(location.path)
        if not target.is_file():
            return None
    with Store.open(target) as opened:
        return opened.get_baseline(project)
