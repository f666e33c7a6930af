"""The webhook server: verify, record, enqueue, answer — in milliseconds, no tracker calls.

An ASGI app (Starlette) with three routes:

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
``GET /healthz``
    The doctor checks of every configured project (``pipeline.open_adapter(...).check()``),
    cached for ``webhooks.health_cache_seconds``; JSON with the findings' stable ids; 200 when
    all are ok, 503 otherwise.

Each delivery: verify -> record its delivery id (a redelivery answers 200 "duplicate" and
queues nothing) -> recognise our own echoes (202 "own change ignored") -> enqueue or coalesce
one pass per affected project in the store (:meth:`Store.accept_delivery`, one transaction)
-> 202 "queued". Client mistakes never give a 500: bad or missing signature or token 401,
malformed JSON or missing headers 400, a body over ``webhooks.max_body_bytes`` 413 (checked
on ``Content-Length`` and while reading). An endpoint whose secret is not configured answers
503. The worker (:mod:`tracker_bridge.worker`) runs the queued passes.
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
from collections.abc import Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
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
from tracker_bridge.settings import ProjectSettings, Settings
from tracker_bridge.store import Store, resolve_path

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

#: GitHub events that can change a plan; everything else is acknowledged and ignored.
GITHUB_EVENTS = frozenset(
    {"issues", "milestone", "sub_issues", "issue_dependencies", "projects_v2_item"}
)
#: Redmine 7 core event types (``type`` is ``<kind>.<action>``) that can change a plan.
REDMINE_KINDS = frozenset({"issue", "version", "time_entry"})

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


# ------------------------------------------------------------------------------ mapping


def _kind(settings: Settings, project: ProjectSettings) -> str | None:
    tracker = settings.trackers.get(project.tracker)
    return tracker.kind if tracker is not None else None


def _github_repositories(project: ProjectSettings) -> set[str]:
    # ``github`` is looked up defensively: older settings have no GitHub section
    github = getattr(project, "github", None)
    repos = list(getattr(github, "repositories", None) or [])
    if not repos and "/" in project.project:
        repos = [project.project]
    return {r.lower() for r in repos}


_BOARD = re.compile(r"^(org|user):([^/]+)/([0-9]+)$")


def _github_board(project: ProjectSettings) -> tuple[str, int] | None:
    board = getattr(getattr(project, "github", None), "project_v2", None)
    match = _BOARD.match(str(board or "").strip())
    return (match.group(2).lower(), int(match.group(3))) if match else None


def _login(node: Any) -> str | None:
    return _text(node.get("login")) or None if isinstance(node, dict) else None


def github_projects(settings: Settings, event: str, payload: Mapping[str, Any]) -> list[str]:
    """The configured projects a GitHub delivery concerns (empty: none of ours)."""
    names: list[str] = []
    if event == "projects_v2_item":
        org = (_login(payload.get("organization")) or "").lower()
        changes = payload.get("changes")
        value = changes.get("field_value") if isinstance(changes, dict) else None
        number = value.get("project_number") if isinstance(value, dict) else None
        for name, project in settings.projects.items():
            board = _github_board(project)
            if _kind(settings, project) != "github" or board is None:
                continue
            if board[0] == org and (number is None or _int(number) == board[1]):
                names.append(name)
        return names
    repos: set[str] = set()
    for key in ("repository", "sub_issue_repo", "blocking_issue_repo"):
        node = payload.get(key)
        full_name = _text(node.get("full_name")) if isinstance(node, dict) else None
        if full_name:
            repos.add(full_name.lower())
    for name, project in settings.projects.items():
        if _kind(settings, project) == "github" and repos & _github_repositories(project):
            names.append(name)
    return names


@dataclass(frozen=True)
class RedmineEvent:
    """A Redmine delivery in one shape, whichever sender posted it.

    ``sender`` is ``"core"`` (Redmine 7 webhooks) or ``"plugin"`` (redmine_webhook). ``kind``
    and ``action``: ``issue``/``version``/``time_entry``/``wiki_page``/``news`` and
    ``created``/``updated``/``deleted`` (plugin: ``issue`` and ``opened``/``updated``).
    ``custom_fields`` maps custom-field id -> name (from the issue in the payload).
    """

    sender: str
    kind: str
    action: str
    project_id: int | None
    project_identifier: str | None
    issue_id: int | None
    journal: Mapping[str, Any] | None
    custom_fields: dict[int, str] = field(default_factory=dict)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):  # also a number over Python's 4,300 digits
        return None


def _text(value: Any) -> str | None:
    """A payload scalar as text; None for null, objects and lists (never ``str()`` of them)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _list(value: Any) -> list[Any]:
    """A payload list; anything else counts as empty."""
    return value if isinstance(value, list) else []


