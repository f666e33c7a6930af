"""The webhook server: verify, record, enqueue, answer — in milliseconds, no tracker calls.

An ASGI app (Starlette) with these routes:

``POST /hooks/github``
    ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`` checked with
    :func:`hmac.compare_digest`; ``X-GitHub-Event`` names the event, ``X-GitHub-Delivery`` is
    the delivery id (GitHub keeps it on a redelivery). Handled events: ``issues``,
    ``milestone``, ``sub_issues``, ``issue_dependencies`` (mapped by ``repository.full_name``,
    and the other issue's repository for cross-repository links, to the projects whose
    ``github.repositories`` list it) and ``projects_v2_item`` (mapped by
    ``organization.login`` and the board number to the projects whose ``github.project_v2``
    names that board). ``ping`` answers 200 "pong"; other events 202 "ignored".
``POST /hooks/redmine``
    Two senders. **Redmine 7 core webhooks** sign the raw body (``X-Redmine-Signature-256:
    sha256=<hex>``, the same scheme as GitHub) and post ``{"type": "issue.updated",
    "timestamp": ..., "data": {"issue": {...}, "journal": {...}}}`` (see
    :func:`parse_redmine`). The **redmine_webhook plugin** signs nothing: its URL carries a
    secret token (``/hooks/redmine?token=...``, compared in constant time), and it posts
    ``{"payload": {"action", "url", "issue": {..., "project": {"id", "identifier"}},
    "journal"?}}``. Neither sends a delivery id, so the delivery id is ``sha256:<hex of the
    raw body>``: both bodies carry the event's time (core: ``timestamp``; plugin: the issue's
    ``updated_on`` and the journal id), so a re-sent body is a duplicate and two events differ.
``GET /livez``, ``GET /readyz``, ``GET /healthz``
    Liveness, readiness (worker, store, jobs past their lease) and readiness plus the doctor
    checks; see :mod:`tracker_bridge.health` (who may see the detail, what it never names).

Each delivery: verify -> record its delivery id (a redelivery answers 200 "duplicate" and
queues nothing) -> recognise our own echoes (202 "own change ignored") -> enqueue or coalesce
one pass per affected project in the store (:meth:`Store.accept_delivery`, one transaction)
-> 202 "queued". Client mistakes never give a 500: bad or missing signature or token 401,
malformed JSON (see :func:`parse_json`) or missing headers 400, a body over
``webhooks.max_body_bytes`` 413 (checked on ``Content-Length`` and while reading); payload
fields of an unexpected type are ignored. An endpoint whose secret is not configured, or a
store that cannot be written, answers 503. Only reading the body runs on the event loop;
the rest runs in a worker thread. The worker (:mod:`tracker_bridge.worker`) runs the queued
passes; connection limits and timeouts are :mod:`tracker_bridge.server`'s.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tracker_bridge.errors import ConfigError, StoreError
from tracker_bridge.health import Health, HealthCheck, WorkerStatus, detail_allowed
from tracker_bridge.model import Finding
from tracker_bridge.settings import Settings
from tracker_bridge.store import Store, resolve_path
from tracker_bridge.webhook_events import (
    GITHUB_EVENTS,
    REDMINE_KINDS,
    RedmineEvent,
    github_is_echo,
    github_projects,
    parse_redmine,
    redmine_is_echo,
    redmine_projects,
)

__all__ = [
    "GITHUB_EVENTS",
    "HealthCheck",
    "RedmineEvent",
    "WebhookApp",
    "create_app",
    "github_projects",
    "parse_json",
    "parse_redmine",
    "redmine_projects",
    "sign",
    "verify_signature",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- signatures


def sign(secret: bytes, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, body)>``: GitHub's and Redmine 7's signature."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of the raw ``body`` (constant-time compare)."""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


def _token_ok(expected: bytes, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected, given.encode())


# ---------------------------------------------------------------------------- the app

#: Delivery ids and event names are stored cut to this length.
MAX_ID_CHARS = 200
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]", re.ASCII)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:30]} is out of range")
    return value


