"""GitHub adapter: issues of one or more repositories, a Projects (v2) board and the wiki.

Reads issues, milestones, dependencies and sub-issues over REST, our field values from the
Projects (v2) board over GraphQL, and keeps the plan page in the repository's wiki (a git
repository). Facts it relies on are in ``/work/shared/reference/tracker-apis.md`` (section 2):

* The issue list includes pull requests. A list item of PyGithub is an incomplete object and
  reading ``issue.pull_request`` (or ``raw_data``) fetches the whole issue, one request per
  item. This adapter pages the REST lists itself through PyGithub's ``Requester`` (auth, base
  URL, GitHub Enterprise prefixes, exception classes) and works on the list JSON, so nothing
  is completed lazily: a pull request is recognised by ``"/pull/" in html_url``, and the
  ``issue_dependencies_summary`` / ``sub_issues_summary`` roll-ups of the list JSON decide
  which issues need a relation request at all.
* Paging is ours (``Link: rel="next"``), so every request -- list pages included -- goes
  through one place that counts it (:attr:`GitHubAdapter.requests_made`), paces writes,
  honours rate limits and retries transient errors. PyGithub's own retry and throttling are
  switched off (``retry=None``, ``seconds_between_* = 0``); its ``GithubRetry`` does not
  retry GraphQL rate limits (HTTP 200 with ``errors``) and would double our waits.
* ``due_on`` of a milestone is midnight US-Pacific as a UTC instant: the date is read in
  ``America/Los_Angeles``.
* PyGithub has no Projects (v2) support: GraphQL documents go through
  ``Github.requester.graphql_query``. ``updateProjectV2ItemFieldValue`` cannot add an issue
  to a board: ``addProjectV2ItemById`` comes first (it returns the existing item when the
  issue is already there).

Request budget
--------------
``fetch`` (R repositories, I_r issues and pull requests and M_r milestones of repository r,
B issues with blockers, S parents whose sub-issues are not all named by ``parent_issue_url``
in the list, P items on the board)::

    sum_r (ceil(I_r/100) + ceil(M_r/100))  +  B  +  S  +  ceil(P/100)

(a list with no entries still costs its one page; B and S pages hold 100 entries). Pull
requests, lazy attributes and parents named by ``parent_issue_url`` cost nothing.
``diff`` costs no API request when ``fetch`` ran on the same adapter (one GraphQL query for
the board otherwise) plus one ``git clone`` per page. ``apply`` costs one
``addProjectV2ItemById`` per issue not yet on the board and one GraphQL mutation document per
issue with changed values (all its fields in one document, as aliases), writes at least
``write_interval_seconds`` apart; per page one commit and ``git push`` (plus one ``git
fetch`` per rejected push). ``check``: ``GET /user``, ``GET /repos/{o}/{r}`` per repository,
one GraphQL query, one ``git ls-remote``. Git operations are counted separately
(:attr:`GitHubAdapter.git_operations`).

Why a full read every pass
--------------------------
Adding or removing a dependency or a sub-issue does not bump the issue's ``updated_at``, so a
``since=`` cursor would miss it. Every pass therefore lists all issues (``state=all``); the
list JSON carries the roll-up counts (``issue_dependencies_summary.total_blocked_by``,
``sub_issues_summary.total``), which change with the edges, and the blockers of every issue
with a non-zero count are read in full on every pass. Projects field values do not bump it
either; the board is read in full too.

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
import difflib
import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from github import Auth, Github, GithubException
from pydantic import SecretStr

from tracker_bridge import __version__, errors
from tracker_bridge.managed_block import merge_block
from tracker_bridge.model import (
    ApplyReport,
    ChangeSet,
    Dependency,
    DependencyType,
    DesiredPage,
    DesiredState,
    EstimateRange,
    FieldChange,
    FieldValue,
    Finding,
    Milestone,
    PageChange,
    Project,
    Snapshot,
    Source,
    Status,
    WorkItem,
)
from tracker_bridge.settings import (
    FieldNames,
    GitHubSettings,
    ProjectSettings,
    RiskSettings,
    TrackerSettings,
)

__all__ = [
    "FIELD_TYPES",
    "GitHubAdapter",
    "body_dependencies",
    "format_field_value",
    "pacific_date",
    "parse_estimate",
    "wiki_filename",
]

log = logging.getLogger(__name__)

DEFAULT_API = "https://api.github.com"
PAGE_SIZE = 100
MARKUP = "gfm"
WIKI_COMMIT_MESSAGE = "tracker-bridge: update {title}"
#: Projects field type we create (``setup github``) and expect, per logical field.
FIELD_TYPES: dict[str, str] = {
    "critical": "SINGLE_SELECT",
    "total_float": "NUMBER",
    "early_start": "DATE",
    "early_finish": "DATE",
    "late_finish": "DATE",
    "risk_score": "NUMBER",
    "p80_finish": "DATE",
}
CRITICAL_OPTIONS = (("Yes", "RED"), ("No", "GRAY"))
NEEDED_SCOPES = {"repo": "read issues, push the wiki", "project": "write Projects fields"}
SETUP_DOC = "config/github.toml"
_PACIFIC_FALLBACK = dt.timedelta(hours=7)  # 07:00Z and 08:00Z both land on the right date

try:
    _PACIFIC: ZoneInfo | None = ZoneInfo("America/Los_Angeles")
except ZoneInfoNotFoundError:  # pragma: no cover - no tz database on this machine
    _PACIFIC = None


# ----------------------------------------------------------------------- GraphQL documents

_FIELD_VALUE_FIELD = "field { __typename ... on ProjectV2FieldCommon { id name } }"
_ITEMS_SELECTION = f"""
      pageInfo {{ hasNextPage endCursor }}
      nodes {{
        id
        content {{ __typename ... on Issue {{ id number repository {{ nameWithOwner }} }} }}
        fieldValues(first: 50) {{
          nodes {{
            __typename
            ... on ProjectV2ItemFieldDateValue {{ date {_FIELD_VALUE_FIELD} }}
            ... on ProjectV2ItemFieldNumberValue {{ number {_FIELD_VALUE_FIELD} }}
            ... on ProjectV2ItemFieldSingleSelectValue {{ name optionId {_FIELD_VALUE_FIELD} }}
            ... on ProjectV2ItemFieldTextValue {{ text {_FIELD_VALUE_FIELD} }}
          }}
        }}
      }}"""

_PROJECT_QUERY = """
query TrackerBridgeProject($login: String!, $number: Int!, $withItems: Boolean!) {
  owner: %(owner)s(login: $login) {
    projectV2(number: $number) {
      id
      title
      url
      fields(first: 100) {
        nodes {
          __typename
          ... on ProjectV2FieldCommon { id name dataType }
          ... on ProjectV2SingleSelectField { options { id name } }
        }
      }
      items(first: 100) @include(if: $withItems) {%(items)s
      }
    }
  }
}
"""

_ITEMS_QUERY = f"""
query TrackerBridgeProjectItems($project: ID!, $after: String) {{
  node(id: $project) {{
    __typename
    ... on ProjectV2 {{
      items(first: 100, after: $after) {{{_ITEMS_SELECTION}
      }}
    }}
  }}
}}
"""

_ADD_ITEM = """
mutation TrackerBridgeAddItem($project: ID!, $content: ID!) {
  addProjectV2ItemById(input: {projectId: $project, contentId: $content}) { item { id } }
}
"""

_CREATE_FIELD = """
mutation TrackerBridgeCreateField($input: CreateProjectV2FieldInput!) {
  createProjectV2Field(input: $input) {
    projectV2Field { __typename ... on ProjectV2FieldCommon { id name dataType } }
  }
}
"""


def _project_query(owner_kind: str) -> str:
    owner = "organization" if owner_kind == "org" else "user"
    return _PROJECT_QUERY % {"owner": owner, "items": _ITEMS_SELECTION}


def _set_fields_mutation(ops: list[tuple[str, bool]]) -> str:
    """One mutation document: per op an aliased update (True) or clear (False)."""
    params = ["$project: ID!", "$item: ID!"]
    parts = []
    for alias, is_update in ops:
        params.append(f"${alias}Field: ID!")
        target = f"projectId: $project, itemId: $item, fieldId: ${alias}Field"
        if is_update:
            params.append(f"${alias}Value: ProjectV2FieldValue!")
            parts.append(
                f"  {alias}: updateProjectV2ItemFieldValue(input: {{{target}, "
                f"value: ${alias}Value}}) {{ projectV2Item {{ id }} }}"
            )
        else:
            parts.append(
                f"  {alias}: clearProjectV2ItemFieldValue(input: {{{target}}}) "
                "{ projectV2Item { id } }"
            )
    return f"mutation TrackerBridgeSetFields({', '.join(params)}) {{\n" + "\n".join(parts) + "\n}\n"


# --------------------------------------------------------------------------- value helpers


def _date(value: Any) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _datetime(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def pacific_date(value: Any) -> dt.date | None:
    """The date of a milestone ``due_on``: GitHub stores midnight US-Pacific as UTC."""
    instant = _datetime(value)
    if instant is None:
        return None
    if _PACIFIC is None:  # pragma: no cover
        return (instant - _PACIFIC_FALLBACK).date()
    return instant.astimezone(_PACIFIC).date()


def _number_text(value: float) -> str:
    if not math.isfinite(value):
        raise errors.InputError(f"cannot write the non-finite number {value!r} to GitHub")
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def format_field_value(value: FieldValue, data_type: str) -> str:
    """A desired value as the board shows it: ISO dates, plain numbers, 'Yes'/'No'.

    ``""`` means "no value" (the field is cleared).
    """
    if value is None:
        return ""
    if data_type == "DATE":
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        parsed = _date(value)
        if parsed is None:
            raise errors.InputError(f"{value!r} is not a date")
        return parsed.isoformat()
    if data_type == "NUMBER":
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, int | float):
            return _number_text(float(value))
        try:
            return _number_text(float(str(value)))
        except ValueError:
            raise errors.InputError(f"{value!r} is not a number") from None
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _values_equal(current: str | None, new: str, data_type: str) -> bool:
    old = (current or "").strip()
    if data_type == "NUMBER" and old and new:
        try:
            return math.isclose(float(old), float(new), rel_tol=0, abs_tol=1e-9)
        except ValueError:
            return False
    if data_type == "DATE" and old and new:
        return old[:10] == new[:10]
    return old.casefold() == new.strip().casefold()


def _lines_changed(old: str, new: str) -> int:
    a, b = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    return sum(
        max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
    )


def parse_estimate(
    value: str, unit: str | None, hours_per_day: float
) -> tuple[float, EstimateRange | None] | None:
    """``("2-3-6", "d", 8)`` -> ``(24.0, EstimateRange(16, 24, 48))``; ``("6", "h")`` -> 6 h.

    One number is an estimate, three are optimistic-likely-pessimistic (the likely value is
    the estimate). No unit means hours. None when the text does not fit (two numbers, or a
    three-point estimate that is not ordered).
    """
    factor = hours_per_day if (unit or "h").strip().lower().startswith("d") else 1.0
    try:
        numbers = [float(part) * factor for part in re.split(r"\s*[-/]\s*", value.strip())]
    except ValueError:
        return None
    if len(numbers) == 1:
        return numbers[0], None
    if len(numbers) == 3 and numbers[0] <= numbers[1] <= numbers[2]:
        low, likely, high = numbers
        return likely, EstimateRange(optimistic=low, likely=likely, pessimistic=high)
    return None


_DEP_LINE = re.compile(
    r"(?im)^[ \t>*_-]*(?:depends[ \t]+on|blocked[ \t]+by)[*_]*[ \t]*:?[*_ \t]*(?P<refs>.+)$"
)
_DEP_REF = re.compile(
    r"(?P<url>https?://[^\s,;)<>\]]+)"
    r"|(?<![\w/])redmine[ \t]*#(?P<redmine>\d+)"
    r"|(?<![\w/.-])(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)#(?P<repo_number>\d+)"
    r"|(?<![\w/#])#(?P<number>\d+)",
    re.IGNORECASE,
)


def body_dependencies(
    body: str | None, repo: str, web_base: str = "https://github.com"
) -> list[str]:
    """Keys of the predecessors named on ``Depends on`` / ``Blocked by`` lines of a body.

    ``#12`` is an issue of ``repo``; ``owner/repo#12`` and a GitHub issue URL are GitHub
    issues (``github:owner/repo#12``); ``redmine#123`` and any other URL ending in
    ``/issues/123`` are Redmine issues (``redmine:123``).
    """
    if not body:
        return []
    web_host = urlsplit(web_base).hostname or "github.com"
    keys: list[str] = []
    for line in _DEP_LINE.finditer(body):
        for ref in _DEP_REF.finditer(line.group("refs")):
            key: str | None = None
            if ref.group("url"):
                url = urlsplit(ref.group("url").rstrip(".,"))
                parts = [p for p in url.path.split("/") if p]
                if url.hostname == web_host:
                    if len(parts) >= 4 and parts[2] == "issues" and parts[3].isdigit():
                        key = f"github:{parts[0]}/{parts[1]}#{int(parts[3])}"
                elif len(parts) >= 2 and parts[-2] == "issues" and parts[-1].isdigit():
                    key = f"redmine:{int(parts[-1])}"
            elif ref.group("redmine"):
                key = f"redmine:{int(ref.group('redmine'))}"
            elif ref.group("repo"):
                key = f"github:{ref.group('repo')}#{int(ref.group('repo_number'))}"
            elif ref.group("number"):
                key = f"github:{repo}#{int(ref.group('number'))}"
            if key is not None and key not in keys:
                keys.append(key)
    return keys


_WIKI_FORBIDDEN = re.compile(r'[\\/:*?"<>|]')


def wiki_filename(title: str) -> str:
    """The wiki file of a page title: ``Project Plan`` -> ``Project-Plan.md``."""
    name = re.sub(r"\s+", "-", title.strip())
    if not name or _WIKI_FORBIDDEN.search(name):
        raise errors.ConfigError(
            f'wiki page title {title!r} cannot be a GitHub wiki file name (avoid \\/:*?"<>|)'
        )
    return name + ".md"


def _web_base(api_base: str) -> str:
    """``https://api.github.com`` -> ``https://github.com``; GHES ``/api/v3`` dropped."""
    parts = urlsplit(api_base)
    host = parts.hostname or "github.com"
    if host == "api.github.com":
        return "https://github.com"
    host = host.removeprefix("api.")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme or 'https'}://{host}{port}"


