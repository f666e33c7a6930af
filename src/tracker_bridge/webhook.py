"""The webhook server: verify, record, enqueue, answer — in milliseconds, no tracker calls.

An ASGI app (Starlette) with these routes:

``POST /hooks/<kind>``
    One route per installed tracker kind whose adapter has a webhook receiver
    (:class:`~tracker_bridge.adapters.protocol.WebhookReceiver`): the receiver verifies the
    delivery (signature or token) and maps it onto configured projects; what each sender
    posts and signs is in its adapter (e.g. ``adapters/<kind>/webhooks.py``). An unknown
    kind answers 404.
``GET /livez``, ``GET /readyz``, ``GET /healthz``
    Liveness, readiness (worker, store, jobs past their lease) and readiness plus the doctor
    checks; see :mod:`tracker_bridge.health` (who may see the detail, what it never names).

Each delivery: verify -> record its delivery id (a redelivery answers 200 "duplicate" and
queues nothing) -> recognise our own echoes (202 "own change ignored") -> enqueue or coalesce
one pass per affected project in the store (:meth:`Store.accept_delivery`, one transaction)
-> 202 "queued". Client mistakes never give a 500: bad or missing signature or token 401,
malformed JSON (see :func:`tracker_bridge.delivery.parse_json`) or missing headers 400, a body over
``webhooks.max_body_bytes`` 413 (checked on ``Content-Length`` and while reading); payload
fields of an unexpected type are ignored. An endpoint whose secret is not configured, or a
store that cannot be written, answers 503. Only reading the body runs on the event loop;
the rest runs in a worker thread. The worker (:mod:`tracker_bridge.worker`) runs the queued
passes; connection limits and timeouts are :mod:`tracker_bridge.server`'s.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.datastructures import Headers, QueryParams
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tracker_bridge.adapters.protocol import Delivery, WebhookReceiver, webhook_receivers
from tracker_bridge.delivery import DeliveryRejected, parse_json, sign, verify_signature
from tracker_bridge.errors import StoreError
from tracker_bridge.health import Health, HealthCheck, WorkerStatus, detail_allowed
from tracker_bridge.model import Finding
from tracker_bridge.settings import Settings
from tracker_bridge.store import Location, Store, StoreTarget, locate, resolve_path
from tracker_bridge.store.reconnect import until_reachable

__all__ = [
    "HealthCheck",
    "WebhookApp",
    "create_app",
    "parse_json",
    "sign",
    "verify_signature",
]

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------- the app

#: Delivery ids and event names are stored cut to this length.
MAX_ID_CHARS = 200
#: How long a delivery waits for a database server that went away (PostgreSQL restarting)
#: before it is answered 503: well inside the senders' own timeouts (GitHub's is 10 s).
RECONNECT_SECONDS = 3.0


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
        store_path: StoreTarget = None,
        worker: WorkerStatus | None = None,
    ) -> None:
        hooks = settings.webhooks
        self.settings = settings
        self.clock = clock
        location = locate(store_path if store_path is not None else settings.store)
        if not location.is_postgres:
            location = Location(path=resolve_path(location.path))
        #: where the store is (read once: a password file is read at start, not per request)
        self.store_path = location
        # read once at start: a missing secret file is a config error now, not per request
        self._receivers: dict[str, WebhookReceiver] = webhook_receivers(settings)
        health_token = hooks.health_token()
        self._health_token = health_token.get_secret_value().encode() if health_token else None
        self._local = threading.local()
        self._stores: list[Store] = []
        self._stores_lock = threading.Lock()
        self.health = Health(
            settings,
            location,
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
        found: dict[str, bool] = {}
        for receiver in self._receivers.values():
            found.update(receiver.endpoints())
        return found

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

    def _forget_store(self) -> None:
        """Drop this thread's connection (it broke): the next request opens a fresh one."""
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            return
        self._local.store = None
        with self._stores_lock:
            if store in self._stores:
                self._stores.remove(store)
        store.close()

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
                raise DeliveryRejected(400, "Content-Length is not a number")
            size = int(declared.strip())
            if size > limit:
                raise DeliveryRejected(413, f"body of {size} bytes is over the limit of {limit}")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise DeliveryRejected(413, f"body is over the limit of {limit} bytes")
                chunks.append(chunk)
        except ClientDisconnect:
            raise DeliveryRejected(400, "the client went away before the body was read") from None
        return b"".join(chunks)

    def _accept(self, delivery: Delivery) -> JSONResponse:
        """Record the delivery and queue its passes (one transaction), then answer."""
        assert delivery.id is not None
        hooks = self.settings.webhooks
        projects = [] if delivery.echo else delivery.projects
        outcome = "own" if delivery.echo else ("queued" if projects else "unmapped")
        accepted = self.store().accept_delivery(
            delivery.source,
            delivery.id[:MAX_ID_CHARS],
            projects,
            now=self.clock(),
            debounce_seconds=hooks.debounce_seconds,
            max_wait_seconds=hooks.max_wait_seconds,
            event=delivery.event[:MAX_ID_CHARS],
            outcome=outcome,
        )
        answer = {"delivery": delivery.id}
        if accepted.duplicate:
            return _answer(200, status="duplicate", **answer)
        if delivery.echo:
            return _answer(202, status="own change ignored", **answer)
        if not projects:
            return _answer(202, status="ignored", reason="no configured project", **answer)
        return _answer(202, status="queued", jobs=accepted.jobs, **answer)

    async def _guard(self, handler: Callable[[Request], Any], request: Request) -> JSONResponse:
        started = time.perf_counter()
        try:
            response: JSONResponse = await handler(request)
        except DeliveryRejected as e:
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

    async def hook(self, request: Request) -> JSONResponse:
        return await self._guard(self._hook, request)

    async def _hook(self, request: Request) -> JSONResponse:
        kind = request.path_params["kind"]
        receiver = self._receivers.get(kind)
        if receiver is None:
            return _answer(404, error=f"no webhook endpoint for {kind[:50]!r}")
        body = await self._body(request)
        return await anyio.to_thread.run_sync(
            self._deliver, receiver, body, request.headers, request.query_params
        )

    def _deliver(
        self, receiver: WebhookReceiver, body: bytes, headers: Headers, query: QueryParams
    ) -> JSONResponse:
        """Receive and accept. A database server that went away (a restart) is waited for
        up to :data:`RECONNECT_SECONDS` on fresh connections before the sender gets a 503
        (GitHub does not redeliver by itself). Trying again is safe: had a try committed, the
        next answers "duplicate"."""
        return until_reachable(
            lambda: self._deliver_once(receiver, body, headers, query),
            forget=self._forget_store,
            seconds=RECONNECT_SECONDS,
            first_pause=0.05,
            longest_pause=1.0,
            what="webhook",
            log=log,
        )

    def _deliver_once(
        self, receiver: WebhookReceiver, body: bytes, headers: Headers, query: QueryParams
    ) -> JSONResponse:
        delivery: Delivery = receiver.receive(body, headers, query, self.store())
        if delivery.id is None:
            return _answer(delivery.reply_status, **delivery.reply)
        return self._accept(delivery)

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
    store_path: StoreTarget = None,
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
            Route("/hooks/{kind}", hooks.hook, methods=["POST"]),
            Route("/livez", hooks.livez, methods=["GET"]),
            Route("/readyz", hooks.readyz, methods=["GET"]),
            Route("/healthz", hooks.healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.webhooks = hooks
    return app
