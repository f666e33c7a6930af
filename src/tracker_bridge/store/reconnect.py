"""Waiting out a database server that went away (a restart), on fresh connections."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from tracker_bridge.errors import StoreUnavailableError

T = TypeVar("T")


def until_reachable(
    attempt: Callable[[], T],
    *,
    forget: Callable[[], None],
    seconds: float,
    first_pause: float,
    longest_pause: float,
    what: str,
    log: logging.Logger,
) -> T:
    """``attempt()`` until it does not find the server away, for up to ``seconds``.

    After each failure ``forget()`` drops the dead connection, so the next try opens a
    fresh one; pauses double from ``first_pause`` up to ``longest_pause``. The last
    :class:`StoreUnavailableError` is raised once the time is up. ``attempt`` must be safe
    to repeat (the callers' writes are idempotent or were rolled back).
    """
    deadline = time.monotonic() + seconds
    pause = first_pause
    while True:
        try:
            return attempt()
        except StoreUnavailableError as e:
            forget()
            if time.monotonic() + pause > deadline:
                raise
            log.warning("%s: %s; trying again in %g s", what, e, pause)
            time.sleep(pause)
            pause = min(pause * 2, longest_pause)