def _next_link(header: Any) -> str | None:
    if not header:
        return None
    for part in str(header).split(","):
        match = re.match(r'\s*<([^>]+)>\s*;\s*rel="?next"?', part)
        if match:
            return match.group(1)
    return None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------------------ state


@dataclass
class _ProjectField:
    id: str
    name: str
    data_type: str
    options: dict[str, tuple[str, str]] = field(default_factory=dict)  # casefold -> (id, name)


@dataclass
class _Board:
    """The Projects (v2) board: ids, fields and (when read) the items of our issues."""

    id: str
    title: str
    url: str
    fields: dict[str, _ProjectField]  # casefold name -> field
    items: dict[str, str] = field(default_factory=dict)  # issue key -> item id
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> field id -> text
    items_read: bool = False
    foreign_items: int = 0

    def field(self, name: str) -> _ProjectField | None:
        return self.fields.get(name.strip().casefold())


@dataclass
class _WikiClone:
    root: Path
    path: Path
    branch: str
    cleanup: weakref.finalize[Any, Any]


class _GitError(Exception):
    def __init__(self, args: list[str], returncode: int, stderr: str) -> None:
        super().__init__(stderr)
        self.args_ = args
        self.returncode = returncode
        self.stderr = stderr


# ------------------------------------------------------------------------------ adapter