def parse_redmine(payload: Mapping[str, Any]) -> RedmineEvent | None:
    """Read a Redmine delivery; None when it has neither known shape.

    Redmine 7 core (``app/models/webhook_payload.rb``): ``type`` ``"<kind>.<action>"``,
    ``timestamp``, ``data.<kind>`` rendered like the REST API's show view (an issue has
    ``project: {id, name}`` and ``custom_fields: [{id, name, value}]``), and for
    ``issue.updated`` ``data.journal: {id, created_on, notes, user: {id, name}, details:
    [{property, prop_key, old_value, value}]}``. The redmine_webhook plugin:
    ``payload.action`` ``opened``/``updated``, ``payload.issue`` with ``project: {id,
    identifier, ...}`` and ``custom_field_values: [{custom_field_id, custom_field_name,
    value}]``, ``payload.journal: {id, notes, author: {login, ...}, details: [...]}``.
    """
    inner = payload.get("payload")
    if isinstance(inner, dict) and isinstance(inner.get("issue"), dict):
        issue: dict[str, Any] = inner["issue"]
        project = _dict(issue.get("project"))
        fields = {
            cid: _text(cf.get("custom_field_name")) or ""
            for cf in _list(issue.get("custom_field_values"))
            if isinstance(cf, dict) and (cid := _int(cf.get("custom_field_id"))) is not None
        }
        journal = inner.get("journal")
        return RedmineEvent(
            sender="plugin",
            kind="issue",
            action=_text(inner.get("action")) or "",
            project_id=_int(project.get("id")),
            project_identifier=_text(project.get("identifier")) or None,
            issue_id=_int(issue.get("id")),
            journal=journal if isinstance(journal, dict) else None,
            custom_fields=fields,
        )
    kind_action = payload.get("type")
    data = payload.get("data")
    if isinstance(kind_action, str) and "." in kind_action and isinstance(data, dict):
        kind, action = kind_action.split(".", 1)
        obj = _dict(data.get(kind))
        project = _dict(obj.get("project"))
        fields = {
            cid: _text(cf.get("name")) or ""
            for cf in _list(obj.get("custom_fields"))
            if isinstance(cf, dict) and (cid := _int(cf.get("id"))) is not None
        }
        journal = data.get("journal")
        return RedmineEvent(
            sender="core",
            kind=kind,
            action=action,
            project_id=_int(project.get("id")),
            # not in Redmine 7.0's payload; used should a later version add it
            project_identifier=_text(project.get("identifier")) or None,
            issue_id=_int(obj.get("id")) if kind == "issue" else None,
            journal=journal if isinstance(journal, dict) else None,
            custom_fields=fields,
        )
    return None


def redmine_projects(settings: Settings, event: RedmineEvent) -> list[str]:
    """Configured Redmine projects a delivery concerns: by identifier when the payload has
    one (plugin), else by numeric id (``webhooks.redmine_project_ids``, or a project
    configured by its numeric id)."""
    names = []
    ids = settings.webhooks.redmine_project_ids
    for name, project in settings.projects.items():
        if _kind(settings, project) != "redmine":
            continue
        if event.project_identifier is not None:  # the identifier, when the payload has it
            if project.project == event.project_identifier:
                names.append(name)
        elif event.project_id is not None and (
            ids.get(name) == event.project_id or project.project == str(event.project_id)
        ):
            names.append(name)
    return names


