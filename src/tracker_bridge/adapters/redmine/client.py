"""The one place that sends Redmine requests: the HTTP session, error translation, paging.

Talks to Redmine's REST API through python-redmine (``redminelib``). Requests carry the key in
the ``X-Redmine-API-Key`` header (never in a URL) and ``X-Skip-Webhooks: 1`` (the
redmine_webhook plugin then does not echo our own writes). python-redmine's
``requests={'timeout': ...}`` option is silently ignored by ``requests.Session``, so the
adapter installs its own session that applies the timeout and counts requests
(:attr:`RedmineAdapter.requests_made`). python-redmine and requests exceptions become our error
tree (:meth:`RedmineClient.call`); the key never appears in a message.

Reads (and writes marked idempotent, :meth:`_CountingSession.idempotent`: a ``PUT`` of the
same custom-field values) are retried on a 5xx answer or a dropped connection, at most
:attr:`_CountingSession.retries` times with exponential backoff; other writes (uploads, wiki
pages with a version) are sent once. A timeout is not retried: the timeout already waited.

An unknown API key is not rejected: Redmine serves the request as Anonymous. ``fetch`` and
``check`` therefore start with ``GET /users/current.json`` (401 for Anonymous,
:meth:`RedmineClient.current_user`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from redminelib import Redmine
from redminelib import exceptions as rm_exc

from tracker_bridge import errors
from tracker_bridge.adapters.redmine.context import Context

__all__ = ["PAGE_SIZE", "RedmineClient"]

PAGE_SIZE = 100  # Redmine clamps ``limit`` to 1..100
RETRY_STATUSES = frozenset({500, 502, 503, 504})

log = logging.getLogger(__package__)  # the package's logger: log lines name the adapter


class _CountingSession(requests.Session):
    """A requests session that applies a default timeout, counts requests and retries reads
    (and idempotent writes) on 5xx answers and dropped connections."""

    #: Retries after the first attempt; the waits are ``backoff_seconds * 2**n``.
    retries = 3
    backoff_seconds = 0.5

    def __init__(self, timeout: float, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.count = 0
        self.retried = 0
        self._sleep = sleep
        self._idempotent_writes = False
        #: The ``Date`` header of the last response (the server's clock), if any.
        self.last_date: str | None = None

    @contextlib.contextmanager
    def idempotent(self) -> Iterator[None]:
        """Writes sent inside may be retried: sending them twice does no harm."""
        self._idempotent_writes = True
        try:
            yield
        finally:
            self._idempotent_writes = False

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.default_timeout)
        verb = method.decode() if isinstance(method, bytes) else method
        retry = verb.upper() in ("GET", "HEAD") or self._idempotent_writes
        attempt = 0
        while True:
            self.count += 1
            try:
                response = super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]
            except requests.ConnectionError as e:
                if not retry or attempt >= self.retries or isinstance(e, requests.Timeout):
                    raise
                why = f"connection failed ({type(e).__name__})"
            else:
                if (
                    not retry
                    or attempt >= self.retries
                    or (response.status_code not in RETRY_STATUSES)
                ):
                    date = response.headers.get("Date")
                    if date:
                        self.last_date = date
                    return response
                why = f"HTTP {response.status_code}"
                response.close()
            wait = self.backoff_seconds * 2**attempt
            log.info(
                "redmine: %s %s: %s; retry %d of %d in %.1f s",
                verb.upper(),
                urlsplit(str(url)).path,
                why,
                attempt + 1,
                self.retries,
                wait,
            )
            self._sleep(wait)
            attempt += 1
            self.retried += 1


def _http_date(value: str | None) -> dt.datetime | None:
    """An HTTP ``Date`` header as an aware UTC datetime (None when absent or unreadable)."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