class GitHubAdapter:
    """One GitHub project (repositories, a Projects board, a wiki): fetch, diff, apply, check.

    ``sleep`` and ``clock`` are injectable so tests can assert waits without waiting.
    """

    def __init__(
        self,
        tracker: TrackerSettings,
        project: ProjectSettings,
        field_names: FieldNames,
        api_key: SecretStr,
        *,
        progress: Callable[[int, int], None] | None = None,
        tracker_name: str = "github",
        risk: RiskSettings | None = None,  # GitHub has no risk register mapping yet
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tracker = tracker
        self.project = project
        self.field_names = field_names
        self.tracker_name = tracker_name
        self.progress = progress
        self.settings: GitHubSettings = project.github or GitHubSettings()
        repositories = list(self.settings.repositories)
        if not repositories:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", project.project):
                raise errors.ConfigError(
                    f"project '{project.project}' on GitHub: set [projects.NAME.github] "
                    "repositories = [\"owner/repo\", ...] (or use 'owner/repo' as the project)"
                )
            repositories = [project.project]
        self.repositories = repositories
        self._canonical = {r.casefold(): r for r in repositories}
        self.api_base = (tracker.url or DEFAULT_API).rstrip("/")
        self.web_base = _web_base(self.api_base)
        self._token = api_key.get_secret_value()
        self._sleep = sleep
        self._clock = clock
        self._gh = Github(
            auth=Auth.Token(self._token),
            base_url=self.api_base,
            per_page=PAGE_SIZE,
            timeout=max(1, math.ceil(tracker.timeout_seconds)),
            user_agent=f"tracker-bridge/{__version__}",
            retry=None,
            seconds_between_requests=0,
            seconds_between_writes=0,
        )
        self._requests = 0
        self._last_write: float | None = None
        self._board: _Board | None = None
        self._node_ids: dict[str, str] = {}
        self._wiki: _WikiClone | None = None
        self._oauth_scopes: list[str] | None = None
        #: Git operations that talked to the wiki remote (clone, fetch, push, ls-remote).
        self.git_operations = 0
        #: Things fetch, diff or apply noticed but did not fail on.
        self.notes: list[str] = []
        #: Dependencies from body lines whose predecessor is not in the snapshot (another
        #: tracker, e.g. ``redmine:123``, or a repository that is not configured).
        self.external_dependencies: list[Dependency] = []
        #: Keys of issues ``apply`` added to the Projects board.
        self.items_added: list[str] = []

    # ------------------------------------------------------------------ plumbing

    @property
    def requests_made(self) -> int:
        """API requests (REST and GraphQL, retries included) this adapter has sent."""
        return self._requests

    def close(self) -> None:
        self._close_wiki()
        self._gh.close()

    def __enter__(self) -> GitHubAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _name(self) -> str:
        return self.project.project

    def _scrub(self, text: str) -> str:
        if not text or not self._token:
            return text
        text = text.replace(self._token, "***")
        return text.replace(self._basic_auth(), "***")

    def _basic_auth(self) -> str:
        return base64.b64encode(f"x-access-token:{self._token}".encode()).decode()

    def _note(self, message: str) -> None:
        self.notes.append(message)
        log.warning("github %s: %s", self._name, message)

    def _token_source(self) -> str:
        if self.tracker.api_key_file is not None:
            return f"the file {self.tracker.api_key_file}"
        env = self.tracker.api_key_env or f"TRACKER_BRIDGE_{self.tracker_name.upper()}_KEY"
        return f"the environment variable {env}"

    def _pace_write(self) -> None:
        interval = self.settings.write_interval_seconds
        if self._last_write is None or interval <= 0:
            return
        wait = self._last_write + interval - self._clock()
        if wait > 0:
            self._sleep(wait)

    # ------------------------------------------------------------------ requests

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
            except requests.Timeout:
                raise errors.TrackerError(
                    f"GitHub at {self.api_base} did not answer the {what} within "
                    f"{self.tracker.timeout_seconds:g} s",
                    method=method,
                    path=path,
                ) from None
            except requests.RequestException as e:
                raise errors.TrackerError(
                    f"cannot reach GitHub at {self.api_base} ({type(e).__name__}); check the "
                    f"url in [trackers.{self.tracker_name}] and the network",
                    method=method,
                    path=path,
                ) from None
            finally:
                if write:
                    self._last_write = self._clock()
            log.info(
                "github %s: %s %s: waiting %.0f s before retry %d",
                self._name,
                method,
                path,
                wait,
                attempt + 1,
            )
            self._sleep(wait)
            attempt += 1

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
        cfg = self.settings
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
        retry_after = _float(headers.get("retry-after"))
        reset = _float(headers.get("x-ratelimit-reset"))
        if retry_after is not None:
            wait = max(0.0, retry_after)
        elif str(headers.get("x-ratelimit-remaining")) == "0" and reset is not None:
            wait = max(0.0, reset - self._clock()) + 1
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
                detail=self._scrub(detail) or None,
            )
        if attempt >= cfg.max_retries:
            raise errors.RateLimitedError(
                f"GitHub {kind} on the {what}: still limited after {attempt} retries; run again "
                "later",
                method=method,
                path=path,
                status=status,
                detail=self._scrub(detail) or None,
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
        status = e.status
        data = e.data if isinstance(e.data, dict) else {}
        gql = self._graphql_errors(e)
        if gql is not None:  # HTTP 200 with an "errors" key (PyGithub says 400 or 404)
            detail: str | None = self._scrub(
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
        detail = self._scrub(github_message) or None
        if status == 401:
            return errors.AuthError(
                f"GitHub did not accept the token from {self._token_source()} (401): it is "
                "wrong, expired or revoked. Create a token (classic: scopes 'repo' and "
                "'project'; fine-grained: Issues, Contents and Projects read/write) and put it "
                "there",
                method=method,
                path=path,
                status=401,
                detail=detail,
            )
        if status == 403:
            scopes = ", ".join(self._oauth_scopes) if self._oauth_scopes else "not reported"
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

    def _rest(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        what: str,
        not_found: str | None = None,
    ) -> tuple[dict[str, Any], Any]:
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

    def _pages(
        self, path: str, params: dict[str, Any], *, what: str, not_found: str | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of a REST list, following ``Link: rel="next"``."""
        url: str | None = path
        query: dict[str, Any] | None = {**params, "per_page": PAGE_SIZE}
        while url is not None:
            headers, data = self._rest("GET", url, params=query, what=what, not_found=not_found)
            yield [x for x in data if isinstance(x, dict)] if isinstance(data, list) else []
            url = _next_link(headers.get("link"))
            query = None

    def _graphql(
        self,
        query: str,
        variables: dict[str, Any],
        *,
        what: str,
        write: bool = False,
        idempotent: bool = True,
        not_found: str | None = None,
    ) -> dict[str, Any]:
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

    # ------------------------------------------------------------------ fetch

    def _key(self, repo: str, number: int) -> str:
        return f"github:{self._canonical.get(repo.casefold(), repo)}#{number}"

    def _repo_of(self, raw: dict[str, Any]) -> str | None:
        """``owner/repo`` of an issue JSON (list item, relation list item or webhook)."""
        for url, marker in ((raw.get("html_url"), None), (raw.get("repository_url"), "repos")):
            if not url:
                continue
            parts = [p for p in urlsplit(str(url)).path.split("/") if p]
            if marker is None and len(parts) >= 4 and parts[-2] in ("issues", "pull"):
                return "/".join(parts[-4:-2])
            if marker is not None and marker in parts:
                i = parts.index(marker)
                if len(parts) >= i + 3:
                    return "/".join(parts[i + 1 : i + 3])
        return None

    def _issue_key(self, raw: dict[str, Any]) -> str | None:
        repo = self._repo_of(raw)
        number = raw.get("number")
        if repo is None or not isinstance(number, int):
            return None
        return self._key(repo, number)

    def fetch(self) -> Snapshot:
        """Read the repositories and the board into a Snapshot.

        Contract: every issue (open and closed, no pull requests) of the configured
        repositories becomes a WorkItem keyed ``github:owner/repo#N`` (``native_id`` = the
        issue's GraphQL node id); milestones become ``github:owner/repo:milestone:N`` with the
        due date read in US-Pacific; "blocked by" relations become FS dependencies (origin
        ``blocked_by``), sub-issues set ``parent``; ``Depends on`` / ``Blocked by`` lines in
        the body become FS dependencies (origin ``body``) when the predecessor is in the
        snapshot, else go to :attr:`external_dependencies`. With a board configured, an
        issue on the board carries ``fields[logical]`` (the shown value or None) for each of
        our logical fields the board has; issues not on the board carry none. Estimates: see
        :meth:`_estimate`. The request budget is in the module docstring.
        """
        started = self.requests_made
        self.notes = []
        self.external_dependencies = []
        self._node_ids = {}
        raw_issues: dict[str, tuple[str, dict[str, Any]]] = {}
        milestones: dict[str, Milestone] = {}
        pull_requests = 0
        several = len(self.repositories) > 1
        for repo in self.repositories:
            missing = (
                f"GitHub repository {repo} not found (or the token cannot see it: a "
                "fine-grained token must list it, an app must be installed on it)"
            )
            for batch in self._pages(
                f"/repos/{repo}/issues",
                {"state": "all", "sort": "created", "direction": "asc"},
                what=f"issue list of {repo}",
                not_found=missing,
            ):
                for raw in batch:
                    if "/pull/" in str(raw.get("html_url") or ""):
                        pull_requests += 1
                        continue
                    number = raw.get("number")
                    if isinstance(number, int):
                        raw_issues[self._key(repo, number)] = (repo, raw)
                if self.progress is not None:
                    self.progress(len(raw_issues), len(raw_issues))
            for batch in self._pages(
                f"/repos/{repo}/milestones",
                {"state": "all"},
                what=f"milestone list of {repo}",
                not_found=missing,
            ):
                for m in batch:
                    milestone = self._milestone(repo, m, several)
                    milestones[milestone.key] = milestone

        board = self._load_board(with_items=True) if self.settings.project_v2 else None
        keys = set(raw_issues)
        items: list[WorkItem] = []
        for key, (repo, raw) in raw_issues.items():
            item = self._item(key, repo, raw, board, several)
            if item.milestone is not None and item.milestone not in milestones:
                embedded = raw.get("milestone") or {}
                milestones[item.milestone] = self._milestone(repo, embedded, several)
            items.append(item)
        parents = self._parents(raw_issues)
        dependencies = self._dependencies(raw_issues, keys)
        for item in items:
            parent = parents.get(item.key)
            if parent is not None and parent in keys and parent != item.key:
                item.parent = parent
            elif parent is not None:
                self._note(
                    f"{item.key}: parent {parent} is outside the fetched issues; "
                    "treated as a top-level item"
                )
        self._break_parent_loops(items)

        start = self.project.start
        if start is None:
            created = [
                d
                for _, raw in raw_issues.values()
                if (d := _date(raw.get("created_at"))) is not None
            ]
            start = (
                min(created) if created else dt.datetime.fromtimestamp(self._clock(), dt.UTC).date()
            )
        snapshot = Snapshot(
            project=Project(name=self._name, start=start),
            items=sorted(items, key=lambda i: _sort_key(i.key)),
            dependencies=dependencies,
            milestones=sorted(milestones.values(), key=lambda m: _sort_key(m.key)),
            source=Source(kind="github", base_url=self.api_base, project=self._name),
            fetched_at=dt.datetime.fromtimestamp(self._clock(), dt.UTC),
            custom_fields={f.name: f.id for f in board.fields.values()} if board else {},
        )
        log.info(
            "github fetch %s: %d issues (%d pull requests skipped), %d dependencies, "
            "%d milestones in %d requests",
            self._name,
            len(items),
            pull_requests,
            len(dependencies),
            len(milestones),
            self.requests_made - started,
        )
        return snapshot

    def _milestone(self, repo: str, m: dict[str, Any], several: bool) -> Milestone:
        number = m.get("number")
        title = str(m.get("title") or f"milestone {number}")
        return Milestone(
            key=f"github:{self._canonical.get(repo.casefold(), repo)}:milestone:{number}",
            name=f"{repo}: {title}" if several else title,
            due=pacific_date(m.get("due_on")),
            status="closed" if m.get("state") == "closed" else "open",
            native_id=str(m.get("node_id") or m.get("id") or number),
        )

    def _item(
        self, key: str, repo: str, raw: dict[str, Any], board: _Board | None, several: bool
    ) -> WorkItem:
        node_id = str(raw.get("node_id") or "")
        if node_id:
            self._node_ids[key] = node_id
        closed = raw.get("state") == "closed"
        labels = [
            str(label.get("name") if isinstance(label, dict) else label)
            for label in raw.get("labels") or []
        ]
        fields: dict[str, str | None] = {}
        board_values: dict[str, str] = {}
        if board is not None and key in board.items:
            board_values = board.values.get(key, {})
            for logical in self.field_names.logical_names():
                target = board.field(str(getattr(self.field_names, logical)))
                if target is not None:
                    fields[logical] = board_values.get(target.id)
        estimate, estimate_range = self._estimate(key, raw, labels, board, board_values)
        milestone = raw.get("milestone")
        milestone_key = None
        if isinstance(milestone, dict) and milestone.get("number") is not None:
            milestone_key = (
                f"github:{self._canonical.get(repo.casefold(), repo)}:milestone:"
                f"{milestone['number']}"
            )
        issue_type = raw.get("type")
        return WorkItem(
            key=key,
            native_id=node_id or None,
            title=str(raw.get("title") or ""),
            url=str(raw.get("html_url") or "") or None,
            status=Status.CLOSED if closed else Status.OPEN,
            closed_on=_date(raw.get("closed_at")) if closed else None,
            estimate_hours=estimate,
            estimate_range=estimate_range,
            assignee=(raw.get("assignee") or {}).get("login"),
            milestone=milestone_key,
            labels=labels,
            tracker=issue_type.get("name") if isinstance(issue_type, dict) else None,
            updated_on=_datetime(raw.get("updated_at")),
            fields=fields,
        )

    def _estimate(
        self,
        key: str,
        raw: dict[str, Any],
        labels: list[str],
        board: _Board | None,
        board_values: dict[str, str],
    ) -> tuple[float | None, EstimateRange | None]:
        """Hours (and a three-point range) from the configured sources, first match wins.

        1. ``body_pattern``: a line in the body (``Estimate: 3d``, ``Estimate: 2-3-6d``) --
           the person's own words on the issue, and the only source of a three-point range;
        2. ``estimate_field``: a number field on the board (hours);
        3. ``estimate_label_pattern``: a label like ``estimate: 3d`` / ``estimate: 6h``;
        4. ``estimate_labels``: size labels mapped to hours (the largest when several).
        """
        cfg = self.settings
        body = raw.get("body")
        if isinstance(body, str) and body:
            match = re.search(cfg.body_pattern, body)
            if match:
                parsed = parse_estimate(
                    match.group("value"), _group(match, "unit"), cfg.hours_per_day
                )
                if parsed is not None:
                    return parsed
                self._note(
                    f"{key}: estimate line {match.group(0).strip()!r} is not one "
                    "number or an ordered optimistic-likely-pessimistic triple; ignored"
                )
        if cfg.estimate_field and board is not None:
            target = board.field(cfg.estimate_field)
            value = _float(board_values.get(target.id)) if target is not None else None
            if value is not None and value >= 0:
                return value, None
        for label in labels:
            match = re.search(cfg.estimate_label_pattern, label.strip())
            if match:
                parsed = parse_estimate(
                    match.group("value"), _group(match, "unit"), cfg.hours_per_day
                )
                if parsed is not None:
                    return parsed[0], None
        if cfg.estimate_labels:
            table = {name.strip().casefold(): hours for name, hours in cfg.estimate_labels.items()}
            sizes = [
                table[label.strip().casefold()]
                for label in labels
                if label.strip().casefold() in table
            ]
            if sizes:
                return max(sizes), None
        return None, None

    def _parents(self, raw_issues: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, str]:
        """Child key -> parent key: ``parent_issue_url`` of the list JSON, and
        ``GET .../sub_issues`` for parents whose ``sub_issues_summary.total`` is not covered."""
        parents: dict[str, str] = {}
        for key, (_, raw) in raw_issues.items():
            parts = [
                p for p in urlsplit(str(raw.get("parent_issue_url") or "")).path.split("/") if p
            ]
            if len(parts) >= 4 and parts[-2] == "issues" and parts[-1].isdigit():
                parents[key] = self._key("/".join(parts[-4:-2]), int(parts[-1]))
        named: dict[str, int] = {}
        for parent in parents.values():
            named[parent] = named.get(parent, 0) + 1
        for key, (repo, raw) in raw_issues.items():
            summary = raw.get("sub_issues_summary") or {}
            total = int(summary.get("total") or 0) if isinstance(summary, dict) else 0
            if total <= named.get(key, 0):
                continue
            number = raw["number"]
            for batch in self._pages(
                f"/repos/{repo}/issues/{number}/sub_issues", {}, what=f"sub-issues of {key}"
            ):
                for child in batch:
                    child_key = self._issue_key(child)
                    if child_key is not None:
                        parents[child_key] = key
        return parents

    @staticmethod
    def _break_parent_loops(items: list[WorkItem]) -> None:
        by_key = {item.key: item for item in items}
        for item in items:
            seen = {item.key}
            parent = item.parent
            while parent is not None and parent in by_key:
                if parent in seen:
                    item.parent = None
                    break
                seen.add(parent)
                parent = by_key[parent].parent

    def _dependencies(
        self, raw_issues: dict[str, tuple[str, dict[str, Any]]], keys: set[str]
    ) -> list[Dependency]:
        found: dict[tuple[str, str], str] = {}
        outside = 0
        for key, (repo, raw) in raw_issues.items():
            summary = raw.get("issue_dependencies_summary") or {}
            count = 0
            if isinstance(summary, dict):
                count = int(summary.get("total_blocked_by") or summary.get("blocked_by") or 0)
            if count > 0:
                number = raw["number"]
                for batch in self._pages(
                    f"/repos/{repo}/issues/{number}/dependencies/blocked_by",
                    {},
                    what=f"blockers of {key}",
                ):
                    for blocker in batch:
                        pred = self._issue_key(blocker)
                        if pred is None or pred == key:
                            continue
                        if pred not in keys:
                            outside += 1
                            self.external_dependencies.append(
                                Dependency(predecessor=pred, successor=key, origin="blocked_by")
                            )
                            continue
                        found[(pred, key)] = "blocked_by"
            for pred in body_dependencies(raw.get("body"), repo, self.web_base):
                pred = self._canonical_key(pred)
                if pred == key or (pred, key) in found:
                    continue
                if pred in keys:
                    found[(pred, key)] = "body"
                else:
                    self.external_dependencies.append(
                        Dependency(predecessor=pred, successor=key, origin="body")
                    )
        if outside:
            self._note(
                f"{outside} blocked-by relation(s) point to issues outside the "
                "configured repositories; kept in external_dependencies"
            )
        external_body = sum(1 for d in self.external_dependencies if d.origin == "body")
        if external_body:
            self._note(
                f"{external_body} 'Depends on' line(s) name items of another tracker or "
                "repository; kept in external_dependencies"
            )
        return [
            Dependency(predecessor=p, successor=s, type=DependencyType.FS, origin=origin)
            for (p, s), origin in sorted(
                found.items(), key=lambda kv: (_sort_key(kv[0][0]), _sort_key(kv[0][1]))
            )
        ]

    def _canonical_key(self, key: str) -> str:
        match = re.fullmatch(r"github:([^#]+)#(\d+)", key)
        return self._key(match.group(1), int(match.group(2))) if match else key

    # ------------------------------------------------------------------ board

    def _owner(self) -> tuple[str, str, int]:
        owner = self.settings.project_owner()
        if owner is None:
            raise errors.ConfigError(
                f"projects: '{self._name}' has no [projects.NAME.github] project_v2 board "
                '(e.g. project_v2 = "org:acme/7")'
            )
        return owner

    def _board_label(self) -> str:
        return str(self.settings.project_v2)

    def _load_board(self, *, with_items: bool) -> _Board:
        kind, login, number = self._owner()
        label = self._board_label()
        url = f"{self.web_base}/{'orgs' if kind == 'org' else 'users'}/{login}/projects/{number}"
        missing = (
            f"Projects board {label} not found ({url}): check project_v2, and that the "
            "token may read it (classic token: 'read:project' or 'project' scope; "
            "fine-grained token or app: the organisation's Projects permission)"
        )
        data = self._graphql(
            _project_query(kind),
            {"login": login, "number": number, "withItems": with_items},
            what=f"Projects board {label}",
            not_found=missing,
        )
        project = (data.get("owner") or {}).get("projectV2")
        if not isinstance(project, dict):
            raise errors.NotFoundError(missing, method="POST", path="/graphql", status=200)
        fields: dict[str, _ProjectField] = {}
        for node in (project.get("fields") or {}).get("nodes") or []:
            if not isinstance(node, dict) or not node.get("id"):
                continue
            options = {
                str(o["name"]).strip().casefold(): (str(o["id"]), str(o["name"]))
                for o in node.get("options") or []
                if isinstance(o, dict)
            }
            f = _ProjectField(
                id=str(node["id"]),
                name=str(node.get("name") or ""),
                data_type=str(node.get("dataType") or ""),
                options=options,
            )
            fields.setdefault(f.name.strip().casefold(), f)
        board = _Board(
            id=str(project["id"]),
            title=str(project.get("title") or label),
            url=str(project.get("url") or url),
            fields=fields,
        )
        if with_items:
            page = project.get("items") or {}
            while True:
                self._read_items(board, page)
                info = page.get("pageInfo") or {}
                if not info.get("hasNextPage"):
                    break
                data = self._graphql(
                    _ITEMS_QUERY,
                    {"project": board.id, "after": info.get("endCursor")},
                    what=f"items of Projects board {label}",
                )
                page = ((data.get("node") or {}).get("items")) or {}
            board.items_read = True
            if board.foreign_items:
                log.info(
                    "github %s: %d board items are not issues of the configured "
                    "repositories; ignored",
                    self._name,
                    board.foreign_items,
                )
        self._board = board
        return board

    def _read_items(self, board: _Board, page: dict[str, Any]) -> None:
        for node in page.get("nodes") or []:
            if not isinstance(node, dict):
                continue
            content = node.get("content") or {}
            repo = (content.get("repository") or {}).get("nameWithOwner")
            if (
                content.get("__typename") != "Issue"
                or not repo
                or str(repo).casefold() not in self._canonical
            ):
                board.foreign_items += 1
                continue
            key = self._key(str(repo), int(content["number"]))
            board.items[key] = str(node["id"])
            if content.get("id"):
                self._node_ids.setdefault(key, str(content["id"]))
            values: dict[str, str] = {}
            for value in (node.get("fieldValues") or {}).get("nodes") or []:
                if not isinstance(value, dict):
                    continue
                field_id = (value.get("field") or {}).get("id")
                if not field_id:
                    continue
                kind = value.get("__typename")
                if kind == "ProjectV2ItemFieldDateValue" and value.get("date"):
                    values[str(field_id)] = str(value["date"])[:10]
                elif kind == "ProjectV2ItemFieldNumberValue" and value.get("number") is not None:
                    values[str(field_id)] = _number_text(float(value["number"]))
                elif kind == "ProjectV2ItemFieldSingleSelectValue" and value.get("name"):
                    values[str(field_id)] = str(value["name"])
                elif kind == "ProjectV2ItemFieldTextValue" and value.get("text") is not None:
                    values[str(field_id)] = str(value["text"])
            board.values[key] = values

    def _resolve_fields(self, board: _Board) -> tuple[dict[str, _ProjectField], dict[str, str]]:
        found: dict[str, _ProjectField] = {}
        missing: dict[str, str] = {}
        for logical in self.field_names.logical_names():
            name = str(getattr(self.field_names, logical))
            target = board.field(name)
            if target is None:
                missing[logical] = name
            else:
                found[logical] = target
        return found, missing

    def _missing_field_error(self, logical: str, name: str) -> errors.ConfigError:
        return errors.ConfigError(
            f"Projects board {self._board_label()} has no field '{name}' (fields.{logical}): "
            f"run `tracker-bridge setup github --project <name>` to create it (type "
            f"{FIELD_TYPES.get(logical, 'NUMBER')}), or set fields.{logical} to the name the "
            "field has on the board"
        )

    # ------------------------------------------------------------------ diff

    def diff(self, snapshot: Snapshot, desired: DesiredState) -> ChangeSet:
        """Changes that make the board and the wiki show ``desired``.

        Fields: each desired value is formatted for the board field's type
        (:func:`format_field_value`: ISO date, plain number, single-select option name) and
        compared, normalised, with the value in the snapshot; only differences are kept. An
        issue that is not on the board yet (no ``fields`` entries) gets every non-empty value
        with ``old = None``; ``apply`` adds it to the board first. A logical field the board
        lacks raises ConfigError (``setup github`` creates it); a single-select field without
        the needed option too. Pages: the wiki is cloned and our block merged into
        ``<Page>.md`` (:func:`merge_block`); the page is kept only if its text or one of its
        attachments changes.
        """
        started = self.requests_made
        changes: list[FieldChange] = []
        if desired.fields:
            if self.settings.project_v2 is None:
                self._note(
                    "no Projects board configured (project_v2); field values are not written"
                )
            else:
                changes = self._diff_fields(snapshot, desired)
        pages = [c for page in desired.pages if (c := self._diff_page(page)) is not None]
        log.info(
            "github diff %s: %d field changes on %d issues, %d page(s), %d requests",
            self._name,
            len(changes),
            len({c.item for c in changes}),
            len(pages),
            self.requests_made - started,
        )
        return ChangeSet(fields=changes, pages=pages, pages_desired=list(desired.pages))

    def _diff_fields(self, snapshot: Snapshot, desired: DesiredState) -> list[FieldChange]:
        board = self._board or self._load_board(with_items=False)
        found, missing = self._resolve_fields(board)
        required = set(self.field_names.required())
        skipped = sorted(logical for logical in missing if logical not in required)
        if skipped:  # overlay fields are optional: a board without them still gets the rest
            self._note(f"board has no field for {', '.join(skipped)}; those values are skipped")
        items = snapshot.item_map()
        changes: list[FieldChange] = []
        not_on_board = 0
        for key, values in desired.fields.items():
            item = items.get(key)
            if item is None:
                self._note(f"desired values for {key}, which is not in the snapshot; skipped")
                continue
            on_board = any(logical in item.fields for logical in found)
            if not on_board:
                not_on_board += 1
            for logical, value in values.items():
                if logical in missing and logical in required:
                    raise self._missing_field_error(logical, missing[logical])
                target = found.get(logical)
                if target is None:
                    continue
                new = format_field_value(value, target.data_type)
                if target.data_type == "SINGLE_SELECT" and new:
                    self._option(target, new)  # raises when the option is missing
                old = item.fields.get(logical) if on_board else None
                if not _values_equal(old, new, target.data_type):
                    changes.append(FieldChange(item=key, field=logical, old=old, new=new))
        if not_on_board:
            self._note(
                f"{not_on_board} issue(s) are not on the Projects board "
                f"{self._board_label()} yet; apply adds them"
            )
        return changes

    def _option(self, target: _ProjectField, name: str) -> str:
        option = target.options.get(name.strip().casefold())
        if option is None:
            known = ", ".join(repr(n) for _, n in target.options.values()) or "none"
            raise errors.ConfigError(
                f"single-select field '{target.name}' of Projects board {self._board_label()} "
                f"has no option '{name}' (options: {known}); add it in the board's field "
                "settings"
            )
        return option[0]

    # ------------------------------------------------------------------ apply

    def apply(self, changes: ChangeSet) -> ApplyReport:
        """Write ``changes``: add missing issues to the board (``addProjectV2ItemById``),
        then one GraphQL document per issue that updates (``updateProjectV2ItemFieldValue``)
        or clears (``clearProjectV2ItemFieldValue``) all its changed fields; then each page
        (commit and push to the wiki; a rejected push is fetched, re-merged and retried up to
        ``wiki_push_retries`` times, counted in ``conflicts_retried``). Writes are at least
        ``write_interval_seconds`` apart. Issues added to the board are in
        :attr:`items_added` and :attr:`notes`.
        """
        started = self.requests_made
        report = ApplyReport()
        self.items_added = []
        by_item: dict[str, list[FieldChange]] = {}
        for change in changes.fields:
            by_item.setdefault(change.item, []).append(change)
        if by_item:
            board = self._board
            if (
                board is None
                or not board.items_read
                or any(k not in board.items and k not in self._node_ids for k in by_item)
            ):
                self.fetch()  # apply() without fetch(): learn item and node ids
                board = self._board
            assert board is not None
            found, missing = self._resolve_fields(board)
            for key, item_changes in by_item.items():
                item_id = board.items.get(key) or self._add_item(board, key)
                ops: list[tuple[str, bool]] = []
                variables: dict[str, Any] = {"project": board.id, "item": item_id}
                for i, change in enumerate(item_changes):
                    if change.field in missing:
                        raise self._missing_field_error(change.field, missing[change.field])
                    target = found.get(change.field)
                    if target is None:
                        raise errors.ConfigError(
                            f"no Projects field resolved for logical field '{change.field}'"
                        )
                    alias = f"f{i}"
                    variables[f"{alias}Field"] = target.id
                    if change.new == "":
                        ops.append((alias, False))
                    else:
                        ops.append((alias, True))
                        variables[f"{alias}Value"] = self._field_input(target, change.new)
                self._graphql(
                    _set_fields_mutation(ops),
                    variables,
                    what=f"update of {key} on Projects board {self._board_label()}",
                    write=True,
                )
                values = board.values.setdefault(key, {})
                for change in item_changes:
                    values[found[change.field].id] = change.new
                report.issues_updated += 1
                report.fields_written += len(item_changes)
        if self.items_added:
            self._note(
                f"added {len(self.items_added)} issue(s) to the Projects board "
                f"{self._board_label()}: {', '.join(self.items_added)}"
            )

        desired = {p.title: p for p in changes.pages_desired}
        for page_change in changes.pages:
            self._apply_page(page_change, desired.get(page_change.title), report)
        report.requests = self.requests_made - started
        log.info(
            "github apply %s: %d issues (%d fields, %d added to the board), %d pages, "
            "%d pushes retried, %d requests",
            self._name,
            report.issues_updated,
            report.fields_written,
            len(self.items_added),
            report.pages_written,
            report.conflicts_retried,
            report.requests,
        )
        return report

    def _add_item(self, board: _Board, key: str) -> str:
        content = self._node_ids.get(key)
        if content is None:
            raise errors.InputError(f"{key} is not an issue of the configured repositories")
        data = self._graphql(
            _ADD_ITEM,
            {"project": board.id, "content": content},
            what=f"adding {key} to Projects board {self._board_label()}",
            write=True,
        )
        item = ((data.get("addProjectV2ItemById") or {}).get("item") or {}).get("id")
        if not item:
            raise errors.TrackerError(
                f"GitHub did not return the board item of {key}", method="POST", path="/graphql"
            )
        board.items[str(key)] = str(item)
        self.items_added.append(key)
        return str(item)

    def _field_input(self, target: _ProjectField, text: str) -> dict[str, Any]:
        if target.data_type == "DATE":
            return {"date": text[:10]}
        if target.data_type == "NUMBER":
            return {"number": float(text)}
        if target.data_type == "SINGLE_SELECT":
            return {"singleSelectOptionId": self._option(target, text)}
        if target.data_type == "TEXT":
            return {"text": text}
        raise errors.ConfigError(
            f"Projects field '{target.name}' has type {target.data_type}; tracker-bridge writes "
            "DATE, NUMBER, SINGLE_SELECT or TEXT fields"
        )

    # ------------------------------------------------------------------ wiki (git)

    @property
    def wiki_repository(self) -> str:
        return self.settings.wiki_repository or self.repositories[0]

    def _wiki_remote(self) -> str:
        return self.settings.wiki_remote or f"{self.web_base}/{self.wiki_repository}.wiki.git"

    def _git_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "GIT_TERMINAL_PROMPT": "0",
                "LC_ALL": "C",
                "LANGUAGE": "C",
                "GIT_AUTHOR_NAME": self.settings.wiki_author_name,
                "GIT_AUTHOR_EMAIL": self.settings.wiki_author_email,
                "GIT_COMMITTER_NAME": self.settings.wiki_author_name,
                "GIT_COMMITTER_EMAIL": self.settings.wiki_author_email,
            }
        )
        # The same as `git -c KEY=VALUE`, but the token stays out of the command line (ps),
        # out of .git/config and out of the remote URL.
        config = [("commit.gpgsign", "false")]
        if self._token and self._wiki_remote().startswith(("http://", "https://")):
            config.append(
                (f"http.{self.web_base}/.extraHeader", f"Authorization: Basic {self._basic_auth()}")
            )
        count = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
        for i, (key, value) in enumerate(config, start=count):
            env[f"GIT_CONFIG_KEY_{i}"] = key
            env[f"GIT_CONFIG_VALUE_{i}"] = value
        env["GIT_CONFIG_COUNT"] = str(count + len(config))
        return env

    def _git(
        self, args: list[str], cwd: Path | None = None, *, network: bool = False, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        if network:
            self.git_operations += 1
        try:
            result = subprocess.run(
                ["git", *args],
                cwd=cwd,
                env=self._git_env(),
                capture_output=True,
                text=True,
                timeout=max(60.0, self.tracker.timeout_seconds * 4),
                check=False,
            )
        except FileNotFoundError:
            raise errors.ConfigError(
                "git is not installed; the GitHub wiki is a git repository and needs it"
            ) from None
        except subprocess.TimeoutExpired:
            raise errors.TrackerError(
                f"git {args[0]} of the wiki of {self.wiki_repository} timed out"
            ) from None
        if check and result.returncode != 0:
            raise _GitError(args, result.returncode, self._scrub(result.stderr or ""))
        return result

    def _wiki_error(self, e: _GitError, action: str) -> errors.TrackerError:
        text = e.stderr.strip()
        low = text.lower()
        if "not found" in low or "does not exist" in low or "does not appear to be a git" in low:
            return errors.NotFoundError(
                f"the wiki of {self.wiki_repository} does not exist yet: create its first page "
                "in the web UI (GitHub only creates the wiki repository then)",
                method="GIT",
                path=action,
            )
        if (
            "authentication failed" in low
            or "could not read username" in low
            or "403" in low
            or "permission" in low
        ):
            return errors.AuthError(
                f"git {action} of the wiki of {self.wiki_repository} was refused: the token "
                "needs the 'repo' scope (classic) or Contents: write (fine-grained, app)",
                method="GIT",
                path=action,
                detail=text.splitlines()[-1] if text else None,
            )
        return errors.TrackerError(
            f"git {action} of the wiki of {self.wiki_repository} failed",
            method="GIT",
            path=action,
            detail=text.splitlines()[-1] if text else None,
        )

    def _close_wiki(self) -> None:
        if self._wiki is not None:
            self._wiki.cleanup()
            self._wiki = None

    def _clone_wiki(self) -> _WikiClone:
        self._close_wiki()
        root = Path(tempfile.mkdtemp(prefix="tracker-bridge-wiki-"))
        # removed by close(), or when the adapter is garbage-collected (no ResourceWarning)
        cleanup = weakref.finalize(self, shutil.rmtree, root, ignore_errors=True)
        path = root / "wiki"
        try:
            self._git(
                ["clone", "--quiet", "--depth", "1", "--no-tags", self._wiki_remote(), str(path)],
                network=True,
            )
            branch = self._git(["symbolic-ref", "--short", "HEAD"], path).stdout.strip()
        except _GitError as e:
            cleanup()
            raise self._wiki_error(e, "clone") from None
        self._wiki = _WikiClone(root=root, path=path, branch=branch or "master", cleanup=cleanup)
        return self._wiki

    @staticmethod
    def _page_path(clone: _WikiClone, title: str) -> Path:
        """``<Page>.md`` at the top, or wherever GitHub would find it in a subdirectory."""
        name = wiki_filename(title)
        top = clone.path / name
        if top.exists():
            return top
        for candidate in sorted(clone.path.rglob(name)):
            if ".git" not in candidate.relative_to(clone.path).parts:
                return candidate
        return top

    @staticmethod
    def _read_text(path: Path) -> str | None:
        if not path.exists():
            return None
        return path.read_bytes().decode("utf-8")

    def _diff_page(self, page: DesiredPage) -> PageChange | None:
        clone = self._clone_wiki()
        path = self._page_path(clone, page.title)
        current = self._read_text(path)
        try:
            text = merge_block(current, page.body, MARKUP)
        except errors.InputError as e:
            raise errors.InputError(
                f"wiki page {self.web_base}/{self.wiki_repository}/wiki/"
                f"{wiki_filename(page.title)[:-3]}: {e}"
            ) from None
        stale = [
            a
            for a in page.attachments
            if not (clone.path / a.filename).exists()
            or (clone.path / a.filename).read_bytes() != a.data
        ]
        if current is None:
            return PageChange(
                title=page.title,
                action="create",
                lines_changed=len(text.splitlines()),
                text=text,
                attachments=list(page.attachments),
            )
        if text == current and not stale:
            return None
        return PageChange(
            title=page.title,
            action="update",
            lines_changed=_lines_changed(current, text),
            text=text,
            attachments=stale,
        )

    def _apply_page(
        self, change: PageChange, desired: DesiredPage | None, report: ApplyReport
    ) -> None:
        clone = self._wiki or self._clone_wiki()
        text = change.text
        retries = self.settings.wiki_push_retries
        for attempt in range(retries + 1):
            path = self._page_path(clone, change.title)
            path.write_bytes(text.encode("utf-8"))
            names = [str(path.relative_to(clone.path))]
            for attachment in change.attachments:
                (clone.path / attachment.filename).write_bytes(attachment.data)
                names.append(attachment.filename)
            try:
                self._git(["add", "--", *names], clone.path)
                staged = self._git(["diff", "--cached", "--quiet"], clone.path, check=False)
                if staged.returncode == 0:
                    return  # the page already reads like this (someone pushed the same)
                self._git(
                    [
                        "commit",
                        "--quiet",
                        "--no-verify",
                        "-m",
                        WIKI_COMMIT_MESSAGE.format(title=change.title),
                    ],
                    clone.path,
                )
            except _GitError as e:
                raise self._wiki_error(e, "commit") from None
            push = self._git(
                ["push", "--quiet", "origin", f"HEAD:refs/heads/{clone.branch}"],
                clone.path,
                network=True,
                check=False,
            )
            if push.returncode == 0:
                report.pages_written += 1
                report.attachments_uploaded += len(change.attachments)
                return
            stderr = self._scrub(push.stderr or "")
            if "rejected" not in stderr and "fetch first" not in stderr:
                raise self._wiki_error(_GitError(["push"], push.returncode, stderr), "push")
            if attempt == retries:
                raise errors.ConflictError(
                    f"wiki page '{change.title}' of {self.wiki_repository}: the push was "
                    f"rejected {retries + 1} times (others keep pushing); run again",
                    method="GIT",
                    path="push",
                )
            if desired is None:
                raise errors.ConflictError(
                    f"wiki page '{change.title}' changed since the diff and the desired block "
                    "is not in the change set (pages_desired); run again",
                    method="GIT",
                    path="push",
                )
            report.conflicts_retried += 1
            log.info("github %s: wiki push rejected (someone pushed first); re-merging", self._name)
            try:
                self._git(
                    ["fetch", "--quiet", "--depth", "1", "origin", f"refs/heads/{clone.branch}"],
                    clone.path,
                    network=True,
                )
                self._git(["reset", "--quiet", "--hard", "FETCH_HEAD"], clone.path)
            except _GitError as e:
                raise self._wiki_error(e, "fetch") from None
            current = self._read_text(self._page_path(clone, change.title))
            text = merge_block(current, desired.body, MARKUP)

    # ------------------------------------------------------------------ doctor and setup

    def check(self) -> list[Finding]:
        """Doctor: token, repositories, board and its fields, wiki.

        Finding ids are stable: ``github.auth.failed``, ``github.auth.ok``,
        ``github.auth.scopes``, ``github.connect.failed``, ``github.repo.missing``,
        ``github.repo.ok``, ``github.project.unconfigured``, ``github.project.missing``,
        ``github.project.ok``, ``github.project_field.missing`` (the message names the
        field), ``github.project_field.type``, ``github.project_field.ok``,
        ``github.wiki.disabled``, ``github.wiki.missing``, ``github.wiki.failed``,
        ``github.wiki.ok``.
        """
        findings: list[Finding] = []
        try:
            headers, user = self._rest("GET", "/user", what="token check")
        except errors.AuthError as e:
            findings.append(
                Finding(
                    id="github.auth.failed",
                    ok=False,
                    message=str(e),
                    fix=f"Put a valid token into {self._token_source()}: classic token with the "
                    "scopes 'repo' and 'project', or a fine-grained token with Issues, "
                    "Contents and Projects (organisation) read/write.",
                )
            )
            return findings
        except errors.TrackerError as e:
            findings.append(
                Finding(
                    id="github.connect.failed",
                    ok=False,
                    message=str(e),
                    fix=f"Check [trackers.{self.tracker_name}].url ({self.api_base}) and the "
                    "network (proxies, TLS).",
                )
            )
            return findings
        scopes_header = headers.get("x-oauth-scopes")
        scopes = (
            [s.strip() for s in str(scopes_header).split(",") if s.strip()]
            if scopes_header is not None
            else None
        )
        self._oauth_scopes = scopes
        login = user.get("login") if isinstance(user, dict) else None
        shown = (
            f"token scopes: {', '.join(scopes) or 'none'}"
            if scopes is not None
            else "token scopes not reported: a fine-grained token or an app"
        )
        findings.append(
            Finding(id="github.auth.ok", ok=True, message=f"authenticated as '{login}' ({shown})")
        )
        if scopes is not None:
            have = set(scopes)
            lacking = [
                s
                for s in NEEDED_SCOPES
                if s not in have and not (s == "repo" and "public_repo" in have)
            ]
            if lacking:
                findings.append(
                    Finding(
                        id="github.auth.scopes",
                        ok=False,
                        message="the token lacks the scope(s) "
                        + ", ".join(f"'{s}' ({NEEDED_SCOPES[s]})" for s in lacking),
                        fix="Edit the token at Settings -> Developer settings -> Personal access "
                        "tokens and tick them.",
                    )
                )

        wiki_repo_ok = True
        for repo in self.repositories:
            try:
                _, data = self._rest(
                    "GET",
                    f"/repos/{repo}",
                    what=f"repository {repo}",
                    not_found=f"repository {repo} not found",
                )
            except (errors.NotFoundError, errors.AuthError) as e:
                findings.append(
                    Finding(
                        id="github.repo.missing",
                        ok=False,
                        message=str(e),
                        fix=f"Check repositories in [projects.{self._name}.github] (owner/repo), "
                        "and that the token can see it (a fine-grained token must list it).",
                    )
                )
                wiki_repo_ok = wiki_repo_ok and repo != self.wiki_repository
                continue
            findings.append(
                Finding(id="github.repo.ok", ok=True, message=f"repository {repo} found")
            )
            if (
                repo == self.wiki_repository
                and isinstance(data, dict)
                and data.get("has_wiki") is False
            ):
                wiki_repo_ok = False
                findings.append(
                    Finding(
                        id="github.wiki.disabled",
                        ok=False,
                        message=f"the wiki of {repo} is switched off",
                        fix=f"Tick Settings -> Features -> Wikis in {self.web_base}/{repo}.",
                    )
                )

        findings.extend(self._check_board())
        if wiki_repo_ok:
            findings.append(self._check_wiki())
        return findings

    def _check_board(self) -> list[Finding]:
        if self.settings.project_v2 is None:
            return [
                Finding(
                    id="github.project.unconfigured",
                    ok=False,
                    message="no Projects (v2) board configured: the computed fields are not "
                    "written (the wiki page still is)",
                    fix=f'Set project_v2 = "org:NAME/NUMBER" in [projects.{self._name}.github].',
                )
            ]
        try:
            board = self._load_board(with_items=False)
        except (errors.NotFoundError, errors.AuthError) as e:
            return [
                Finding(
                    id="github.project.missing",
                    ok=False,
                    message=str(e),
                    fix="Check project_v2 (the board URL is .../orgs/NAME/projects/"
                    "NUMBER) and the token's 'project' scope.",
                )
            ]
        findings = [
            Finding(
                id="github.project.ok",
                ok=True,
                message=f"Projects board {self._board_label()} ('{board.title}') found",
            )
        ]
        found, missing = self._resolve_fields(board)
        required = set(self.field_names.required())
        for logical, name in missing.items():
            if logical not in required:
                findings.append(
                    Finding(
                        id="github.project_field.optional_missing",
                        ok=True,
                        message=f"optional Projects field '{name}' (fields.{logical}) is not "
                        f"on board {self._board_label()}; its values are not written",
                        fix=f"Run `tracker-bridge setup github --project {self._name} "
                        "--overlay-fields` to add it.",
                    )
                )
                continue
            findings.append(
                Finding(
                    id="github.project_field.missing",
                    ok=False,
                    message=f"Projects field '{name}' (fields.{logical}) is missing on board "
                    f"{self._board_label()}",
                    fix=f"Run `tracker-bridge setup github --project {self._name}` (creates it as "
                    f"{FIELD_TYPES.get(logical, 'NUMBER')}), or set fields.{logical}.",
                )
            )
        for logical, target in found.items():
            expected = FIELD_TYPES.get(logical)
            allowed = (
                {expected, "TEXT"} if expected else {"NUMBER", "DATE", "TEXT", "SINGLE_SELECT"}
            )
            if target.data_type not in allowed:
                findings.append(
                    Finding(
                        id="github.project_field.type",
                        ok=False,
                        message=f"Projects field '{target.name}' (fields.{logical}) has type "
                        f"{target.data_type}; tracker-bridge writes {expected}",
                        fix="Delete it and run `tracker-bridge setup github`, or point "
                        f"fields.{logical} at a {expected} field.",
                    )
                )
            elif target.data_type == "SINGLE_SELECT" and not all(
                name.casefold() in target.options for name, _ in CRITICAL_OPTIONS
            ):
                findings.append(
                    Finding(
                        id="github.project_field.type",
                        ok=False,
                        message=f"single-select field '{target.name}' needs the options 'Yes' and "
                        "'No'",
                        fix="Add them in the board's field settings.",
                    )
                )
            else:
                findings.append(
                    Finding(
                        id="github.project_field.ok",
                        ok=True,
                        message=f"Projects field '{target.name}' (fields.{logical}) is a "
                        f"{target.data_type} field",
                    )
                )
        return findings

    def _check_wiki(self) -> Finding:
        try:
            self._git(["ls-remote", "--heads", self._wiki_remote()], network=True)
        except _GitError as e:
            error = self._wiki_error(e, "ls-remote")
            if isinstance(error, errors.NotFoundError):
                return Finding(
                    id="github.wiki.missing",
                    ok=False,
                    message=str(error),
                    fix=f"Open {self.web_base}/{self.wiki_repository}/wiki and "
                    "save a first page (any text).",
                )
            return Finding(
                id="github.wiki.failed",
                ok=False,
                message=str(error),
                fix="The token needs the 'repo' scope or Contents: write.",
            )
        return Finding(
            id="github.wiki.ok",
            ok=True,
            message=f"the wiki of {self.wiki_repository} is reachable with git",
        )

    def missing_project_fields(self) -> list[tuple[str, str, str]]:
        """``(logical, field name, data type)`` of our fields the board lacks."""
        board = self._load_board(with_items=False)
        _, missing = self._resolve_fields(board)
        return [
            (logical, name, FIELD_TYPES.get(logical, "NUMBER")) for logical, name in missing.items()
        ]

    def create_project_fields(self, fields: list[tuple[str, str, str]]) -> list[str]:
        """Create fields on the board with ``createProjectV2Field``; their names."""
        board = self._board or self._load_board(with_items=False)
        created = []
        for logical, name, data_type in fields:
            payload: dict[str, Any] = {"projectId": board.id, "dataType": data_type, "name": name}
            if data_type == "SINGLE_SELECT":
                payload["singleSelectOptions"] = [
                    {"name": option, "color": color, "description": ""}
                    for option, color in CRITICAL_OPTIONS
                ]
            data = self._graphql(
                _CREATE_FIELD,
                {"input": payload},
                what=f"creation of field '{name}' (fields.{logical})",
                write=True,
                idempotent=False,
            )
            node = (data.get("createProjectV2Field") or {}).get("projectV2Field") or {}
            if node.get("id"):
                board.fields[name.strip().casefold()] = _ProjectField(
                    id=str(node["id"]),
                    name=str(node.get("name") or name),
                    data_type=str(node.get("dataType") or data_type),
                )
            created.append(name)
        return created


def _group(match: re.Match[str], name: str) -> str | None:
    return match.group(name) if name in match.re.groupindex else None


def _sort_key(key: str) -> tuple[str, int, str]:
    match = re.fullmatch(r"(.*?)(\d+)", key)
    if match:
        return match.group(1), int(match.group(2)), key
    return key, 0, key