# ------------------------------------------------------------------------------ echoes


def _same(a: str | None, b: str | None) -> bool:
    """Field values equal as a tracker shows them: spaces, "3.50" == "3.5", date prefixes."""
    x, y = (a or "").strip(), (b or "").strip()
    if x == y:
        return True
    try:
        fx, fy = float(x), float(y)
    except ValueError:
        pass
    else:
        return math.isfinite(fx) and fx == fy
    date = re.compile(r"^\d{4}-\d{2}-\d{2}")
    return bool(date.match(x) and date.match(y) and x[:10] == y[:10])


def _field_logical(settings: Settings) -> dict[str, str]:
    """Configured field name (casefolded) or id (as text) -> logical field name."""
    out: dict[str, str] = {}
    for logical in settings.fields.logical_names():
        target = getattr(settings.fields, logical)
        out[str(target).strip().casefold()] = logical
    return out


def _github_value(value: Any) -> str | None:
    if isinstance(value, dict):  # a single-select option or an iteration
        return _text(value.get("name")) or _text(value.get("title")) or None
    return _text(value)


def github_is_echo(
    settings: Settings, store: Store, projects: Iterable[str], payload: Mapping[str, Any]
) -> bool:
    """Whether a GitHub delivery is the echo of our own write.

    Yes when ``sender.login`` is one of ``webhooks.bot_logins``, or when a
    ``projects_v2_item`` edit changed one of our fields (by name) to a value we last wrote
    to that field in the project (the payload names the item by node id only).
    """
    bots = {b.casefold() for b in settings.webhooks.bot_logins}
    sender = _login(payload.get("sender"))
    if sender is not None and sender.casefold() in bots:
        return True
    changes = payload.get("changes")
    value = changes.get("field_value") if isinstance(changes, dict) else None
    if not isinstance(value, dict) or not value.get("field_name") or "to" not in value:
        return False
    logical = _field_logical(settings).get((_text(value["field_name"]) or "").strip().casefold())
    if logical is None:
        return False
    new = _github_value(value.get("to"))
    projects = list(projects)
    return bool(projects) and all(
        any(_same(new, old) for old in store.written_values_of_field(p, logical)) for p in projects
    )


def redmine_is_echo(
    settings: Settings, store: Store, projects: Iterable[str], event: RedmineEvent
) -> bool:
    """Whether a Redmine delivery is the echo of our own write.

    Yes when the journal's author is the bot (plugin: ``author.login`` in
    ``webhooks.bot_logins``; Redmine 7: ``user.id`` in ``webhooks.redmine_bot_user_ids``), or
    when every detail of the journal sets one of our custom fields to the value we last wrote.
    """
    journal = event.journal
    if journal is None or event.issue_id is None:
        return False
    author = _login(journal.get("author"))
    if author is not None and author.casefold() in {
        b.casefold() for b in settings.webhooks.bot_logins
    }:
        return True
    user = journal.get("user")
    user_id = _int(user.get("id")) if isinstance(user, dict) else None
    if user_id is not None and user_id in settings.webhooks.redmine_bot_user_ids:
        return True
    details = [d for d in _list(journal.get("details")) if isinstance(d, dict)]
    if not details:
        return False
    logical_of = _field_logical(settings)
    item = f"redmine:{event.issue_id}"
    projects = list(projects)
    for detail in details:
        if detail.get("property") != "cf":
            return False
        cf_id = _int(detail.get("prop_key"))
        if cf_id is None:
            return False
        logical = logical_of.get(str(cf_id)) or logical_of.get(
            event.custom_fields.get(cf_id, "").strip().casefold()
        )
        if logical is None:
            return False
        value = _text(detail.get("value"))
        if not projects or not all(
            (written := store.written_value(p, item, logical)) is not None and _same(value, written)
            for p in projects
        ):
            return False
    return True


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
            size = _int(declared.strip()) if declared.strip().isdigit() else None
            if size is None:
                raise _Reject(400, "Content-Length is not a number")
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
            return _answer(200, status="pong", zen=_text(payload.get("zen")))
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
