"""Serving the webhook app with uvicorn, with limits for a port the internet can reach.

uvicorn alone closes an idle keep-alive connection but not a connection that never sends a
request, a header that never ends or a body that trickles in at a byte a second; and every
open connection holds a file descriptor, so enough idle ones exhaust the process's limit
and valid deliveries can no longer connect (while asyncio logs a traceback per failed
``accept()``). Here:

- **request deadline**: from the connection's first moment (and after each response) the
  next request's headers and body must arrive within ``webhooks.request_timeout_seconds``,
  else the connection is closed. The time the app takes to answer is not limited.
- **connection cap**: at most ``webhooks.max_connections`` connections; one more closes the
  oldest connection that has no request in progress (idle or still sending its headers), so
  a crowd of idle connections cannot lock out a delivery.
- **open files**: the soft ``RLIMIT_NOFILE`` is raised toward the hard limit so the cap and
  an accept batch fit; when they cannot, both shrink to what fits (:func:`fit_connections`).
- **log flood**: asyncio's "accept() out of system resource" is logged at most once a
  minute, with the number of repeats left out.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Callable
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from tracker_bridge.settings import Settings

__all__ = ["AcceptErrorFilter", "fit_connections", "guarded_protocol", "server_config"]

log = logging.getLogger(__name__)

#: Descriptors kept for everything but client connections: the listening socket, the SQLite
#: files of up to 40 request threads (3 each) and the worker's, lock files, the worker's
#: tracker connections, logs.
RESERVED_FILES = 192
#: The listen backlog, which is also how many connections asyncio accepts in one go: the cap
#: acts on accepted connections, so a batch arrives before the oldest idle ones are closed.
MAX_BACKLOG = 2048


def fit_connections(wanted: int) -> tuple[int, int]:
    """Raise the soft open-files limit for ``wanted`` connections and a full accept batch;
    ``(connections, backlog)`` that fit the limit.

    When the hard limit is low (raise it with systemd's ``LimitNOFILE=`` or ``ulimit -Hn``)
    both shrink: an eighth of the room is the accept batch, and three batches stay free
    (asyncio accepts a batch per loop round, a connection over the cap closes the oldest
    one round later, its descriptor is freed the round after).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + 3 * MAX_BACKLOG + RESERVED_FILES
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # pragma: no cover - a sandbox forbids it
            log.debug("cannot raise RLIMIT_NOFILE", exc_info=True)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return wanted, MAX_BACKLOG
    room = max(32, soft - RESERVED_FILES)
    backlog = min(MAX_BACKLOG, max(8, room // 8))
    return max(16, min(wanted, room - 3 * backlog)), backlog


class AcceptErrorFilter(logging.Filter):
    """Let asyncio's "accept() out of system resource" through once per ``interval`` s."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self.suppressed = 0
        self._last: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if "out of system resource" not in record.getMessage():
            return True
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            self.suppressed += 1
            return False
        self._last = now
        record.msg = (
            "socket.accept() out of system resource (open files exhausted: raise LimitNOFILE "
            "or lower webhooks.max_connections); %d repeats not logged"
        )
        record.args = (self.suppressed,)
        record.exc_info = None
        self.suppressed = 0
        return True


def guarded_protocol(max_connections: int, request_timeout: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a request deadline and a connection cap (module docs)."""
    live: dict[Any, None] = {}  # insertion order: oldest first

    class GuardedH11(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            live[self] = None
            self._arm()
            if len(live) > max_connections:
                oldest = next((c for c in live if c is not self and c.waiting()), self)
                oldest.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            live.pop(self, None)
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._rearm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._rearm()

        def waiting(self) -> bool:
            """No request in progress: idle, or its headers are not complete yet."""
            return self.conn.their_state is h11.IDLE and (
                self.cycle is None or self.cycle.response_complete
            )

        def _rearm(self) -> None:
            if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
                if self._deadline is None:
                    self._arm()
            else:  # the request is read (the app's time is not limited) or closing
                self._disarm()

        def _arm(self) -> None:
            self._deadline = self.loop.call_later(request_timeout, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
                self.transport.close()

    return GuardedH11


def server_config(
    app: Any, settings: Settings, host: str, port: int, **options: Any
) -> tuple[uvicorn.Config, int]:
    """The uvicorn config for ``app`` with the limits above; also the connection cap used."""
    hooks = settings.webhooks
    connections, backlog = fit_connections(hooks.max_connections)
    asyncio_log = logging.getLogger("asyncio")
    if not any(isinstance(f, AcceptErrorFilter) for f in asyncio_log.filters):
        asyncio_log.addFilter(AcceptErrorFilter())
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(connections, hooks.request_timeout_seconds),
        timeout_keep_alive=max(1, round(hooks.keep_alive_seconds)),
        backlog=backlog,
        **options,
    )
    return config, connections
