"""The one place that sends GitHub API requests, REST and GraphQL.

It counts every request (:attr:`GitHubClient.requests_made`), paces writes, waits out rate
limits, retries transient errors and turns PyGithub's exceptions into our error tree; the token
(:class:`Token`) never appears in a message.

* This client pages the REST lists itself through PyGithub's ``Requester`` (auth, base URL,
  GitHub Enterprise prefixes, exception classes) and hands back the list JSON, so nothing is
  completed lazily (a list item of PyGithub is an incomplete object: reading
  ``issue.pull_request`` or ``raw_data`` fetches the whole issue, one request per item).
* Paging is ours (``Link: rel="next"``), so every request -- list pages included -- goes
  through one place that counts it, paces writes, honours rate limits and retries transient
  errors. PyGithub's own retry and throttling are switched off (``retry=None``,
  ``seconds_between_* = 0``); its ``GithubRetry`` does not retry GraphQL rate limits (HTTP 200
  with ``errors``) and would double our waits.
* PyGithub has no Projects (v2) support: GraphQL documents go through
  ``Github.requester.graphql_query``.

Rate limits and errors
----------------------
A 403/429 that is a rate limit waits ``Retry-After`` when given, else until
``x-ratelimit-reset`` when ``x-ratelimit-remaining`` is 0, else (secondary limit) at least
``secondary_rate_limit_wait_seconds`` (60 s), doubling on each retry; a GraphQL
``RATE_LIMITED`` error inside an HTTP 200 is handled the same way. Transient 5xx answers of
reads and idempotent writes are retried with exponential backoff. A single wait longer than
``max_rate_limit_wait_seconds``, or more than ``max_retries`` retries, raises
:class:`~tracker_bridge.errors.RateLimitedError`. PyGithub exceptions become our error tree
with method, path, status and GitHub's message; the token never appears in a message.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import math
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from github import Auth, Github, GithubException
from github.Requester import (
    HTTPRequestsConnectionClass,
    HTTPSRequestsConnectionClass,
    RequestsResponse,
)

from tracker_bridge import __version__, errors
from tracker_bridge.adapters.github.context import Context
from tracker_bridge.adapters.values import parse_float
from tracker_bridge.settings import TrackerSettings

__all__ = ["DEFAULT_API", "PAGE_SIZE", "GitHubClient", "Token"]

log = logging.getLogger(__package__)  # the package's logger: log lines name the adapter

DEFAULT_API = "https://api.github.com"
PAGE_SIZE = 100
MAX_REDIRECTS = 5


class Token:
    """The API token: it goes into requests and git, never into a message."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __bool__(self) -> bool:
        return bool(self.secret)

    def basic_auth(self) -> str:
        """``x-access-token:<token>`` in base64, as git sends it over HTTPS."""
        return base64.b64encode(f"x-access-token:{self.secret}".encode()).decode()

    def scrub(self, text: str) -> str:
        """``text`` with the token (plain or in basic auth) replaced by ``***``."""
        if not text or not self.secret:
            return text
        text = text.replace(self.secret, "***")
        return text.replace(self.basic_auth(), "***")


def _next_link(header: Any) -> str | None:
    if not header:
        return None
    for part in str(header).split(","):
        match = re.match(r'\s*<([^>]+)>\s*;\s*rel="?next"?', part)
        if match:
            return match.group(1)
    return None


def _page_key(url: str, params: dict[str, Any] | None = None) -> tuple[str, frozenset[Any]]:
    """What identifies a list page: its path and its query, in any order."""
    parts = urlsplit(url)
    query = {*parse_qsl(parts.query), *((k, str(v)) for k, v in (params or {}).items())}
    return parts.path, frozenset(query)


class _KeepQuery:
    """Follows a 301/307/308 of a GET itself, keeping the query string.

    PyGithub follows a 301 with the ``Location`` path only, so ``GET /repos/o/old/issues?
    state=all`` of a renamed or transferred repository became ``GET /repositories/1/issues``
    (open issues only) and closed issues vanished without a word. Mixed into PyGithub's own
    connection classes (:func:`_keep_query_on_redirect`); other hosts are left to PyGithub,
    which refuses them.
    """

    verb: str
    url: str
    host: str

    def getresponse(self) -> RequestsResponse:
        response: RequestsResponse = super().getresponse()  # type: ignore[misc]
        for _ in range(MAX_REDIRECTS):
            location = response.headers.get("location")
            if response.status not in (301, 307, 308) or self.verb != "GET" or not location:
                break
            target = urlsplit(location)
            if target.hostname and target.hostname != self.host:
                break
            query = target.query or urlsplit(self.url).query
            self.url = target.path + (f"?{query}" if query else "")
            log.info("github: following a redirect to %s", target.path)
            response = super().getresponse()  # type: ignore[misc]
        return response