class RedmineClient:
    """Sends the requests of one project: counted, with a timeout, errors translated."""

    def __init__(self, ctx: Context, api_key: str) -> None:
        self._ctx = ctx
        self._key = api_key
        #: python-redmine's client; its engine sends through :attr:`session`.
        self.rm = Redmine(ctx.base_url, key=api_key, requests={"headers": {"X-Skip-Webhooks": "1"}})
        session = _CountingSession(ctx.tracker.timeout_seconds)
        old = self.rm.engine.session
        session.headers.update(old.headers)
        session.headers["User-Agent"] = "tracker-bridge (python-redmine)"
        old.close()
        self.rm.engine.session = session
        #: Every request goes through it; it counts them (``session.count``).
        self.session = session
        #: The project as the last :meth:`project` lookup read it.
        self.project_json: dict[str, Any] | None = None

    def server_time(self) -> dt.datetime | None:
        """The server's clock (``Date`` header) at the last response, if it sent one."""
        return _http_date(self.session.last_date)

    def close(self) -> None:
        self.session.close()

    def scrub(self, text: str) -> str:
        """``text`` with the API key replaced by ``***``."""
        return text.replace(self._key, "***") if self._key else text

    def key_source(self) -> str:
        """Where the key comes from, for messages that ask to replace it."""
        tracker = self._ctx.tracker
        env = tracker.api_key_env or f"TRACKER_BRIDGE_{self._ctx.tracker_name.upper()}_KEY"
        return (
            f"the file {tracker.api_key_file}"
            if tracker.api_key_file
            else f"the environment variable {env}"
        )

    def _auth_hint(self) -> str:
        source = self.key_source()
        return (
            f"Redmine at {self._ctx.base_url} did not accept the API key from {source}: it "
            "answered as Anonymous (Redmine treats an unknown key, or the key of a locked user, "
            "as no key). Copy the key from My account -> API access key (Show) of the bot user"
        )

    # ------------------------------------------------------------------ requests

    @contextlib.contextmanager
    def call(
        self,
        method: str,
        path: str,
        *,
        what: str = "request",
        not_found: str | None = None,
        forbidden: str | None = None,
    ) -> Iterator[None]:
        """Translate python-redmine and requests exceptions into our error tree."""
        path = self.scrub(path)
        try:
            yield
        except rm_exc.BaseRedmineError as e:
            raise (
                self._status_error(e, method, path, what, not_found, forbidden)
                or self._answer_error(e, method, path, what)
            ) from None
        except requests.RequestException as e:
            raise self._network_error(e, method, path) from None

    def _status_error(
        self,
        e: rm_exc.BaseRedmineError,
        method: str,
        path: str,
        what: str,
        not_found: str | None,
        forbidden: str | None,
    ) -> errors.TrackerError | None:
        """Our error for a python-redmine error that stands for an HTTP status (else None)."""
        if isinstance(e, rm_exc.AuthError):
            return errors.AuthError(self._auth_hint(), method=method, path=path, status=401)
        if isinstance(e, rm_exc.ForbiddenError):
            return errors.AuthError(
                forbidden
                or f"Redmine refused the {what}: the API user lacks the permission "
                f"(check its role in project '{self._ctx.pid}', Settings -> Members)",
                method=method,
                path=path,
                status=403,
            )
        if isinstance(e, rm_exc.ResourceNotFoundError):
            return errors.NotFoundError(
                not_found or f"{what}: not found", method=method, path=path, status=404
            )
        if isinstance(e, rm_exc.ConflictError):
            return errors.ConflictError(
                f"{what}: a concurrent edit won", method=method, path=path, status=409
            )
        if isinstance(e, rm_exc.ValidationError):
            return errors.RejectedError(
                f"Redmine refused the {what}",
                method=method,
                path=path,
                status=422,
                detail=self.scrub(str(e)) or "(no message)",
            )
        if isinstance(e, rm_exc.ImpersonateError):
            return errors.AuthError("impersonation failed", method=method, path=path, status=412)
        if isinstance(e, rm_exc.RequestEntityTooLargeError):
            return errors.RejectedError(
                f"the {what} is too large for Redmine", method=method, path=path, status=413
            )
        if isinstance(e, rm_exc.ServerError):
            return errors.TrackerError(
                f"Redmine failed with an internal error on the {what} (see its production.log)",
                method=method,
                path=path,
                status=500,
            )
        return None

    def _answer_error(
        self, e: rm_exc.BaseRedmineError, method: str, path: str, what: str
    ) -> errors.TrackerError:
        """Our error for a python-redmine error about an unexpected answer."""
        base_url = self._ctx.base_url
        if isinstance(e, rm_exc.UnknownError):
            return errors.TrackerError(
                f"unexpected answer to the {what}", method=method, path=path, status=e.status_code
            )
        if isinstance(e, rm_exc.HTTPProtocolError):
            return errors.TrackerError(
                f"{base_url} redirects between http and https; configure the exact URL "
                "Redmine is served at",
                method=method,
                path=path,
            )
        if isinstance(e, rm_exc.JSONDecodeError):
            return errors.TrackerError(
                f"{base_url} did not answer with JSON; is it a Redmine, and is the REST "
                "web service enabled?",
                method=method,
                path=path,
            )
        return errors.TrackerError(self.scrub(str(e)), method=method, path=path)

    def _network_error(
        self, e: requests.RequestException, method: str, path: str
    ) -> errors.TrackerError:
        """Our error for a request that got no answer (timeout, connection)."""
        base_url = self._ctx.base_url
        if isinstance(e, requests.Timeout):
            return errors.TrackerError(
                f"Redmine at {base_url} did not answer within "
                f"{self._ctx.tracker.timeout_seconds:g} s",
                method=method,
                path=path,
            )
        return errors.TrackerError(
            f"cannot reach Redmine at {base_url} ({type(e).__name__}); check the url "
            f"in [trackers.{self._ctx.tracker_name}] and the network",
            method=method,
            path=path,
        )

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        data: Any = None,
        **call: Any,
    ) -> Any:
        with self.call(method.upper(), path, **call):
            return self.rm.engine.request(
                method.lower(), self._ctx.base_url + path, params=params or {}, data=data
            )

    def get(self, path: str, params: dict[str, Any] | None = None, **call: Any) -> dict[str, Any]:
        result = self.request("get", path, params, **call)
        if not isinstance(result, dict):
            raise errors.TrackerError(
                "empty answer where JSON was expected", method="GET", path=path
            )
        return result

    def paged(
        self,
        path: str,
        container: str,
        params: dict[str, Any],
        *,
        on_page: Callable[[int, int], None] | None = None,
        **call: Any,
    ) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        offset = 0
        while True:
            data = self.get(path, {**params, "limit": PAGE_SIZE, "offset": offset}, **call)
            batch = data.get(container) or []
            total = int(data.get("total_count", offset + len(batch)))
            results.extend(batch)
            offset += PAGE_SIZE
            if on_page is not None:
                on_page(min(len(results), total), total)
            if not batch or offset >= total:
                return results

    # ------------------------------------------------------------------ lookups

    def current_user(self) -> dict[str, Any]:
        """The API user; AuthError when the key is not accepted (Anonymous)."""
        # Verified on 5.0.4: an unknown key -> 401 (Anonymous); REST disabled -> 403 for any key.
        data = self.get(
            "/users/current.json",
            what="API key check",
            forbidden=(
                f"the REST web service of Redmine at {self._ctx.base_url} is disabled "
                "(403 for any key): an administrator must tick Administration -> "
                "Settings -> API -> 'Enable REST web service'"
            ),
        )
        user = data.get("user") or {}
        if not user.get("id"):
            raise errors.AuthError(
                self._auth_hint(), method="GET", path="/users/current.json", status=200
            )
        return dict(user)

    def project(self) -> dict[str, Any]:
        """The project with its enabled modules and trackers (kept in :attr:`project_json`)."""
        pid, base_url = self._ctx.pid, self._ctx.base_url
        path = f"/projects/{quote(pid, safe='')}.json"
        data = self.get(
            path,
            {"include": "enabled_modules,trackers"},
            what="project lookup",
            not_found=(
                f"Redmine project '{pid}' does not exist at {base_url} (or is "
                "archived); check 'project' in the [projects.*] section: it is the "
                "project's identifier from its URL, "
                f"{base_url}/projects/<identifier>"
            ),
            forbidden=(
                f"the API user may not see Redmine project '{pid}' at "
                f"{base_url}: add it as a member (project Settings -> Members) "
                "with a role that can view issues"
            ),
        )
        project = dict(data.get("project") or {})
        self.project_json = project
        return project