def parse_json(body: bytes) -> dict[str, Any]:
    """A delivery's JSON object; :class:`_Reject` (400) for anything else.

    Refused: invalid UTF-8 or JSON, ``NaN``/``Infinity`` and numbers out of float range,
    integers over Python's 4,300 digits, nesting deeper than the recursion limit, and lone
    UTF-16 surrogates (``\\ud800``): they are not text and could be neither stored nor
    echoed.
    """
    try:
        data = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise _Reject(400, "body is not valid JSON: nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, our own and int limits
        raise _Reject(400, f"body is not valid JSON: {str(e)[:200]}") from None
    if not isinstance(data, dict):
        raise _Reject(400, "body must be a JSON object")
    if _SURROGATE_ESCAPE.search(body):  # rare: only then look for unpaired ones
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise _Reject(400, "body contains a lone UTF-16 surrogate (not text)") from None
    return data


class _Reject(Exception):
    """An HTTP answer to a client mistake (or a missing configuration)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _answer(code: int, /, **body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=code)


def default_check(settings: Settings, project: str) -> list[Finding]:
    """The doctor checks of one project (``pipeline.open_adapter(...).check()``)."""
    from tracker_bridge.pipeline import open_adapter

    return open_adapter(settings, project).check()


class WebhookApp:
    """The state behind the routes: settings, secrets, a store per thread, health."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        check: HealthCheck = default_check,
        store_path: Path | None = None,
        worker: WorkerStatus | None = None,
    ) -> None:
        hooks = settings.webhooks
        unknown = sorted(set(hooks.redmine_project_ids) - set(settings.projects))
        if unknown:
            known = ", ".join(sorted(settings.projects)) or "none configured"
            raise ConfigError(
                f"webhooks.redmine_project_ids: {', '.join(map(repr, unknown))} is not a "
                f"[projects.*] section ({known})"
            )
        self.settings = settings
        self.clock = clock
        self.store_path = store_path if store_path is not None else settings.store.path
        # read once at start: a missing secret file is a config error now, not per request
        github = hooks.github_secret()
        redmine = hooks.redmine_secret()
        token = hooks.redmine_token()
        health_token = hooks.health_token()
        self._github = github.get_secret_value().encode() if github else None
        self._redmine = redmine.get_secret_value().encode() if redmine else None
        self._token = token.get_secret_value().encode() if token else None
        self._health_token = health_token.get_secret_value().encode() if health_token else None
        self._local = threading.local()
        self._stores: list[Store] = []
        self._stores_lock = threading.Lock()
        self.health = Health(
            settings,
            resolve_path(self.store_path),
            clock=clock,
            check=check,
            worker=worker,
            endpoints=self.endpoints,
        )
        # health probes get threads of their own: a flood of deliveries waiting for a
        # locked store must not starve them
        self._health_threads = anyio.CapacityLimiter(2)

    @property
    def endpoints(self) -> dict[str, bool]:
        """Which senders are configured (have a secret or token)."""
        return {
            "github": self._github is not None,
            "redmine": self._redmine is not None,
            "redmine_plugin": self._token is not None,
        }

    # ------------------------------------------------------------------ plumbing

    def store(self) -> Store:
        """This thread's store connection (SQLite connections stay in their thread)."""
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = Store.open(self.store_path)
            self._local.store = store
            with self._stores_lock:
                self._stores.append(store)
        return store

    def close(self) -> None:
        with self._stores_lock:
            for store in self._stores:
                try:
                    store.close()
                except Exception:  # pragma: no cover - a connection of a finished thread
                    log.debug("closing a store connection failed", exc_info=True)
            self._stores.clear()
        self._local = threading.local()

    async def _body(self, request: Request) -> bytes:
        limit = self.settings.webhooks.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise _Reject(400, "Content-Length is not a number")
            size = int(declared.strip())
            if size > limit:
                raise _Reject(413, f"body of {size} bytes is over the limit of {limit}")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _Reject(413, f"body is over the limit of {limit} bytes")
                chunks.append(chunk)
        except ClientDisconnect:
            raise _Reject(400, "the client went away before the body was read") from None
        return b"".join(chunks)

    def _accept(
        self,
        source: str,
        delivery: str,
        event: str,
        projects: list[str],
        *,
        echo: bool,
    ) -> JSONResponse:
        hooks = self.settings.webhooks
        outcome = "own" if echo else ("queued" if projects else "unmapped")
        accepted = self.store().accept_delivery(
            source,
            delivery[:MAX_ID_CHARS],
            [] if echo else projects,
            now=self.clock(),
            debounce_seconds=hooks.debounce_seconds,
            max_wait_seconds=hooks.max_wait_seconds,
            event=event[:MAX_ID_CHARS],
            outcome=outcome,
        )
        if accepted.duplicate:
            return _answer(200, status="duplicate", delivery=delivery)
        if echo:
            return _answer(202, status="own change ignored", delivery=delivery)
        if not projects:
            return _answer(202, status="ignored", reason="no configured project", delivery=delivery)
        return _answer(202, status="queued", delivery=delivery, jobs=accepted.jobs)

    async def _guard(self, handler: Callable[[Request], Any], request: Request) -> JSONResponse:
        started = time.perf_counter()
        try:
            response: JSONResponse = await handler(request)
        except _Reject as e:
            response = _answer(e.status, error=e.message)
        except StoreError as e:
            log.error("webhook %s: store error: %s", request.url.path, e)
            response = _answer(503, error="the queue is unavailable; retry later")
        except Exception:
            log.exception("webhook %s: unexpected error", request.url.path)
            response = _answer(500, error="internal error")
        if log.isEnabledFor(logging.INFO):
            log.info(
                "%s %s -> %d (%.1f ms)",
                request.method,
                request.url.path,
                response.status_code,
                (time.perf_counter() - started) * 1000,
            )
        return response

    # --------------------------------------------------------------------- routes
    # Only reading the body happens on the event loop; verifying, parsing and the store run
    # in a worker thread, so a store locked by another process never stalls other requests.

    async def github(self, request: Request) -> JSONResponse:
        return await self._guard(self._github_hook, request)

    async def _github_hook(self, request: Request) -> JSONResponse:
        if self._github is None:
            raise _Reject(
                503,
                "GitHub webhooks are not configured: set webhooks.github_secret_env or "
                "webhooks.github_secret_file",
            )
        body = await self._body(request)
        return await anyio.to_thread.run_sync(self._github_delivery, body, request.headers)

    def _github_delivery(self, body: bytes, headers: Headers) -> JSONResponse:
        assert self._github is not None
        if not verify_signature(self._github, body, headers.get("x-hub-signature-256")):
            raise _Reject(401, "missing or wrong X-Hub-Signature-256")
        event = headers.get("x-github-event")
        if not event:
            raise _Reject(400, "missing X-GitHub-Event header")
        payload = parse_json(body)
        if event == "ping":
            zen = payload.get("zen")
            return _answer(200, status="pong", zen=zen if isinstance(zen, str) else None)
        if event not in GITHUB_EVENTS:
            return _answer(202, status="ignored", reason=f"event {event[:100]!r} is not handled")
        delivery = headers.get("x-github-delivery")
        if not delivery:
            raise _Reject(400, "missing X-GitHub-Delivery header")
        projects = github_projects(self.settings, event, payload)
        echo = bool(projects) and github_is_echo(self.settings, self.store(), projects, payload)
        return self._accept("github", delivery, event, projects, echo=echo)

    async def redmine(self, request: Request) -> JSONResponse:
        return await self._guard(self._redmine_hook, request)

    async def _redmine_hook(self, request: Request) -> JSONResponse:
        if self._redmine is None and self._token is None:
            raise _Reject(
                503,
                "Redmine webhooks are not configured: set webhooks.redmine_secret_env/_file "
                "(Redmine 7) or webhooks.redmine_token_env/_file (redmine_webhook plugin)",
            )
        body = await self._body(request)
        token = request.query_params.get("token")
        return await anyio.to_thread.run_sync(self._redmine_delivery, body, request.headers, token)

    def _redmine_delivery(self, body: bytes, headers: Headers, token: str | None) -> JSONResponse:
        signature = headers.get("x-redmine-signature-256")
        if signature is not None:
            if self._redmine is None or not verify_signature(self._redmine, body, signature):
                raise _Reject(401, "wrong X-Redmine-Signature-256")
        elif self._token is None or not _token_ok(self._token, token):
            raise _Reject(401, "missing or wrong X-Redmine-Signature-256 or ?token=")
        payload = parse_json(body)
        event = parse_redmine(payload)
        if event is None:
            raise _Reject(400, "not a Redmine webhook payload (neither Redmine 7 nor plugin)")
        name = f"{event.kind}.{event.action}"
        if event.kind not in REDMINE_KINDS:
            return _answer(202, status="ignored", reason=f"event {name[:100]!r} is not handled")
        delivery = "sha256:" + hashlib.sha256(body).hexdigest()
        projects = redmine_projects(self.settings, event)
        echo = bool(projects) and redmine_is_echo(self.settings, self.store(), projects, event)
        return self._accept(f"redmine-{event.sender}", delivery, name, projects, echo=echo)

    # --------------------------------------------------------------------- health

    async def livez(self, request: Request) -> JSONResponse:
        """Liveness: the event loop answers. Touches neither the store nor a tracker."""
        return _answer(200, ok=True)

    async def readyz(self, request: Request) -> JSONResponse:
        return await self._probe(request, self.health.ready)

    async def healthz(self, request: Request) -> JSONResponse:
        return await self._probe(request, self.health.health)

    async def _probe(self, request: Request, probe: Callable[[], dict[str, Any]]) -> JSONResponse:
        try:
            body = await anyio.to_thread.run_sync(probe, limiter=self._health_threads)
        except Exception:  # never let monitoring see a traceback
            log.exception("health check crashed")
            body = {"ok": False, "error": "health check crashed"}
        status = 200 if body["ok"] else 503
        if not detail_allowed(request, self._health_token):
            body = {"ok": body["ok"]}
        return JSONResponse(body, status_code=status)


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    check: HealthCheck = default_check,
    store_path: Path | None = None,
    worker: WorkerStatus | None = None,
) -> Starlette:
    """The ASGI app; ``app.state.webhooks`` is its :class:`WebhookApp`.

    ``worker``: the status of the worker thread, for readiness (None: the worker runs apart).
    """
    hooks = WebhookApp(settings, clock=clock, check=check, store_path=store_path, worker=worker)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> Any:
        yield
        hooks.close()

    app = Starlette(
        routes=[
            Route("/hooks/github", hooks.github, methods=["POST"]),
            Route("/hooks/redmine", hooks.redmine, methods=["POST"]),
            Route("/livez", hooks.livez, methods=["GET"]),
            Route("/readyz", hooks.readyz, methods=["GET"]),
            Route("/healthz", hooks.healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.webhooks = hooks
    return app