class _KeepQueryHTTPS(_KeepQuery, HTTPSRequestsConnectionClass):
    pass


class _KeepQueryHTTP(_KeepQuery, HTTPRequestsConnectionClass):
    pass


def _keep_query_on_redirect(gh: Github) -> None:
    """Make this client's requester send through :class:`_KeepQuery` connections.

    PyGithub offers only a process-wide switch (``Requester.injectConnectionClasses``, which
    also turns off connection reuse), so the requester's own connection class is replaced.
    """
    requester = gh.requester
    attribute = "_Requester__connectionClass"
    current = getattr(requester, attribute, None)
    if current is HTTPSRequestsConnectionClass:
        setattr(requester, attribute, _KeepQueryHTTPS)
    elif current is HTTPRequestsConnectionClass:
        setattr(requester, attribute, _KeepQueryHTTP)
    else:  # a PyGithub that changed its internals: fail loudly in tests, not silently in use
        raise RuntimeError("PyGithub's Requester has no known connection class to extend")


class GitHubClient:
    """Sends REST and GraphQL requests for one project: counted, paced, retried, translated.

    ``sleep`` (and the clock of the context) are injectable so tests can assert waits without
    waiting.
    """

    def __init__(
        self,
        ctx: Context,
        tracker: TrackerSettings,
        token: Token,
        *,
        tracker_name: str,
        sleep: Callable[[float], None],
    ) -> None:
        self._ctx = ctx
        self.tracker = tracker
        self.token = token
        self.tracker_name = tracker_name
        self._gh = Github(
            auth=Auth.Token(token.secret),
            base_url=ctx.api_base,
            per_page=PAGE_SIZE,
            timeout=max(1, math.ceil(tracker.timeout_seconds)),
            user_agent=f"tracker-bridge/{__version__}",
            retry=None,
            seconds_between_requests=0,
            seconds_between_writes=0,
        )
        _keep_query_on_redirect(self._gh)
        self._sleep = sleep
        self._requests = 0
        self._last_write: float | None = None
        #: Scopes of a classic token (``X-OAuth-Scopes`` of ``GET /user``), once checked.
        self.oauth_scopes: list[str] | None = None

    @property
    def requests_made(self) -> int:
        """API requests (REST and GraphQL, retries included) this client has sent."""
        return self._requests

    def close(self) -> None:
        self._gh.close()

    def token_source(self) -> str:
        """Where the token comes from, for messages that ask to replace it."""
        if self.tracker.api_key_file is not None:
            return f"the file {self.tracker.api_key_file}"
        env = self.tracker.api_key_env or f"TRACKER_BRIDGE_{self.tracker_name.upper()}_KEY"
        return f"the environment variable {env}"

    # ------------------------------------------------------------------ requests

    def rest(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        what: str,
        not_found: str | None = None,
    ) -> tuple[dict[str, Any], Any]:
        """One REST call: response headers and JSON. ``what`` names it in messages."""
        requester = self._gh.requester
        shown = urlsplit(path).path if path.startswith("http") else path
        return self._send(
            method,
            shown,
            lambda: requester.requestJsonAndCheck(method, path, parameters=params, input=body),
            what=what,
            write=method != "GET",
            idempotent=method in ("GET", "PUT", "DELETE"),
            not_found=not_found,
        )

    def pages(
        self, path: str, params: dict[str, Any], *, what: str, not_found: str | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of a REST list, following ``Link: rel="next"``; a next link back to a page
        already read raises TrackerError (it would be followed forever)."""
        url: str | None = path
        query: dict[str, Any] | None = {**params, "per_page": PAGE_SIZE}
        seen = {_page_key(path, query)}
        while url is not None:
            headers, data = self.rest("GET", url, params=query, what=what, not_found=not_found)
            yield [x for x in data if isinstance(x, dict)] if isinstance(data, list) else []
            url = _next_link(headers.get("link"))
            query = None
            if url is not None and _page_key(url) in seen:
                raise errors.TrackerError(
                    f"GitHub's answer to the {what} links back to a page already read "
                    f"(after {len(seen)} page(s)); stopped instead of reading it again",
                    method="GET",
                    path=urlsplit(url).path,
                )
            if url is not None:
                seen.add(_page_key(url))

    def graphql(
        self,
        query: str,
        variables: dict[str, Any],
        *,
        what: str,
        write: bool = False,
        idempotent: bool = True,
        not_found: str | None = None,
    ) -> dict[str, Any]:
        """One GraphQL document: its ``data`` (``{}`` when there is none)."""
        requester = self._gh.requester
        _, data = self._send(
            "POST",
            urlsplit(requester.graphql_url).path or "/graphql",
            lambda: requester.graphql_query(query, variables),
            what=what,
            write=write,
            idempotent=idempotent,
            not_found=not_found,
        )
        result = data.get("data") if isinstance(data, dict) else None
        return result if isinstance(result, dict) else {}

    def _pace_write(self) -> None:
        interval = self._ctx.settings.write_interval_seconds
        if self._last_write is None or interval <= 0:
            return
        wait = self._last_write + interval - self._ctx.clock()
        if wait > 0:
            self._sleep(wait)

    def _send(
        self,
        method: str,
        path: str,
        do: Callable[[], tuple[dict[str, Any], Any]],
        *,
        what: str,
        write: bool = False,
        idempotent: bool = True,
        not_found: str | None = None,
    ) -> tuple[dict[str, Any], Any]:
        """Run one API call with counting, write pacing, rate-limit waits and 5xx retries."""
        attempt = 0
        while True:
            if write:
                self._pace_write()
            self._requests += 1
            try:
                return do()
            except GithubException as e:
                wait = self._retry_wait(e, attempt, idempotent, method, path, what)
                if wait is None:
                    raise self._translate(e, method, path, what, not_found) from None
            except RuntimeError as e:  # PyGithub refuses redirects to another host or scheme
                raise errors.TrackerError(
                    f"GitHub redirected the {what} where it cannot be followed: {e}",
                    method=method,
                    path=path,
                ) from None
            except requests.Timeout:
                raise errors.TrackerError(
                    f"GitHub at {self._ctx.api_base} did not answer the {what} within "
                    f"{self.tracker.timeout_seconds:g} s",
                    method=method,
                    path=path,
                ) from None
            except requests.RequestException as e:
                raise errors.TrackerError(
                    f"cannot reach GitHub at {self._ctx.api_base} ({type(e).__name__}); check the "
                    f"url in [trackers.{self.tracker_name}] and the network",
                    method=method,
                    path=path,
                ) from None
            finally:
                if write:
                    self._last_write = self._ctx.clock()
            log.info(
                "github %s: %s %s: waiting %.0f s before retry %d",
                self._ctx.name,
                method,
                path,
                wait,
                attempt + 1,
            )
            self._sleep(wait)
            attempt += 1

    # ------------------------------------------------------------------ errors

    @staticmethod
    def _graphql_errors(e: GithubException) -> list[dict[str, Any]] | None:
        data = e.data
        if isinstance(data, dict) and isinstance(data.get("errors"), list):
            return [err for err in data["errors"] if isinstance(err, dict)]
        return None

    def _retry_wait(
        self,
        e: GithubException,
        attempt: int,
        idempotent: bool,
        method: str,
        path: str,
        what: str,
    ) -> float | None:
        """Seconds to wait before retrying, None to give up (the error is then raised)."""
        cfg = self._ctx.settings
        status = e.status
        headers = {str(k).lower(): v for k, v in (e.headers or {}).items()}
        data = e.data if isinstance(e.data, dict) else {}
        message = str(data.get("message") or "")
        gql = self._graphql_errors(e)
        if gql is not None:
            if not any(err.get("type") == "RATE_LIMITED" for err in gql):
                return None
            kind = "GraphQL rate limit"
        elif status == 429 or (
            status == 403
            and (
                "rate limit" in message.lower()
                or str(headers.get("x-ratelimit-remaining")) == "0"
                or "retry-after" in headers
            )
        ):
            kind = "secondary rate limit" if "secondary" in message.lower() else "rate limit"
        elif status in (500, 502, 503, 504):
            if not idempotent or attempt >= cfg.max_retries:
                return None
            return float(cfg.retry_backoff_seconds * 2**attempt)
        else:
            return None
        retry_after = parse_float(headers.get("retry-after"))
        reset = parse_float(headers.get("x-ratelimit-reset"))
        if retry_after is not None:
            wait = max(0.0, retry_after)
        elif str(headers.get("x-ratelimit-remaining")) == "0" and reset is not None:
            wait = max(0.0, reset - self._ctx.clock()) + 1
        else:
            wait = cfg.secondary_rate_limit_wait_seconds * 2**attempt
        detail = message or "; ".join(str(err.get("message")) for err in gql or [])
        if wait > cfg.max_rate_limit_wait_seconds:
            until = ""
            if reset is not None:
                until = (
                    " (until "
                    + dt.datetime.fromtimestamp(reset, dt.UTC).strftime("%H:%M:%S UTC")
                    + ")"
                )
            raise errors.RateLimitedError(
                f"GitHub {kind} on the {what}: it asks us to wait {wait:.0f} s{until}, more than "
                f"max_rate_limit_wait_seconds = {cfg.max_rate_limit_wait_seconds:g}; run again "
                "later",
                method=method,
                path=path,
                status=status,
                detail=self.token.scrub(detail) or None,
            )
        if attempt >= cfg.max_retries:
            raise errors.RateLimitedError(
                f"GitHub {kind} on the {what}: still limited after {attempt} retries; run again "
                "later",
                method=method,
                path=path,
                status=status,
                detail=self.token.scrub(detail) or None,
            )
        return wait

    def _translate(
        self,
        e: GithubException,
        method: str,
        path: str,
        what: str,
        not_found: str | None,
    ) -> errors.TrackerError:
        """Our error for a PyGithub exception: GraphQL errors first, then by HTTP status."""
        gql = self._graphql_errors(e)
        if gql is not None:  # HTTP 200 with an "errors" key (PyGithub says 400 or 404)
            return self._graphql_error(gql, method, path, what, not_found)
        status = e.status
        detail = self._rest_detail(e)
        if status == 401:
            return errors.AuthError(
                f"GitHub did not accept the token from {self.token_source()} (401): it is "
                "wrong, expired or revoked. Create a token (classic: scopes 'repo' and "
                "'project'; fine-grained: Issues, Contents and Projects read/write) and put it "
                "there",
                method=method,
                path=path,
                status=401,
                detail=detail,
            )
        if status == 403:
            scopes = ", ".join(self.oauth_scopes) if self.oauth_scopes else "not reported"
            return errors.AuthError(
                f"GitHub refused the {what}: the token lacks a permission (token scopes: {scopes})",
                method=method,
                path=path,
                status=403,
                detail=detail,
            )
        if status == 404:
            return errors.NotFoundError(
                not_found or f"{what}: not found (or the token cannot see it)",
                method=method,
                path=path,
                status=404,
                detail=detail,
            )
        if status == 410:
            return errors.NotFoundError(
                f"{what}: gone (are issues disabled in the repository?)",
                method=method,
                path=path,
                status=410,
                detail=detail,
            )
        if status == 409:
            return errors.ConflictError(
                f"{what}: conflict", method=method, path=path, status=409, detail=detail
            )
        if status in (400, 422):
            return errors.RejectedError(
                f"GitHub refused the {what}", method=method, path=path, status=status, detail=detail
            )
        return errors.TrackerError(
            f"GitHub failed on the {what}", method=method, path=path, status=status, detail=detail
        )

    def _graphql_error(
        self,
        gql: list[dict[str, Any]],
        method: str,
        path: str,
        what: str,
        not_found: str | None,
    ) -> errors.TrackerError:
        """Our error for the ``errors`` of a GraphQL answer, by their types."""
        detail: str | None = self.token.scrub(
            "; ".join(f"{err.get('type') or 'ERROR'}: {err.get('message')}" for err in gql)
        )
        types = {err.get("type") for err in gql}
        message = f"GitHub's GraphQL API answered the {what} with errors"
        if "NOT_FOUND" in types:
            return errors.NotFoundError(
                not_found or message, method=method, path=path, status=200, detail=detail
            )
        if types & {"FORBIDDEN", "INSUFFICIENT_SCOPES"}:
            return errors.AuthError(
                f"{message}: the token lacks a permission (a classic token needs the "
                "'project' scope, a fine-grained token or app the Projects permission)",
                method=method,
                path=path,
                status=200,
                detail=detail,
            )
        if "RATE_LIMITED" in types:
            return errors.RateLimitedError(
                message, method=method, path=path, status=200, detail=detail
            )
        return errors.TrackerError(message, method=method, path=path, status=200, detail=detail)

    def _rest_detail(self, e: GithubException) -> str | None:
        """GitHub's own message and its ``errors`` list, without the token (None if empty)."""
        data = e.data if isinstance(e.data, dict) else {}
        github_message = str(data.get("message") or e.message or "").strip()
        extra = data.get("errors")
        if isinstance(extra, list) and extra:
            github_message += (
                " ("
                + "; ".join(
                    str(x.get("message") or x.get("code") or x) if isinstance(x, dict) else str(x)
                    for x in extra
                )
                + ")"
            )
        return self.token.scrub(github_message) or None
