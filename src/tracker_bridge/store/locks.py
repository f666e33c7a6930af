"""Per-project locks: cron runs and webhook passes of the same project take turns.

With the SQLite store, a lock file beside the store (``fcntl.flock``; the kernel drops a lock
when its holder dies). With PostgreSQL, a session-level advisory lock (on the worker's own
connection, or on one opened for it), so the lock holds across machines; the server drops it
when the connection dies."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

from tracker_bridge.errors import StoreError
from tracker_bridge.store.database import (
    PRIVATE_FILE_MODE,
    Database,
    Location,
    StoreTarget,
    locate,
    make_private_dir,
    resolve_path,
)
from tracker_bridge.store.dialect import advisory_key


class ProjectLockedError(StoreError):
    """Another run holds the project's lock."""

    def __init__(
        self, project: str, pid: int | None, waited: float, holder: str | None = None
    ) -> None:
        self.project = project
        self.pid = pid
        holder = f" ({holder})" if holder else (f" (pid {pid})" if pid else "")
        waited_text = f" after waiting {waited:g} s" if waited > 0 else ""
        super().__init__(
            f"project {project} is being planned by another run{holder}{waited_text}; "
            "try again later"
        )


def lock_path(store_path: StoreTarget, project: str) -> Path:
    """The lock file of ``project``: ``<store file>.<project>.lock`` beside the store."""
    target = resolve_path(locate(store_path).path)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", project)
    if safe != project:
        safe += "-" + hashlib.sha256(project.encode()).hexdigest()[:8]
    return target.with_name(f"{target.name}.{safe}.lock")


@contextmanager
def project_lock(
    store_path: StoreTarget,
    project: str,
    *,
    wait: float = 0.0,
    poll: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Path | None]:
    """Hold the per-project lock for a pass; wait up to ``wait`` seconds.

    Raises :class:`ProjectLockedError` naming the holder when the lock stays taken. The
    kernel (a lock file) or the server (an advisory lock) drops the lock when its holder
    dies, so a killed run never leaves it stuck. Yields the lock file (None: PostgreSQL).
    """
    location = locate(store_path)
    if location.is_postgres:
        with _advisory_locks(location, [project], wait, None, poll):
            yield None
        return
    path = lock_path(location, project)
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


@contextmanager
def project_locks(
    store_path: StoreTarget,
    projects: Sequence[str],
    *,
    wait: float = 0.0,
    on: Database | None = None,
) -> Iterator[None]:
    """Hold the locks of all ``projects`` (taken in sorted order, so two callers sharing a
    project never deadlock); :class:`ProjectLockedError` for the first one held elsewhere.

    On PostgreSQL they share one connection: ``on``'s (an open store of the same database,
    e.g. a worker's: no connection to open per pass; the locks are given back after), else
    one opened for the purpose and closed after."""
    ordered = sorted(set(projects))
    location = locate(store_path)
    if location.is_postgres:
        with _advisory_locks(location, ordered, wait, on):
            yield
        return
    with ExitStack() as held:
        for project in ordered:
            held.enter_context(project_lock(location, project, wait=wait))
        yield


@contextmanager
def _advisory_locks(
    location: Location,
    projects: Sequence[str],
    wait: float,
    on: Database | None,
    poll: float = 0.2,
) -> Iterator[None]:
    """The projects' session-level advisory locks, held for the pass (module docs)."""
    from tracker_bridge.store import postgres

    assert location.url is not None
    if on is not None and isinstance(on._conn, postgres.PgConnection):
        conn, own = on._conn, False
    else:
        conn, own = postgres.connect(location.url, location.password), True
    where = location.describe()
    taken: list[int] = []
    try:
        deadline = time.monotonic() + max(0.0, wait)
        for project in projects:
            key = advisory_key("project", project)
            while True:
                try:
                    if postgres.try_advisory_lock(conn, key):
                        taken.append(key)
                        break
                    if time.monotonic() >= deadline:
                        holder = postgres.lock_holder(conn, key)
                        raise ProjectLockedError(project, None, wait, holder=holder)
                except postgres.driver_errors() as e:
                    raise StoreError(postgres.pg_message(where, e)) from None
                time.sleep(min(poll, max(0.0, deadline - time.monotonic())) or poll)
        yield
    finally:
        # unlocked explicitly even before closing: a closed session's locks are dropped only
        # when its server process has ended, a moment later; a connection that died took
        # its locks with it
        with suppress(*postgres.driver_errors()):
            for key in reversed(taken):
                conn.execute("SELECT pg_advisory_unlock(?)", (key,))
        if own:
            conn.close()
