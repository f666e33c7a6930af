"""Liveness, readiness and health of the webhook server (``/livez``, ``/readyz``, ``/healthz``).

``/livez``
    The process answers: no store, no tracker, no thread pool. For a supervisor that restarts
    a hung server.
``/readyz``
    Whether deliveries will be processed: the worker thread runs (not dead, not restarting,
    no store error in its last round), the store takes its write lock within a second (an
    SQLite file) or answers (PostgreSQL), an SQLite file's disk has room, and no job is
    running past its lease (a worker that died or hangs elsewhere). No tracker is called.
``/healthz``
    Readiness plus the doctor checks of every project (they call the trackers; cached for
    ``webhooks.health_cache_seconds``).

Everyone gets the status code and ``{"ok": ...}``. The detail (finding ids and messages,
queue counts, stuck jobs, the worker's error) is served only with ``Authorization: Bearer
<webhooks.health_token>`` when a token is configured, else only to loopback clients that
came through no proxy. Even then every URL and absolute path in it is replaced by
``<url>``/``<path>``: the detail never names a tracker, the store, a key or a secret file.
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from starlette.requests import Request

from tracker_bridge.errors import StoreError, TrackerBridgeError
from tracker_bridge.model import Finding
from tracker_bridge.settings import Settings
from tracker_bridge.store import Location, Store

__all__ = ["Health", "HealthCheck", "WorkerStatus", "detail_allowed", "redact"]

HealthCheck = Callable[[Settings, str], list[Finding]]
#: A worker's state for readiness (see :meth:`tracker_bridge.worker.WorkerSupervisor.status`).
WorkerStatus = Callable[[], Mapping[str, object]]

#: Below this much free space on the store's file system, readiness fails (writes would).
MIN_FREE_BYTES = 1 << 20
#: Readiness waits at most this long for another process's write lock on the store.
STORE_PROBE_SECONDS = 1.0

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_PATH = re.compile(r"(?<![\w.:/<])(?:~|/)[^\s'\"<>]*/[^\s'\"<>]*|(?<![\w.:/<])/[\w.-]+")


def redact(text: str, known: tuple[str, ...] = ()) -> str:
    """``text`` with the ``known`` strings, every URL and every absolute path replaced."""
    for secret in known:
        text = text.replace(secret, "<path>" if secret.startswith(("/", "~")) else "<url>")
    return _PATH.sub("<path>", _URL.sub("<url>", text))


def _sensitive(value: Any, found: set[str]) -> None:
    """Collect every path and URL in a settings dump (tracker URLs, key and secret files)."""
    if isinstance(value, Mapping):
        for item in value.values():
            _sensitive(item, found)
    elif isinstance(value, list | tuple | set):
        for item in value:
            _sensitive(item, found)
    elif isinstance(value, Path):
        found.add(str(value))
    elif isinstance(value, str) and ("://" in value or value.startswith(("/", "~"))):
        found.add(value.rstrip("/"))


def detail_allowed(request: Request, token: bytes | None) -> bool:
    """Whether this request may see the detail (see the module docstring)."""
    if token is not None:
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token, value.strip().encode())
    proxied = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    return request.client is not None and request.client.host in _LOOPBACK and not proxied


def _stamp(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


class Health:
    """Readiness and the cached doctor checks of one server."""

    def __init__(
        self,
        settings: Settings,
        store: Location,
        *,
        clock: Callable[[], float],
        check: HealthCheck,
        worker: WorkerStatus | None,
        endpoints: Mapping[str, bool],
    ) -> None:
        self.settings = settings
        self.location = store
        #: the SQLite file (None: PostgreSQL, whose disk is not ours to watch)
        self.store_path: Path | None = None if store.is_postgres else Path(store.describe())
        self.clock = clock
        self.check = check
        self.worker = worker
        self.endpoints = dict(endpoints)
        found: set[str] = {store.describe()}
        if self.store_path is not None:
            found.add(str(self.store_path.parent))
        if store.url is not None:
            found.add(store.url)
        _sensitive(settings.model_dump(), found)
        # longest first: a URL is replaced before a prefix of it
        self._known = tuple(sorted((s for s in found if len(s) > 1), key=len, reverse=True))
        self._doctor: tuple[float, dict[str, list[dict[str, Any]]]] | None = None
        self._doctor_lock = threading.Lock()

    def redact(self, text: str) -> str:
        return redact(text, self._known)

    # ------------------------------------------------------------------ readiness

    def ready(self) -> dict[str, Any]:
        """The readiness body: ``ok``, worker, store, stuck jobs and queue counts."""
        now = self.clock()
        worker = self._worker()
        store, queue, stuck = self._store(now)
        ok = bool(worker["ok"]) and store["ok"] and not stuck
        return {
            "ok": ok,
            "checked_at": _stamp(now),
            "worker": worker,
            "store": store,
            "stuck_jobs": stuck,
            "queue": queue,
            "endpoints": self.endpoints,
        }

    def _worker(self) -> dict[str, Any]:
        if self.worker is None:  # `serve --no-worker`: a separate `tracker-bridge worker`
            return {"state": "external", "ok": True}
        status = dict(self.worker())
        if status.get("error"):
            status["error"] = self.redact(str(status["error"]))
        return status

    def _store(self, now: float) -> tuple[dict[str, Any], dict[str, int], list[dict[str, Any]]]:
        try:
            with Store.open(self.location, timeout=STORE_PROBE_SECONDS) as store:
                store.check_writable()
                queue = store.queue_counts()
                stuck = [
                    {
                        "id": job.id,
                        "project": job.project,
                        "lease_until": _stamp(job.lease_until or now),
                        "attempts": job.attempts,
                    }
                    for job in store.stuck_jobs(now=now)
                ]
        except StoreError as e:
            finding = Finding(id="store.unavailable", ok=False, message=self.redact(str(e)))
            return finding.model_dump(), {}, []
        try:
            free = os.statvfs(self.store_path.parent) if self.store_path else None
            room = MIN_FREE_BYTES if free is None else free.f_bavail * free.f_frsize
        except OSError:  # pragma: no cover - the store just opened in this directory
            room = MIN_FREE_BYTES
        if room < MIN_FREE_BYTES:
            finding = Finding(
                id="store.disk_full", ok=False, message=f"{room} bytes free on the store's disk"
            )
        else:
            finding = Finding(id="store.ok", ok=True, message="writable")
        return finding.model_dump(), queue, stuck

    # ---------------------------------------------------------------------- health

    def health(self) -> dict[str, Any]:
        """Readiness plus the doctor checks per project (cached)."""
        body = self.ready()
        projects = self._checks()
        body["projects"] = projects
        body["ok"] = body["ok"] and all(f["ok"] for fs in projects.values() for f in fs)
        return body

    def _checks(self) -> dict[str, list[dict[str, Any]]]:
        with self._doctor_lock:
            now = self.clock()
            cached = self._doctor
            if cached is not None and now - cached[0] < self.settings.webhooks.health_cache_seconds:
                return cached[1]
            projects: dict[str, list[dict[str, Any]]] = {}
            for name in self.settings.projects:
                try:
                    findings = self.check(self.settings, name)
                except TrackerBridgeError as e:
                    findings = [Finding(id="config.invalid", ok=False, message=str(e))]
                except Exception as e:  # a broken check must not take the endpoint down
                    findings = [
                        Finding(id="check.crashed", ok=False, message=f"{type(e).__name__}: {e}")
                    ]
                projects[name] = [self._safe(f) for f in findings]
            self._doctor = (now, projects)
            return projects

    def _safe(self, finding: Finding) -> dict[str, Any]:
        data = finding.model_dump()
        for key in ("message", "fix"):
            if isinstance(data.get(key), str):
                data[key] = self.redact(data[key])
        return data
