"""Per-project lock files beside the store: cron runs and webhook passes of the same project
take turns (``fcntl.flock``; the kernel drops a lock when its holder dies)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tracker_bridge.errors import StoreError
from tracker_bridge.store.database import PRIVATE_FILE_MODE, make_private_dir, resolve_path


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
