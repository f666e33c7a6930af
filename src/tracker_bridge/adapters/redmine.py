"""Redmine / Planio adapter: fetch a project into a Snapshot, diff, apply, and doctor checks.

Talks to Redmine's REST API through python-redmine (``redminelib``). Facts and traps it relies
on are in ``/work/shared/reference/tracker-apis.md`` (section 1); the important ones:

* An unknown API key is not rejected: Redmine serves the request as Anonymous. ``fetch`` and
  ``check`` therefore start with ``GET /users/current.json`` (401 for Anonymous).
* ``GET /issues.json`` returns open issues only unless ``status_id=*``; pages hold at most 100.
* ``include=relations`` on the list gives every issue's relations in the canonical direction
  (``follows``/``blocked`` are stored as ``precedes``/``blocks`` with the ids swapped).
* Custom-field values are strings and Redmine compares them as strings (``"3.50"`` is not
  ``"3.5"``), and every ``PUT /issues/:id.json`` bumps ``updated_on`` and fires webhooks:
  ``diff`` compares normalised values and ``apply`` writes only real changes, one PUT per issue.
* Wiki writes use optimistic locking (``version``); a 409 is retried after re-merging our block
  into the page a person just changed.

``fetch(since=..., cached=...)`` reads only the issues whose ``updated_on`` moved (plus every
risk, the time entries and a count that detects deletions) and merges them into the cached
snapshot; relations added between otherwise unchanged issues are only seen by a full fetch.

Requests carry the key in the ``X-Redmine-API-Key`` header (never in a URL) and
``X-Skip-Webhooks: 1`` (the redmine_webhook plugin then does not echo our own writes).
python-redmine's ``requests={'timeout': ...}`` option is silently ignored by
``requests.Session``, so the adapter installs its own session that applies the timeout and
counts requests (:attr:`RedmineAdapter.requests_made`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import email.utils
import hashlib
import io
import logging
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import requests
from pydantic import SecretStr
from redminelib import Redmine
from redminelib import exceptions as rm_exc

from tracker_bridge import errors
from tracker_bridge.managed_block import merge_block
from tracker_bridge.model import (
    ApplyReport,
    Attachment,
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
    Risk,
    Snapshot,
    Source,
    Status,
    TimeEntry,
    WorkItem,
)
from tracker_bridge.settings import FieldNames, ProjectSettings, RiskSettings, TrackerSettings

__all__ = ["RedmineAdapter", "format_value", "values_equal", "wiki_title"]

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # Redmine clamps ``limit`` to 1..100
MAX_CONFLICT_RETRIES = 3
WIKI_COMMENT = "tracker-bridge"
ATTACHMENT_TAG = "tracker-bridge sha256:"
#: Redmine formats of our logical fields: values are formatted for them (:func:`format_value`)
#: and ``check`` compares them with the real fields when it can see them (administrators).
EXPECTED_FORMATS = {
    "critical": "bool",
    "total_float": "int",
    "early_start": "date",
    "early_finish": "date",
    "late_finish": "date",
    "risk_score": "int",
    "p80_finish": "date",
    "criticality": "int",
    "planned_cost": "float",
    "slip_days": "int",
}
#: What a team misses when an optional (overlay) field does not exist: "create it to see ...".
OPTIONAL_FIELD_PURPOSE = {
    "risk_score": "each issue's schedule risk score (0-100)",
    "p80_finish": "the date each issue finishes by with 80 % confidence",
    "criticality": "how often each issue is on the critical path in the simulation",
    "planned_cost": "each issue's planned cost",
    "slip_days": "each issue's slip against the baseline, in working days",
}
FLOAT_DECIMALS = 2
#: Subtracted from ``since`` in the ``updated_on`` filter of an incremental fetch: the filter
#: has 1-second precision, and the server's clocks may differ a little.
INCREMENTAL_MARGIN = dt.timedelta(seconds=2)
#: Permissions the bot needs in the project (role permissions, Redmine 5.0 symbols).
NEEDED_PERMISSIONS = {
    "view_issues": "read issues",
    "edit_issues": "write our custom fields",
    "view_time_entries": "read spent time",
    "view_wiki_pages": "read the plan page",
    "edit_wiki_pages": "write the plan page",
}
SETUP_DOC = "adapters/redmine/README.md"


# ------------------------------------------------------------------------- value helpers


def format_value(value: FieldValue, field_format: str | None = None) -> str:
    """A desired value as Redmine stores it: bool "1"/"0", int, float with at most 2 decimals
    and no trailing zeros, ISO date, None -> "" (cleared).

    ``field_format`` is the Redmine format of the target field (``int``, ``float``, ``date``,
    ``bool``; None = go by the value's type): a float for an ``int`` field is rounded to a
    whole number (half away from zero), a number for a ``bool`` field becomes "1"/"0".
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if field_format == "bool" and isinstance(value, int | float):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise errors.InputError(f"cannot write the non-finite number {value!r} to Redmine")
        if field_format == "int":
            return str(int(math.copysign(math.floor(abs(value) + 0.5), value)))
        rounded = round(value, FLOAT_DECIMALS)
        if rounded == int(rounded) and abs(rounded) < 1e15:
            return str(int(rounded))
        text = f"{rounded:.{FLOAT_DECIMALS}f}".rstrip("0").rstrip(".")
        return "0" if text in ("", "-0") else text
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _normalise(value: str | None) -> str | float:
    text = (value or "").strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def values_equal(current: str | None, new: str | None) -> bool:
    """Compare as Redmine users see it: None == "", spaces ignored, "3.50" == "3.5"."""
    a, b = _normalise(current), _normalise(new)
    if isinstance(a, float) and isinstance(b, float):
        return a == b
    return str(a) == str(b)


def wiki_title(title: str) -> str:
    """Redmine's own title normalisation (Wiki.titleize): spaces -> '_', ',./?;|:' removed,
    first letter capitalised."""
    text = re.sub(r"\s+", "_", title.strip())
    text = re.sub(r"[,./?;|:]", "", text)
    return text[:1].upper() + text[1:]


def _attachment_digest(attachment: Attachment) -> str:
    return ATTACHMENT_TAG + hashlib.sha256(attachment.data).hexdigest()[:32]


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


def _latest_update(issues: list[dict[str, Any]]) -> dt.datetime | None:
    """The latest ``updated_on`` among raw issues (None when there is none)."""
    stamps = [d for raw in issues if (d := _datetime(raw.get("updated_on"))) is not None]
    return max(stamps) if stamps else None


def _start_candidates(raw: dict[str, Any]) -> list[dt.date]:
    """What a work issue contributes to the derived project start: start date, creation."""
    return [d for d in (_date(raw.get("start_date")), _date(raw.get("created_on")))
            if d is not None]


def _entries_by_item(entries: list[TimeEntry]) -> dict[str, list[tuple[str, str, float, str]]]:
    """Time entries per item key, comparable (order-independent)."""
    grouped: dict[str, list[tuple[str, str, float, str]]] = {}
    for e in entries:
        if e.item is not None:
            grouped.setdefault(e.item, []).append(
                (e.person or "", e.activity or "", e.hours, e.date.isoformat()))
    return {key: sorted(rows) for key, rows in grouped.items()}


def _cf_string(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _number(value: Any) -> float | None:
    """A custom-field value as a number: "30", "30.5", "30 %" -> float; else None."""
    text = (_cf_string(value) or "").strip().removesuffix("%").strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _hours(value: float) -> str:
    return f"{value:g}"


def _lines_changed(old: str, new: str) -> int:
    a, b = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    return sum(
        max(i2 - i1, j2 - j1)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    )


# --------------------------------------------------------------------------- HTTP session


class _CountingSession(requests.Session):
    """A requests session that applies a default timeout and counts requests."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.count = 0
        #: The ``Date`` header of the last response (the server's clock), if any.
        self.last_date: str | None = None

    def request(self, method: str | bytes, url: str | bytes, *args: Any,
                **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.default_timeout)
        self.count += 1
        response = super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]
        date = response.headers.get("Date")
        if date:
            self.last_date = date
        return response


def _http_date(value: str | None) -> dt.datetime | None:
    """An HTTP ``Date`` header as an aware UTC datetime (None when absent or unreadable)."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def _key_id(key: str) -> int | None:
    """The Redmine id in a key ``redmine:<id>`` (None for anything else)."""
    tail = key.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


class _FullFetchNeeded(Exception):
    """An incremental fetch cannot be trusted; the message says why (a full fetch follows)."""


@dataclass
class _Page:
    title: str
    text: str
    version: int
    attachments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _FieldPlan:
    """Resolved ids of our logical fields, from the custom-field catalogue.

    ``missing``: required fields (:meth:`FieldNames.required`) no issue carries (an error
    when a value is to be written); ``optional_missing``: overlay fields no issue carries
    (their values are skipped).
    """

    ids: dict[str, int]
    missing: dict[str, str | int]
    optional_missing: dict[str, str | int] = field(default_factory=dict)


def _resolve_name(catalogue: dict[str, str], target: str | int) -> int | None:
    """A custom-field id by name (exact, then case-insensitive) or by id, from a catalogue of
    the fields seen on issues (name -> id)."""
    known_ids = {int(i) for i in catalogue.values()}
    if isinstance(target, int):
        return target if target in known_ids else None
    found = catalogue.get(target)
    if found is None:
        fold = target.strip().casefold()
        found = next((i for n, i in catalogue.items() if n.casefold() == fold), None)
    if found is not None:
        return int(found)
    if target.strip().isdigit() and int(target) in known_ids:
        return int(target)
    return None


@dataclass
class _RiskFields:
    """Resolved ids of the risk-register and three-point estimate fields (None: absent)."""

    probability: int | None
    impact_days: int | None
    impact_cost: int | None
    optimistic: int | None
    pessimistic: int | None


# ------------------------------------------------------------------------------- adapter


class RedmineAdapter:
    """One Redmine (or Planio) project: fetch, diff, apply, check."""

    #: :meth:`fetch` accepts ``since`` and ``cached`` (incremental fetch); the pipeline asks.
    supports_incremental = True

    def __init__(
        self,
        tracker: TrackerSettings,
        project: ProjectSettings,
        field_names: FieldNames,
        api_key: SecretStr,
        *,
        progress: Callable[[int, int], None] | None = None,
        tracker_name: str = "redmine",
        risk: RiskSettings | None = None,
    ) -> None:
        if not tracker.url:
            raise errors.ConfigError(f"trackers.{tracker_name}.url: the Redmine URL is missing")
        self.tracker = tracker
        self.project = project
        self.field_names = field_names
        #: Names of the risk tracker and of the risk and three-point estimate fields.
        self.risk = risk if risk is not None else RiskSettings()
        self.tracker_name = tracker_name
        self.progress = progress
        self.base_url = tracker.url.rstrip("/")
        self._key = api_key.get_secret_value()
        self._rm = Redmine(self.base_url, key=self._key,
                           requests={"headers": {"X-Skip-Webhooks": "1"}})
        session = _CountingSession(tracker.timeout_seconds)
        old = self._rm.engine.session
        session.headers.update(old.headers)
        session.headers["User-Agent"] = "tracker-bridge (python-redmine)"
        old.close()
        self._rm.engine.session = session
        self._session = session
        self._project_json: dict[str, Any] | None = None
        self._field_ids: dict[str, int] | None = None
        #: Things fetch noticed but did not fail on (relations leaving the project, ...).
        self.notes: list[str] = []
        #: How the last :meth:`fetch` read the project: "full" or "incremental".
        self.fetch_mode: Literal["full", "incremental"] = "full"
        #: Requests the last :meth:`fetch` made.
        self.fetch_requests = 0
        #: Issues the last incremental fetch re-read (changed ones, plus those with new time
        #: entries); None after a full fetch.
        self.fetch_changed: int | None = None
        #: Why the last fetch was full although ``since`` and ``cached`` were given.
        self.fallback_reason: str | None = None
        #: What to pass as ``since`` to the next incremental fetch (see :meth:`fetch`).
        self.sync_cursor: dt.datetime | None = None

    # ------------------------------------------------------------------ plumbing

    @property
    def requests_made(self) -> int:
        """HTTP requests this adapter has sent so far (assign 0 to start counting again)."""
        return self._session.count

    @requests_made.setter
    def requests_made(self, value: int) -> None:
        self._session.count = value

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RedmineAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _pid(self) -> str:
        return self.project.project

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _key_source(self) -> str:
        env = self.tracker.api_key_env or f"TRACKER_BRIDGE_{self.tracker_name.upper()}_KEY"
        return (f"the file {self.tracker.api_key_file}" if self.tracker.api_key_file
                else f"the environment variable {env}")

    def _auth_hint(self) -> str:
        source = self._key_source()
        return (
            f"Redmine at {self.base_url} did not accept the API key from {source}: it answered "
            "as Anonymous (Redmine treats an unknown key, or the key of a locked user, as no "
            "key). Copy the key from My account -> API access key (Show) of the bot user"
        )

    @contextlib.contextmanager
    def _call(self, method: str, path: str, *, what: str = "request",
              not_found: str | None = None, forbidden: str | None = None) -> Iterator[None]:
        """Translate python-redmine and requests exceptions into our error tree."""
        path = self._scrub(path)
        try:
            yield
        except rm_exc.AuthError:
            raise errors.AuthError(self._auth_hint(), method=method, path=path,
                                   status=401) from None
        except rm_exc.ForbiddenError:
            raise errors.AuthError(
                forbidden or f"Redmine refused the {what}: the API user lacks the permission "
                f"(check its role in project '{self._pid}', Settings -> Members)",
                method=method, path=path, status=403) from None
        except rm_exc.ResourceNotFoundError:
            raise errors.NotFoundError(not_found or f"{what}: not found", method=method,
                                       path=path, status=404) from None
        except rm_exc.ConflictError:
            raise errors.ConflictError(f"{what}: a concurrent edit won", method=method,
                                       path=path, status=409) from None
        except rm_exc.ValidationError as e:
            raise errors.RejectedError(f"Redmine refused the {what}", method=method, path=path,
                                       status=422,
                                       detail=self._scrub(str(e)) or "(no message)") from None
        except rm_exc.ImpersonateError:
            raise errors.AuthError("impersonation failed", method=method, path=path,
                                   status=412) from None
        except rm_exc.RequestEntityTooLargeError:
            raise errors.RejectedError(f"the {what} is too large for Redmine", method=method,
                                       path=path, status=413) from None
        except rm_exc.ServerError:
            raise errors.TrackerError(
                f"Redmine failed with an internal error on the {what} (see its production.log)",
                method=method, path=path, status=500) from None
        except rm_exc.UnknownError as e:
            raise errors.TrackerError(f"unexpected answer to the {what}", method=method,
                                      path=path, status=e.status_code) from None
        except rm_exc.HTTPProtocolError:
            raise errors.TrackerError(
                f"{self.base_url} redirects between http and https; configure the exact URL "
                "Redmine is served at", method=method, path=path) from None
        except rm_exc.JSONDecodeError:
            raise errors.TrackerError(
                f"{self.base_url} did not answer with JSON; is it a Redmine, and is the REST "
                "web service enabled?", method=method, path=path) from None
        except rm_exc.BaseRedmineError as e:
            raise errors.TrackerError(self._scrub(str(e)), method=method, path=path) from None
        except requests.Timeout:
            raise errors.TrackerError(
                f"Redmine at {self.base_url} did not answer within "
                f"{self.tracker.timeout_seconds:g} s", method=method, path=path) from None
        except requests.RequestException as e:
            raise errors.TrackerError(
                f"cannot reach Redmine at {self.base_url} ({type(e).__name__}); check the url "
                f"in [trackers.{self.tracker_name}] and the network", method=method,
                path=path) from None

    def _request(self, method: str, path: str, params: dict[str, Any] | None = None,
                 data: Any = None, **call: Any) -> Any:
        with self._call(method.upper(), path, **call):
            return self._rm.engine.request(method.lower(), self.base_url + path,
                                           params=params or {}, data=data)

    def _get(self, path: str, params: dict[str, Any] | None = None, **call: Any) -> dict[str, Any]:
        result = self._request("get", path, params, **call)
        if not isinstance(result, dict):
            raise errors.TrackerError("empty answer where JSON was expected", method="GET",
                                      path=path)
        return result

    def _paged(self, path: str, container: str, params: dict[str, Any], *,
               on_page: Callable[[int, int], None] | None = None,
               **call: Any) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        offset = 0
        while True:
            data = self._get(path, {**params, "limit": PAGE_SIZE, "offset": offset}, **call)
            batch = data.get(container) or []
            total = int(data.get("total_count", offset + len(batch)))
            results.extend(batch)
            offset += PAGE_SIZE
            if on_page is not None:
                on_page(min(len(results), total), total)
            if not batch or offset >= total:
                return results

    # ------------------------------------------------------------------ fetch

    def _current_user(self) -> dict[str, Any]:
        # Verified on 5.0.4: an unknown key -> 401 (Anonymous); REST disabled -> 403 for any key.
        data = self._get(
            "/users/current.json", what="API key check",
            forbidden=(f"the REST web service of Redmine at {self.base_url} is disabled (403 "
                       "for any key): an administrator must tick Administration -> Settings -> "
                       "API -> 'Enable REST web service'"))
        user = data.get("user") or {}
        if not user.get("id"):
            raise errors.AuthError(self._auth_hint(), method="GET", path="/users/current.json",
                                   status=200)
        return dict(user)

    def _project(self) -> dict[str, Any]:
        path = f"/projects/{quote(self._pid, safe='')}.json"
        data = self._get(
            path, {"include": "enabled_modules,trackers"}, what="project lookup",
            not_found=(f"Redmine project '{self._pid}' does not exist at {self.base_url} (or is "
                       "archived); check 'project' in the [projects.*] section: it is the "
                       "project's identifier from its URL, "
                       f"{self.base_url}/projects/<identifier>"),
            forbidden=(f"the API user may not see Redmine project '{self._pid}' at "
                       f"{self.base_url}: add it as a member (project Settings -> Members) "
                       "with a role that can view issues"),
        )
        project = dict(data.get("project") or {})
        self._project_json = project
        return project

    def fetch(self, *, since: dt.datetime | None = None,
              cached: Snapshot | None = None) -> Snapshot:
        """Read the project into a Snapshot (issues, relations, versions, time entries).

        Contract: every issue of the project, open and closed (of its subprojects too when
        ``include_subprojects``), becomes a WorkItem keyed ``redmine:<id>`` — except issues
        of the risk tracker (``risk.risk_tracker``), which become :class:`Risk` entries (see
        below); ``precedes`` relations between work items become FS dependencies with
        ``lag_days = delay`` and ``blocks`` relations FS with lag 0 (other relation types are
        ignored; relations to issues outside the fetched set are dropped and noted in
        :attr:`notes`); versions become milestones keyed ``redmine:version:<id>``; time
        entries of the project are read in full (time logged on a risk counts for the
        project, without an item). For each of our logical fields (:class:`FieldNames`) an
        item carries ``fields[logical]`` = the raw stored string (None when never set) *only
        if* the issue has that custom field; the catalogue of custom-field names seen on
        issues goes to ``snapshot.custom_fields``.

        Three-point estimates: an issue with values in ``risk.optimistic_field`` and
        ``risk.pessimistic_field`` gets ``estimate_range`` (optimistic, likely = its estimated
        hours, pessimistic) when ``optimistic <= likely <= pessimistic``; otherwise (or when
        one of the three is missing) it keeps its single estimate and a note says why.

        Risk register: a risk issue's ``probability`` is ``risk.probability_field`` in percent
        (0..100; a risk without one is skipped, noted), ``impact_days``/``impact_cost`` come
        from ``risk.impact_days_field``/``risk.impact_cost_field`` (0 when empty),
        ``threatens`` = the work items related to it by any relation (relates, blocks,
        precedes, ... in either direction) and ``status`` is open/closed. Relations that
        touch a risk never become dependencies.

        Endpoints of a full fetch, in order (``⌈N/100⌉ + 4`` requests plus the time-entry
        pages; one more for ``/issue_statuses.json`` on servers whose issue JSON lacks
        ``status.is_closed``, and one ``/versions/:id.json`` per version an issue uses that
        the project does not list):

        * ``GET /users/current.json`` — the key is valid (not Anonymous)
        * ``GET /projects/:identifier.json?include=enabled_modules,trackers``
        * ``GET /projects/:id/versions.json`` — own and shared versions
        * ``GET /issues.json?project_id=&status_id=*&include=relations&sort=id&subproject_id=``
          (``!*`` or ``*``), paged by 100; ``progress(done, total)`` after each page
        * ``GET /time_entries.json?project_id=&subproject_id=``, paged by 100

        **Incremental fetch** (``since`` *and* ``cached`` given: ``since`` is
        :attr:`sync_cursor` of the fetch that produced ``cached``). The result has the same
        shape as, and equals, a full fetch at the same moment, except for the limitation
        below. After the first three requests above:

        * ``GET /issues.json?...&updated_on=>=<since - 2 s, UTC Z>`` (the filter has 1-second
          precision), paged: the changed issues. Each replaces its cached item; the cached
          dependencies touching it are dropped and rebuilt from its fresh relations (a
          relation is listed on both its issues, so that is complete for the pair).
        * ``GET /issues.json?...&tracker_id=<risk tracker>``: every risk, always (a small
          register; its relations give ``threatens`` exactly). One ``GET /trackers.json``
          first when the project does not list the risk tracker.
        * ``GET /issues.json?...&limit=1``: ``total_count`` must equal the merged items plus
          the risks, otherwise an issue was deleted, moved away or hidden: full fetch.
        * ``GET /time_entries.json``, in full (Redmine 5.0 cannot filter time entries by
          ``updated_on``, and logging time does not bump an issue's ``updated_on``). Items
          whose time entries differ from the cached ones are re-read with
          ``GET /issues.json?issue_id=a,b,...`` (their ``spent_hours`` changed).
        * ``/issue_statuses.json`` and ``/versions/:id.json`` as in a full fetch.

        So ``⌈changed/100⌉ + 5`` requests plus the time-entry pages, +1 per 100 items with new
        time entries (measured: 7 for one changed issue and one time-entry page, against 5 for
        a full fetch of 30 issues; a full fetch costs ``⌈N/100⌉ + 3`` plus the same time-entry
        pages, so incremental fetches save requests from about 300 issues on, and always
        save the server rendering every issue).

        **Limitation**: a relation added or removed between two issues that did not otherwise
        change does not bump ``updated_on`` and is *not* seen (relations of risks are, since
        risks are re-read in full). The pipeline therefore does a periodic full fetch
        (``ProjectSettings.full_fetch_hours``).

        The fetch falls back to a full one (:attr:`fallback_reason` says why, :attr:`fetch_mode`
        is "full") when the counts differ, when the cache is of another project or has no
        items, when a custom-field name appears that the cache does not know, when an issue
        that existed before ``since`` shows up as a new item (tracker changed from the risk
        tracker, moved into the project, made visible), or when the issue that set the
        derived project start moved.

        :attr:`sync_cursor` is the ``since`` for the next incremental fetch: the latest
        ``updated_on`` read, but never later than the server's clock (``Date`` header) when
        this fetch started, so that an issue changed while the pages were being read is read
        again next time.
        """
        started = self.requests_made
        self.notes = []
        self.fetch_mode = "full"
        self.fetch_changed = None
        self.fallback_reason = None
        self.sync_cursor = None
        self._current_user()
        server_start = _http_date(self._session.last_date)
        project = self._project()
        project_id = int(project["id"])
        versions_raw = self._get(f"/projects/{project_id}/versions.json",
                                 what="version list").get("versions") or []

        result: tuple[Snapshot, dt.datetime | None] | None = None
        if since is not None and cached is not None:
            try:
                result = self._fetch_incremental(project, versions_raw, since, cached)
            except _FullFetchNeeded as e:
                self.fallback_reason = str(e)
                self.notes = []
                log.info("redmine %s: incremental fetch not possible (%s); full fetch",
                         self._pid, e)
        if result is None:
            result = self._fetch_full(project, versions_raw)
        snapshot, latest = result
        if latest is not None and server_start is not None:
            latest = min(latest, server_start)
        self.sync_cursor = latest if latest is not None else server_start
        self.fetch_requests = self.requests_made - started
        if self.fetch_changed is not None:  # incremental
            log.info("redmine %s: incremental fetch: %d changed issues in %d requests "
                     "(%d issues, %d dependencies, %d risks, %d time entries)", self._pid,
                     self.fetch_changed or 0, self.fetch_requests, len(snapshot.items),
                     len(snapshot.dependencies), len(snapshot.risks),
                     len(snapshot.time_entries))
        else:
            log.info("redmine fetch %s: %d issues, %d dependencies, %d milestones, "
                     "%d time entries in %d requests", self._pid, len(snapshot.items),
                     len(snapshot.dependencies), len(snapshot.milestones),
                     len(snapshot.time_entries), self.fetch_requests)
        return snapshot

    def _scope(self, project_id: int) -> dict[str, Any]:
        """Filters every issue list of this project uses."""
        return {"project_id": project_id, "status_id": "*",
                "subproject_id": "*" if self.project.include_subprojects else "!*"}

    def _time_entry_list(self, project_id: int) -> list[dict[str, Any]]:
        scope = self._scope(project_id)
        return self._paged(
            "/time_entries.json", "time_entries",
            {"project_id": project_id, "subproject_id": scope["subproject_id"]},
            what="time entry list",
        )

    def _fetch_full(self, project: dict[str, Any], versions_raw: list[dict[str, Any]]
                    ) -> tuple[Snapshot, dt.datetime | None]:
        project_id = int(project["id"])
        issues_raw = self._paged(
            "/issues.json", "issues",
            {**self._scope(project_id), "include": "relations", "sort": "id"},
            on_page=self.progress, what="issue list",
        )
        by_id: dict[int, dict[str, Any]] = {}
        for raw in issues_raw:  # pages are read at different moments: de-duplicate
            by_id[int(raw["id"])] = raw
        issues = [by_id[i] for i in sorted(by_id)]

        closed_status_ids = self._closed_statuses(issues)
        entries_raw = self._time_entry_list(project_id)

        snapshot = self._build_snapshot(project, versions_raw, issues, closed_status_ids,
                                        entries_raw)
        self.fetch_mode = "full"
        return snapshot, _latest_update(issues)

    def _risk_issues(self, project: dict[str, Any]) -> list[dict[str, Any]]:
        """Every issue of the risk tracker in the project (all of them: a small register)."""
        wanted = self.risk.risk_tracker.strip().casefold()
        if not wanted:
            return []
        trackers = project.get("trackers") or []
        ids = [int(t["id"]) for t in trackers
               if str(t.get("name") or "").strip().casefold() == wanted]
        if not ids:  # not enabled here (a subproject may still use it): the global list
            data = self._get("/trackers.json", what="tracker list")
            ids = [int(t["id"]) for t in data.get("trackers") or []
                   if str(t.get("name") or "").strip().casefold() == wanted]
        if not ids:
            return []
        return self._paged(
            "/issues.json", "issues",
            {**self._scope(int(project["id"])), "include": "relations", "sort": "id",
             "tracker_id": "|".join(str(i) for i in ids)},
            what="risk list",
        )

    def _fetch_incremental(self, project: dict[str, Any], versions_raw: list[dict[str, Any]],
                           since: dt.datetime, cached: Snapshot
                           ) -> tuple[Snapshot, dt.datetime | None]:
        """Changed issues and all risks, merged into ``cached``; see :meth:`fetch`."""
        if cached.source != Source(kind="redmine", base_url=self.base_url, project=self._pid):
            raise _FullFetchNeeded("the cached snapshot is of another tracker or project")
        cached_items: dict[int, WorkItem] = {}
        for item in cached.items:
            iid = _key_id(item.key)
            if iid is None:
                raise _FullFetchNeeded(f"the cached snapshot has a foreign key {item.key!r}")
            cached_items[iid] = item
        if not cached_items:
            raise _FullFetchNeeded("the cached snapshot has no items")
        project_id = int(project["id"])
        scope = self._scope(project_id)
        since_utc = (since if since.tzinfo else since.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
        bound = since_utc - INCREMENTAL_MARGIN

        # 1. the issues changed since the last fetch, and every risk
        changed_raw = self._paged(
            "/issues.json", "issues",
            {**scope, "include": "relations", "sort": "id",
             "updated_on": ">=" + bound.strftime("%Y-%m-%dT%H:%M:%SZ")},
            on_page=self.progress, what="changed issue list",
        )
        risk_by_id = {int(raw["id"]): raw for raw in self._risk_issues(project)}
        work: dict[int, dict[str, Any]] = {}
        for raw in changed_raw:
            iid = int(raw["id"])
            if self._is_risk(raw):
                risk_by_id.setdefault(iid, raw)
            elif iid in risk_by_id:
                raise _FullFetchNeeded(f"issue #{iid} changed tracker while being read")
            else:
                work[iid] = raw
        n_changed = len({int(raw["id"]) for raw in changed_raw})
        risk_ids = set(risk_by_id)
        for iid, raw in work.items():
            if iid in cached_items:
                continue
            created = _datetime(raw.get("created_on"))
            if created is None or created < bound:
                raise _FullFetchNeeded(
                    f"issue #{iid} existed before the last fetch but was not one of its items "
                    "(moved into the project, made visible, or no longer a risk)")
        item_ids = (set(cached_items) - risk_ids) | set(work)

        # 2. deletions: the project's issue count must match what the merge holds
        total = int(self._get("/issues.json", {**scope, "limit": 1},
                              what="issue count").get("total_count", -1))
        if total != len(item_ids) + len(risk_ids):
            raise _FullFetchNeeded(
                f"Redmine counts {total} issues, the merged snapshot {len(item_ids)} items and "
                f"{len(risk_ids)} risks (issues deleted, moved away or hidden)")

        # 3. time entries, in full; items with other entries than cached have a new spent time
        time_entries = self._time_entries(self._time_entry_list(project_id), project_id,
                                          item_ids, risk_ids)
        old_entries, new_entries = _entries_by_item(cached.time_entries), _entries_by_item(
            time_entries)
        reread = sorted(i for i in item_ids - set(work)
                        if old_entries.get(f"redmine:{i}", []) != new_entries.get(
                            f"redmine:{i}", []))
        for offset in range(0, len(reread), PAGE_SIZE):
            chunk = reread[offset:offset + PAGE_SIZE]
            for raw in self._paged(
                    "/issues.json", "issues",
                    {**scope, "include": "relations", "sort": "id",
                     "issue_id": ",".join(str(i) for i in chunk)},
                    what="issue list (new time entries)"):
                if self._is_risk(raw):
                    raise _FullFetchNeeded(f"issue #{raw['id']} changed tracker while being read")
                work[int(raw["id"])] = raw

        fresh = [work[i] for i in sorted(work)]
        risks_raw = [risk_by_id[i] for i in sorted(risk_by_id)]
        closed_status_ids = self._closed_statuses(fresh + risks_raw)

        # 4. custom fields: a new name could change how unchanged items are read
        catalogue = dict(cached.custom_fields)
        for raw in fresh + risks_raw:
            for cf in raw.get("custom_fields") or []:
                if str(cf["name"]) not in catalogue:
                    raise _FullFetchNeeded(f"custom field '{cf['name']}' is new")
        plan = self._resolve_fields(catalogue)
        risk_fields = self._resolve_risk_fields(catalogue)

        # 5. the project start, when derived from the items
        start = self.project.start
        if start is None:
            start = cached.project.start
            for iid, old in cached_items.items():
                if old.start != start or (iid not in work and iid not in risk_ids):
                    continue
                raw_now = work.get(iid)
                now = _start_candidates(raw_now) if raw_now is not None else []
                if not now or min(now) > start:
                    raise _FullFetchNeeded(f"issue #{iid}, which set the project start, moved")
            start = min([start, *(d for raw in fresh for d in _start_candidates(raw))])

        # 6. items: the fresh ones replace theirs; an unchanged item keeps its parent only if
        #    that is still an item (a parent that became a risk: top-level, as in a full fetch)
        items_by_id: dict[int, WorkItem] = {}
        for iid, item in cached_items.items():
            if iid not in item_ids or iid in work:
                continue
            parent = _key_id(item.parent) if item.parent else None
            if parent is not None and parent not in item_ids:
                self._note(f"issue #{iid}: parent #{parent} is a risk (tracker "
                           f"'{self.risk.risk_tracker}'); treated as a top-level item")
                item = item.model_copy(update={"parent": None})
            items_by_id[iid] = item
        for iid, raw in work.items():
            items_by_id[iid] = self._item(raw, item_ids, risk_ids, closed_status_ids, plan,
                                          risk_fields)
        items = [items_by_id[i] for i in sorted(items_by_id)]

        # 7. dependencies: keep those between untouched items, rebuild the others
        touched = set(work) | risk_ids
        kept = [d for d in cached.dependencies
                if _key_id(d.predecessor) not in touched and _key_id(d.successor) not in touched]
        rebuilt, threatened = self._relations(fresh + risks_raw, item_ids, risk_ids)
        dependencies = sorted(kept + rebuilt, key=lambda d: (_key_id(d.predecessor) or 0,
                                                             _key_id(d.successor) or 0))
        risks = [risk for raw in risks_raw
                 if (risk := self._risk(raw, closed_status_ids, risk_fields,
                                        threatened.get(int(raw["id"]), set()))) is not None]

        # 8. milestones: the version list (read again) and the versions items use besides
        milestones: dict[str, Milestone] = {}
        for v in versions_raw:
            milestones[f"redmine:version:{v['id']}"] = self._milestone(v, project_id)
        cached_milestones = {m.key: m for m in cached.milestones}
        for item in items:
            if item.milestone is None or item.milestone in milestones:
                continue
            raw_now = work.get(_key_id(item.key) or 0)
            ref = (raw_now or {}).get("fixed_version") or {
                "id": _key_id(item.milestone),
                "name": getattr(cached_milestones.get(item.milestone), "name", None)}
            milestones[item.milestone] = self._extra_version(ref, project_id)

        snapshot = Snapshot(
            project=Project(name=str(project.get("name") or self._pid), start=start),
            items=items,
            dependencies=dependencies,
            milestones=sorted(milestones.values(), key=lambda m: int(m.native_id or 0)),
            time_entries=time_entries,
            risks=risks,
            source=Source(kind="redmine", base_url=self.base_url, project=self._pid),
            fetched_at=dt.datetime.now(dt.UTC),
            custom_fields=catalogue,
        )
        self.fetch_mode = "incremental"
        self.fetch_changed = n_changed + len(reread)
        latest = _latest_update(changed_raw + fresh + risks_raw)
        return snapshot, max(latest, since_utc) if latest is not None else since_utc

    def _closed_statuses(self, issues: list[dict[str, Any]]) -> set[int]:
        closed: set[int] = set()
        unknown = False
        for raw in issues:
            status = raw.get("status") or {}
            flag = status.get("is_closed")
            if isinstance(flag, bool):
                if flag:
                    closed.add(int(status["id"]))
            else:
                unknown = True
        if unknown:
            data = self._get("/issue_statuses.json", what="status list")
            closed = {int(s["id"]) for s in data.get("issue_statuses") or [] if s.get("is_closed")}
        return closed

    def _build_snapshot(self, project: dict[str, Any], versions_raw: list[dict[str, Any]],
                        issues: list[dict[str, Any]], closed_status_ids: set[int],
                        entries_raw: list[dict[str, Any]]) -> Snapshot:
        project_id = int(project["id"])
        ids = {int(raw["id"]) for raw in issues}
        risk_issues = [raw for raw in issues if self._is_risk(raw)]
        work_issues = [raw for raw in issues if not self._is_risk(raw)]
        risk_ids = {int(raw["id"]) for raw in risk_issues}
        item_ids = ids - risk_ids

        milestones: dict[str, Milestone] = {}
        for v in versions_raw:
            milestones[f"redmine:version:{v['id']}"] = self._milestone(v, project_id)
        for raw in work_issues:
            version = raw.get("fixed_version")
            if version and f"redmine:version:{version['id']}" not in milestones:
                milestones[f"redmine:version:{version['id']}"] = self._extra_version(version,
                                                                                   project_id)

        catalogue: dict[str, str] = {}
        for raw in issues:
            for cf in raw.get("custom_fields") or []:
                catalogue.setdefault(str(cf["name"]), str(cf["id"]))
        plan = self._resolve_fields(catalogue)
        risk_fields = self._resolve_risk_fields(catalogue)

        items: list[WorkItem] = []
        for raw in work_issues:
            items.append(self._item(raw, item_ids, risk_ids, closed_status_ids, plan,
                                    risk_fields))

        dependencies, threatened = self._relations(issues, item_ids, risk_ids)
        risks = [risk for raw in risk_issues
                 if (risk := self._risk(raw, closed_status_ids, risk_fields,
                                        threatened.get(int(raw["id"]), set()))) is not None]

        time_entries = self._time_entries(entries_raw, project_id, item_ids, risk_ids)

        start = self.project.start
        if start is None:
            candidates = [d for raw in work_issues for d in _start_candidates(raw)]
            start = min(candidates) if candidates else (
                _date(project.get("created_on")) or dt.date.today())

        return Snapshot(
            project=Project(name=str(project.get("name") or self._pid), start=start),
            items=items,
            dependencies=dependencies,
            milestones=sorted(milestones.values(), key=lambda m: int(m.native_id or 0)),
            time_entries=time_entries,
            risks=risks,
            source=Source(kind="redmine", base_url=self.base_url, project=self._pid),
            fetched_at=dt.datetime.now(dt.UTC),
            custom_fields=catalogue,
        )

    def _time_entries(self, entries_raw: list[dict[str, Any]], project_id: int,
                      item_ids: set[int], risk_ids: set[int]) -> list[TimeEntry]:
        """Time entries of the project, with the item they are logged on (None: on the
        project, on a risk, or on an issue that was not fetched; noted)."""
        time_entries: list[TimeEntry] = []
        outside_entries = 0
        on_risks = 0
        for te in entries_raw:
            if (not self.project.include_subprojects
                    and int((te.get("project") or {}).get("id", project_id)) != project_id):
                continue
            issue_id = (te.get("issue") or {}).get("id")
            item_key = None
            if issue_id is not None:
                if int(issue_id) in item_ids:
                    item_key = f"redmine:{issue_id}"
                elif int(issue_id) in risk_ids:
                    on_risks += 1
                else:
                    outside_entries += 1
            time_entries.append(TimeEntry(
                item=item_key,
                person=(te.get("user") or {}).get("name"),
                activity=(te.get("activity") or {}).get("name"),
                hours=max(0.0, float(te.get("hours") or 0)),
                date=_date(te.get("spent_on")) or dt.date.today(),
            ))
        if outside_entries:
            self._note(f"{outside_entries} time entries are logged on issues that were not "
                       "fetched (not visible to the API user); counted without an item")
        if on_risks:
            self._note(f"{on_risks} time entries are logged on risks (tracker "
                       f"'{self.risk.risk_tracker}'); counted for the project, without an item")
        return time_entries

    def _is_risk(self, raw: dict[str, Any]) -> bool:
        name = str((raw.get("tracker") or {}).get("name") or "")
        return bool(name) and name.strip().casefold() == self.risk.risk_tracker.strip().casefold()

    def _resolve_risk_fields(self, catalogue: dict[str, str]) -> _RiskFields:
        cfg = self.risk
        return _RiskFields(
            probability=_resolve_name(catalogue, cfg.probability_field),
            impact_days=_resolve_name(catalogue, cfg.impact_days_field),
            impact_cost=_resolve_name(catalogue, cfg.impact_cost_field),
            optimistic=_resolve_name(catalogue, cfg.optimistic_field),
            pessimistic=_resolve_name(catalogue, cfg.pessimistic_field),
        )

    def _note(self, message: str) -> None:
        self.notes.append(message)
        log.warning("redmine %s: %s", self._pid, message)

    @staticmethod
    def _milestone(v: dict[str, Any], project_id: int) -> Milestone:
        name = str(v.get("name") or f"version {v['id']}")
        owner = v.get("project") or {}
        if owner.get("id") is not None and int(owner["id"]) != project_id and owner.get("name"):
            name = f"{owner['name']} - {name}"  # shared from another project, as Redmine shows
        status: Literal["open", "locked", "closed"] = "open"
        if v.get("status") == "locked":
            status = "locked"
        elif v.get("status") == "closed":
            status = "closed"
        return Milestone(key=f"redmine:version:{v['id']}", name=name,
                         due=_date(v.get("due_date") or v.get("effective_date")),
                         status=status, native_id=str(v["id"]))

    def _extra_version(self, ref: dict[str, Any], project_id: int) -> Milestone:
        """A version an issue uses that the project's version list does not show."""
        try:
            data = self._get(f"/versions/{int(ref['id'])}.json", what="version lookup")
        except (errors.NotFoundError, errors.AuthError):
            self._note(f"version {ref['id']} ('{ref.get('name')}') of some issues is not "
                       "visible; used without a due date")
            return Milestone(key=f"redmine:version:{ref['id']}",
                             name=str(ref.get("name") or ref["id"]), native_id=str(ref["id"]))
        return self._milestone(dict(data.get("version") or ref), project_id)

    def _item(self, raw: dict[str, Any], ids: set[int], risk_ids: set[int], closed: set[int],
              plan: _FieldPlan, risk_fields: _RiskFields) -> WorkItem:
        iid = int(raw["id"])
        parent_key = None
        parent = (raw.get("parent") or {}).get("id")
        if parent is not None:
            if int(parent) in ids:
                parent_key = f"redmine:{parent}"
            elif int(parent) in risk_ids:
                self._note(f"issue #{iid}: parent #{parent} is a risk (tracker "
                           f"'{self.risk.risk_tracker}'); treated as a top-level item")
            else:
                self._note(f"issue #{iid}: parent #{parent} is outside the fetched issues; "
                           "treated as a top-level item")
        status = raw.get("status") or {}
        is_closed = int(status.get("id", 0)) in closed
        version = raw.get("fixed_version")
        fields: dict[str, str | None] = {}
        values = {int(cf["id"]): cf.get("value") for cf in raw.get("custom_fields") or []}
        for logical, field_id in plan.ids.items():
            if field_id in values:
                fields[logical] = _cf_string(values[field_id])
        estimate = raw.get("estimated_hours")
        likely = max(0.0, float(estimate)) if estimate is not None else None
        return WorkItem(
            key=f"redmine:{iid}",
            native_id=str(iid),
            title=str(raw.get("subject") or ""),
            url=f"{self.base_url}/issues/{iid}",
            status=Status.CLOSED if is_closed else Status.OPEN,
            closed_on=_date(raw.get("closed_on")) if is_closed else None,
            estimate_hours=likely,
            estimate_range=self._estimate_range(iid, likely, values, risk_fields,
                                                quiet=is_closed),
            spent_hours=max(0.0, float(raw.get("spent_hours") or 0)),
            done_ratio=min(100, max(0, int(raw.get("done_ratio") or 0))),
            start=_date(raw.get("start_date")),
            due=_date(raw.get("due_date")),
            assignee=(raw.get("assigned_to") or {}).get("name"),
            milestone=f"redmine:version:{version['id']}" if version else None,
            parent=parent_key,
            tracker=(raw.get("tracker") or {}).get("name"),
            updated_on=_datetime(raw.get("updated_on")),
            fields=fields,
        )

    def _estimate_range(self, iid: int, likely: float | None, values: dict[int, Any],
                        risk_fields: _RiskFields, *, quiet: bool = False) -> EstimateRange | None:
        """optimistic / likely (the estimated hours) / pessimistic, when all three are there
        and ordered; otherwise None and a note (none when neither range field has a value, or
        when ``quiet``: closed issues are not simulated)."""
        cfg = self.risk
        raw_o = values.get(risk_fields.optimistic) if risk_fields.optimistic else None
        raw_p = values.get(risk_fields.pessimistic) if risk_fields.pessimistic else None
        if not (_cf_string(raw_o) or "").strip() and not (_cf_string(raw_p) or "").strip():
            return None
        optimistic, pessimistic = _number(raw_o), _number(raw_p)
        if optimistic is not None and pessimistic is not None and likely is not None:
            if 0 <= optimistic <= likely <= pessimistic:
                return EstimateRange(optimistic=optimistic, likely=likely,
                                     pessimistic=pessimistic)
            problem = (f"{_hours(optimistic)} / {_hours(likely)} / {_hours(pessimistic)} h is "
                       "not ordered (0 <= optimistic <= likely <= pessimistic)")
        elif optimistic is None or pessimistic is None:
            empty = [name for name, number in ((cfg.optimistic_field, optimistic),
                                               (cfg.pessimistic_field, pessimistic))
                     if number is None]
            problem = (f"'{empty[0]}' is empty or not a number" if len(empty) == 1
                       else "the optimistic and pessimistic values are not numbers")
        else:
            problem = "it has no estimated time (the likely value)"
        if not quiet:
            fallback = ("the single estimate is used" if likely is not None
                        else "planned as an item without an estimate")
            self._note(f"issue #{iid}: three-point estimate ignored: {problem}; {fallback}")
        return None

    def _risk(self, raw: dict[str, Any], closed: set[int], risk_fields: _RiskFields,
              threatened: set[int]) -> Risk | None:
        cfg = self.risk
        iid = int(raw["id"])
        values = {int(cf["id"]): cf.get("value") for cf in raw.get("custom_fields") or []}
        label = f"risk #{iid} '{raw.get('subject') or ''}'"
        raw_p = values.get(risk_fields.probability) if risk_fields.probability else None
        percent = _number(raw_p)
        if percent is None:
            why = ("has no value in" if not (_cf_string(raw_p) or "").strip()
                   else f"has no number ({_cf_string(raw_p)!r}) in")
            if risk_fields.probability is None or risk_fields.probability not in values:
                why = "does not have the custom field"
            self._note(f"{label} {why} '{cfg.probability_field}' (percent); not in the risk "
                       "register")
            return None
        if not 0 <= percent <= 100:
            self._note(f"{label}: '{cfg.probability_field}' is {percent:g}, not a percentage "
                       "between 0 and 100; not in the risk register")
            return None

        def impact(field_id: int | None, name: str) -> float:
            raw_value = values.get(field_id) if field_id else None
            number = _number(raw_value)
            if number is None or number < 0:
                if (_cf_string(raw_value) or "").strip():
                    self._note(f"{label}: '{name}' = {_cf_string(raw_value)!r} is not a "
                               "positive number; 0 is used")
                return 0.0
            return number

        status = raw.get("status") or {}
        return Risk(
            key=f"redmine:{iid}",
            title=str(raw.get("subject") or ""),
            probability=percent / 100,
            impact_days=impact(risk_fields.impact_days, cfg.impact_days_field),
            impact_cost=impact(risk_fields.impact_cost, cfg.impact_cost_field),
            threatens=[f"redmine:{i}" for i in sorted(threatened)],
            status=Status.CLOSED if int(status.get("id", 0)) in closed else Status.OPEN,
        )

    def _relations(self, issues: list[dict[str, Any]], ids: set[int],
                   risk_ids: set[int]) -> tuple[list[Dependency], dict[int, set[int]]]:
        """Dependencies between work items (``ids``), and risk id -> ids of the work items
        it is related to by any relation (those relations are never dependencies)."""
        seen: set[int] = set()
        best: dict[tuple[int, int], tuple[int, str]] = {}
        threatened: dict[int, set[int]] = {}
        outside = 0
        risk_outside = 0
        for raw in issues:
            for rel in raw.get("relations") or []:
                rel_id = int(rel.get("id", 0))
                if rel_id in seen:
                    continue  # both issues list the relation
                seen.add(rel_id)
                kind = str(rel.get("relation_type"))
                pred, succ = int(rel["issue_id"]), int(rel["issue_to_id"])
                if pred in risk_ids or succ in risk_ids:
                    for risk, other in ((pred, succ), (succ, pred)):
                        if risk not in risk_ids or other in risk_ids:
                            continue
                        if other in ids:
                            threatened.setdefault(risk, set()).add(other)
                        else:
                            risk_outside += 1
                    continue
                if kind in ("follows", "blocked"):  # not stored by Redmine, but be safe
                    pred, succ = succ, pred
                    kind = "precedes" if kind == "follows" else "blocks"
                if kind not in ("precedes", "blocks") or pred == succ:
                    continue
                if pred not in ids or succ not in ids:
                    outside += 1
                    log.info("redmine %s: %s relation #%s -> #%s leaves the fetched issues; "
                             "dropped", self._pid, kind, pred, succ)
                    continue
                lag = int(rel.get("delay") or 0) if kind == "precedes" else 0
                current = best.get((pred, succ))
                if current is None or lag > current[0]:
                    best[(pred, succ)] = (lag, kind)
        if outside:
            self._note(f"{outside} relation(s) point to issues outside the fetched set "
                       "(another project, or not visible); dropped")
        if risk_outside:
            self._note(f"{risk_outside} relation(s) of risks point to issues outside the "
                       "fetched set; those issues are not counted as threatened")
        dependencies = [
            Dependency(predecessor=f"redmine:{p}", successor=f"redmine:{s}",
                       type=DependencyType.FS, lag_days=lag, origin=kind)
            for (p, s), (lag, kind) in sorted(best.items())
        ]
        return dependencies, threatened

    # ------------------------------------------------------------------ fields

    def _resolve_fields(self, catalogue: dict[str, str]) -> _FieldPlan:
        """Logical field -> custom-field id, by name (exact, then case-insensitive) or id.

        Required fields (:meth:`FieldNames.required`) that no issue carries go to
        ``missing``, the optional overlay fields to ``optional_missing``.
        """
        required = set(self.field_names.required())
        ids: dict[str, int] = {}
        missing: dict[str, str | int] = {}
        optional_missing: dict[str, str | int] = {}
        for logical in self.field_names.logical_names():
            target: str | int = getattr(self.field_names, logical)
            found = _resolve_name(catalogue, target)
            if found is not None:
                ids[logical] = found
            elif logical in required:
                missing[logical] = target
            else:
                optional_missing[logical] = target
        self._field_ids = ids
        return _FieldPlan(ids=ids, missing=missing, optional_missing=optional_missing)

    def _missing_field_error(self, logical: str, target: str | int) -> errors.ConfigError:
        what = (f"custom field id {target}" if isinstance(target, int)
                else f"custom field '{target}'")
        return errors.ConfigError(
            f"{what} (fields.{logical}) not found on any issue of project '{self._pid}': an "
            f"administrator must create it (see {SETUP_DOC}: Administration -> Custom fields -> "
            f"New -> Issues, format {EXPECTED_FORMATS.get(logical, 'as documented')}, all "
            "trackers the project uses, 'For all projects' or enabled in the project's "
            "Settings -> Issue tracking), or set fields."
            f"{logical} to the name the field has in Redmine"
        )

    def diff(self, snapshot: Snapshot, desired: DesiredState) -> ChangeSet:
        """Changes that make the tracker show ``desired``; reads the current wiki page(s).

        Fields: for every item and logical field of ``desired.fields`` the value is formatted
        as Redmine stores it for the field's format (:func:`format_value` with
        :data:`EXPECTED_FORMATS`) and compared, normalised (:func:`values_equal`), with the
        value in the snapshot; only differences are kept. Only our logical fields
        (:class:`FieldNames`) are ever written. A required field (:meth:`FieldNames.required`)
        no issue carries raises ConfigError; an optional overlay field no issue carries is
        skipped silently (``check`` reports it); an issue whose tracker lacks a field is
        skipped (noted). Pages: ``GET /projects/:p/wiki/:title.json?include=attachments`` (404 means
        create); our block is merged with :func:`merge_block` and the page is kept only if its
        text (or one of its attachments) changes.
        """
        started = self.requests_made
        plan = self._resolve_fields(snapshot.custom_fields)
        items = snapshot.item_map()
        changes: list[FieldChange] = []
        missing_on_item: dict[str, int] = {}
        unknown_logical: set[str] = set()
        skipped_optional: set[str] = set()
        logical_names = set(self.field_names.logical_names())
        for key, values in desired.fields.items():
            item = items.get(key)
            if item is None:
                self._note(f"desired values for {key}, which is not in the snapshot; skipped")
                continue
            for logical, value in values.items():
                if logical not in logical_names:
                    unknown_logical.add(logical)
                    continue
                if logical in plan.missing:
                    raise self._missing_field_error(logical, plan.missing[logical])
                if logical in plan.optional_missing:
                    skipped_optional.add(logical)
                    continue
                if logical not in item.fields:
                    missing_on_item[logical] = missing_on_item.get(logical, 0) + 1
                    continue
                new = format_value(value, EXPECTED_FORMATS.get(logical))
                old = item.fields[logical]
                if not values_equal(old, new):
                    changes.append(FieldChange(item=key, field=logical, old=old, new=new))
        if skipped_optional:
            log.debug("redmine diff %s: optional field(s) %s do not exist in the project; "
                      "not written", self._pid, ", ".join(sorted(skipped_optional)))
        for logical in sorted(unknown_logical):
            self._note(f"logical field '{logical}' has no Redmine field configured; not written")
        for logical, count in sorted(missing_on_item.items()):
            self._note(f"custom field for '{logical}' is not enabled on {count} issue(s) "
                       "(their tracker or project lacks it); those values are not written")

        pages = [change for page in desired.pages
                 if (change := self._diff_page(page)) is not None]
        log.info("redmine diff %s: %d field changes on %d issues, %d page(s), %d requests",
                 self._pid, len(changes), len({c.item for c in changes}), len(pages),
                 self.requests_made - started)
        return ChangeSet(fields=changes, pages=pages, pages_desired=list(desired.pages))

    # ------------------------------------------------------------------ wiki

    def _wiki_path(self, title: str) -> str:
        return f"/projects/{quote(self._pid, safe='')}/wiki/{quote(wiki_title(title), safe='')}"

    def _read_page(self, title: str) -> _Page | None:
        path = self._wiki_path(title) + ".json"
        try:
            data = self._get(path, {"include": "attachments"}, what=f"wiki page '{title}'")
        except errors.NotFoundError:
            self._require_wiki()
            return None
        page = data.get("wiki_page") or {}
        return _Page(title=str(page.get("title") or title), text=str(page.get("text") or ""),
                     version=int(page.get("version") or 0),
                     attachments=list(page.get("attachments") or []))

    def _require_wiki(self) -> None:
        project = self._project_json or self._project()
        modules = {m.get("name") for m in project.get("enabled_modules") or []}
        if project.get("enabled_modules") is not None and "wiki" not in modules:
            raise errors.ConfigError(
                f"the wiki module is disabled in Redmine project '{self._pid}': enable it in "
                f"{self.base_url}/projects/{self._pid}/settings/modules (Settings -> Modules -> "
                "Wiki), or configure no wiki page for this project"
            )

    def _diff_page(self, page: DesiredPage) -> PageChange | None:
        current = self._read_page(page.title)
        markup = self.tracker.markup
        if current is None:
            text = merge_block(None, page.body, markup)
            return PageChange(title=page.title, action="create",
                              lines_changed=len(text.splitlines()), text=text,
                              base_version=None, attachments=list(page.attachments))
        try:
            text = merge_block(current.text, page.body, markup)
        except errors.InputError as e:
            raise errors.InputError(
                f"wiki page {self.base_url}/projects/{self._pid}/wiki/{current.title}: {e}"
            ) from None
        stale = self._stale_attachments(page.attachments, current.attachments)
        if text == current.text and not stale:
            return None
        return PageChange(title=page.title, action="update",
                          lines_changed=_lines_changed(current.text, text), text=text,
                          base_version=current.version, attachments=stale)

    @staticmethod
    def _stale_attachments(desired: list[Attachment],
                           existing: list[dict[str, Any]]) -> list[Attachment]:
        """Desired attachments whose newest same-named file differs (or is missing)."""
        newest: dict[str, dict[str, Any]] = {}
        for a in existing:
            name = str(a.get("filename"))
            if name not in newest or int(a.get("id", 0)) > int(newest[name].get("id", 0)):
                newest[name] = a
        stale = []
        for attachment in desired:
            have = newest.get(attachment.filename)
            if (have is None or have.get("description") != _attachment_digest(attachment)
                    or int(have.get("filesize", -1)) != len(attachment.data)):
                stale.append(attachment)
        return stale

    # ------------------------------------------------------------------ apply

    def apply(self, changes: ChangeSet) -> ApplyReport:
        """Write ``changes``: one ``PUT /issues/:id.json`` per issue with all its changed
        custom fields, then each page (``POST /uploads.json`` per attachment, ``PUT
        /projects/:p/wiki/:title.json`` with ``version`` for updates, a re-read just before a
        create, then ``DELETE /attachments/:id.json`` for replaced same-named files).

        A 409 on a page re-reads it, re-merges our block into the person's new text and retries
        (at most 3 times; counted in ``conflicts_retried``). A 422 or 404 on one issue does not
        stop the others; they are raised together (RejectedError, ``.report`` = what was
        written) at the end. Other errors stop at once.
        """
        started = self.requests_made
        report = ApplyReport()
        if changes.fields and self._field_ids is None:
            # apply() without diff() on this adapter: learn the ids from a fresh fetch.
            self._resolve_fields(self.fetch().custom_fields)
        field_ids = self._field_ids or {}
        by_item: dict[str, list[FieldChange]] = {}
        for change in changes.fields:
            by_item.setdefault(change.item, []).append(change)
        failures: list[str] = []
        for key, item_changes in by_item.items():
            native = key.rsplit(":", 1)[-1]
            if not key.startswith("redmine:") or not native.isdigit():
                raise errors.InputError(f"{key!r} is not a Redmine issue key ('redmine:<id>')")
            payload: dict[int, str] = {}
            for change in item_changes:
                if change.field not in field_ids:
                    raise errors.ConfigError(f"no Redmine custom field resolved for logical "
                                             f"field '{change.field}'")
                payload[field_ids[change.field]] = change.new
            path = f"/issues/{native}.json"
            try:
                with self._call("PUT", path, what=f"update of issue #{native}",
                                not_found=f"issue #{native} no longer exists (or is hidden)"):
                    self._rm.issue.update(
                        int(native),
                        custom_fields=[{"id": i, "value": v} for i, v in payload.items()])
            except (errors.RejectedError, errors.NotFoundError) as e:
                failures.append(str(e))
                continue
            report.issues_updated += 1
            report.fields_written += len(payload)

        desired = {wiki_title(p.title): p for p in changes.pages_desired}
        for page_change in changes.pages:
            self._apply_page(page_change, desired.get(wiki_title(page_change.title)), report)

        report.requests = self.requests_made - started
        log.info("redmine apply %s: %d issues (%d fields), %d pages, %d attachments, "
                 "%d conflicts retried, %d requests", self._pid, report.issues_updated,
                 report.fields_written, report.pages_written, report.attachments_uploaded,
                 report.conflicts_retried, report.requests)
        if failures:
            error = errors.RejectedError(
                f"{len(failures)} issue update(s) failed ({report.issues_updated} written): "
                + "; ".join(failures[:5]) + (" ..." if len(failures) > 5 else ""))
            error.report = report  # type: ignore[attr-defined]
            raise error
        return report

    def _apply_page(self, change: PageChange, desired: DesiredPage | None,
                    report: ApplyReport) -> None:
        title = change.title
        text = change.text
        version = change.base_version
        action = change.action
        uploads = [self._upload(a) for a in change.attachments if a.data]
        report.attachments_uploaded += len(uploads)

        def remerge(current: _Page | None) -> str:
            if desired is None:
                raise errors.ConflictError(
                    f"wiki page '{title}' changed since the diff and the desired block is not "
                    "in the change set (pages_desired); run again")
            return merge_block(current.text if current else None, desired.body,
                               self.tracker.markup)

        for attempt in range(MAX_CONFLICT_RETRIES + 1):
            if action == "create":
                # Redmine has no create-only PUT: a page a person created since the diff
                # would be overwritten. Look again right before writing.
                current = self._read_page(title)
                if current is not None:
                    action, version, text = "update", current.version, remerge(current)
            try:
                self._put_page(title, text, version if action == "update" else None, uploads)
            except errors.ConflictError:
                if attempt == MAX_CONFLICT_RETRIES:
                    raise
                report.conflicts_retried += 1
                log.info("redmine %s: wiki page '%s' changed since the diff; re-merging",
                         self._pid, title)
                current = self._read_page(title)
                if current is None:
                    action, version, text = "create", None, remerge(None)
                else:
                    action, version, text = "update", current.version, remerge(current)
                continue
            report.pages_written += 1
            break
        if uploads:
            self._delete_replaced_attachments(title, {u["filename"] for u in uploads})

    def _put_page(self, title: str, text: str, version: int | None,
                  uploads: list[dict[str, str]]) -> None:
        fields: dict[str, Any] = {"text": text, "comments": WIKI_COMMENT}
        if version is not None:
            fields["version"] = version
        if uploads:
            fields["uploads"] = [dict(u) for u in uploads]
        with self._call("PUT", self._wiki_path(title) + ".json", what=f"wiki page '{title}'",
                        forbidden=(f"the API user may not edit wiki pages of project "
                                   f"'{self._pid}': give its role 'Edit wiki pages'")):
            self._rm.wiki_page.update(quote(wiki_title(title), safe=""), project_id=self._pid,
                                      **fields)

    def _upload(self, attachment: Attachment) -> dict[str, str]:
        with self._call("POST", "/uploads.json", what=f"upload of {attachment.filename}"):
            token = self._rm.upload(io.BytesIO(attachment.data),
                                    filename=attachment.filename)["token"]
        return {"token": str(token), "filename": attachment.filename,
                "content_type": attachment.content_type,
                "description": _attachment_digest(attachment)}

    def _delete_replaced_attachments(self, title: str, filenames: set[str]) -> None:
        page = self._read_page(title)
        if page is None:
            return
        by_name: dict[str, list[int]] = {}
        for a in page.attachments:
            if a.get("filename") in filenames:
                by_name.setdefault(str(a["filename"]), []).append(int(a["id"]))
        for ids in by_name.values():
            for old in sorted(ids)[:-1]:
                path = f"/attachments/{old}.json"
                with contextlib.suppress(errors.NotFoundError):  # already gone
                    self._request("delete", path, what=f"delete of old attachment {old}",
                                  forbidden=("the API user may not delete wiki attachments: "
                                             "give its role 'Delete attachments' on wiki "
                                             "pages"))

    # ------------------------------------------------------------------ doctor

    def check(self) -> list[Finding]:
        """Doctor: connection, key, project, modules, permissions and our custom fields.

        Finding ids are stable: ``redmine.connect.failed``, ``redmine.rest.disabled`` (403 on
        ``/users/current.json`` for any key, verified on 5.0.4), ``redmine.auth.invalid_key``,
        ``redmine.auth.ok``, ``redmine.project.missing``, ``redmine.project.forbidden``,
        ``redmine.project.ok``, ``redmine.issues.disabled``, ``redmine.time_tracking.disabled``,
        ``redmine.wiki.disabled``, ``redmine.wiki.ok``, ``redmine.permissions.missing``,
        ``redmine.permissions.ok``, ``redmine.custom_field.missing``,
        ``redmine.custom_field.optional_missing`` (``ok`` True: an overlay field that does
        not exist is simply not written), ``redmine.custom_field.not_writable``,
        ``redmine.custom_field.format``, ``redmine.custom_field.unverified``,
        ``redmine.custom_field.ok``. Issues of the risk tracker (``risk.risk_tracker``) are
        not written, so the custom fields are not required on them.
        """
        findings: list[Finding] = []
        try:
            user = self._current_user()
        except errors.AuthError as e:
            if e.status == 403:
                findings.append(Finding(
                    id="redmine.rest.disabled", ok=False, message=str(e),
                    fix="Administration -> Settings -> API: tick 'Enable REST web service' "
                        "and save."))
                return findings
            findings.append(Finding(
                id="redmine.auth.invalid_key", ok=False,
                message=f"Redmine at {self.base_url} answers, but the API key is not accepted "
                        "(the request ran as Anonymous).",
                fix="Copy the bot user's key from My account -> API access key into "
                    f"{self._key_source()}; "
                    "check that the bot user is not locked (Administration -> Users)."))
            return findings
        except errors.TrackerError as e:
            findings.append(Finding(
                id="redmine.connect.failed", ok=False, message=str(e),
                fix=f"Check [trackers.{self.tracker_name}].url ({self.base_url}): open it in a "
                    "browser from this machine; check proxies and TLS."))
            return findings
        findings.append(Finding(id="redmine.auth.ok", ok=True,
                                message=f"authenticated as '{user.get('login')}'"
                                        + (" (administrator)" if user.get("admin") else "")))

        try:
            project = self._project()
        except errors.NotFoundError as e:
            findings.append(Finding(
                id="redmine.project.missing", ok=False, message=str(e),
                fix=f"Set 'project' to the identifier shown in the project's URL "
                    f"({self.base_url}/projects/<identifier>), or create the project."))
            return findings
        except errors.AuthError as e:
            findings.append(Finding(
                id="redmine.project.forbidden", ok=False, message=str(e),
                fix=f"Add '{user.get('login')}' as a member of the project (Settings -> "
                    "Members) with a role that has the permissions listed in "
                    f"{SETUP_DOC}."))
            return findings
        findings.append(Finding(id="redmine.project.ok", ok=True,
                                message=f"project '{self._pid}' ({project.get('name')}) found"))
        settings_url = f"{self.base_url}/projects/{self._pid}/settings/modules"
        modules = {m.get("name") for m in project.get("enabled_modules") or []}
        for module, finding_id, why in (
            ("issue_tracking", "redmine.issues.disabled", "there are no issues to plan"),
            ("time_tracking", "redmine.time_tracking.disabled",
             "spent time (actual cost, earned value) cannot be read"),
        ):
            if module not in modules:
                findings.append(Finding(
                    id=finding_id, ok=False,
                    message=f"the {module} module is disabled in project '{self._pid}': {why}",
                    fix=f"Enable it in {settings_url} (Settings -> Modules)."))
        if "wiki" in modules:
            findings.append(Finding(id="redmine.wiki.ok", ok=True,
                                    message="the wiki module is enabled"))
        else:
            findings.append(Finding(
                id="redmine.wiki.disabled", ok=False,
                message=f"the wiki module is disabled in project '{self._pid}': the plan page "
                        f"'{self.project.wiki_page}' cannot be written",
                fix=f"Enable 'Wiki' in {settings_url} (Settings -> Modules)."))

        findings.extend(self._check_permissions(user, int(project["id"])))
        findings.extend(self._check_fields(user, project))
        return findings

    def _check_permissions(self, user: dict[str, Any], project_id: int) -> list[Finding]:
        if user.get("admin"):
            return [Finding(id="redmine.permissions.ok", ok=True,
                            message="the API user is an administrator (all permissions)")]
        data = self._get("/users/current.json", {"include": "memberships"},
                         what="membership list")
        memberships = (data.get("user") or {}).get("memberships") or []
        role_ids = {int(r["id"]) for m in memberships
                    if int((m.get("project") or {}).get("id", 0)) == project_id
                    for r in m.get("roles") or []}
        login = user.get("login")
        if not role_ids:
            return [Finding(
                id="redmine.permissions.missing", ok=False,
                message=f"'{login}' is not a member of project '{self._pid}' (only public-project "
                        "rights apply, which usually cannot edit issues or the wiki)",
                fix=f"Add '{login}' to the project (Settings -> Members) with a role that has: "
                    + ", ".join(NEEDED_PERMISSIONS))]
        granted: set[str] = set()
        for role_id in sorted(role_ids):
            role = self._get(f"/roles/{role_id}.json", what="role lookup").get("role") or {}
            granted.update(role.get("permissions") or [])
        lacking = [p for p in NEEDED_PERMISSIONS if p not in granted]
        if lacking:
            return [Finding(
                id="redmine.permissions.missing", ok=False,
                message=f"'{login}' lacks in project '{self._pid}': "
                        + ", ".join(f"{p} ({NEEDED_PERMISSIONS[p]})" for p in lacking),
                fix="Administration -> Roles and permissions: tick these for the bot's role.")]
        return [Finding(id="redmine.permissions.ok", ok=True,
                        message=f"'{login}' has the permissions tracker-bridge needs")]

    def _check_fields(self, user: dict[str, Any], project: dict[str, Any]) -> list[Finding]:
        project_id = int(project["id"])
        subprojects = "*" if self.project.include_subprojects else "!*"
        # one sample issue per tracker enabled in the project: its custom fields are the ones
        # enabled (and visible) for that tracker in this project
        per_tracker: dict[str, set[int]] = {}
        catalogue: dict[str, str] = {}
        for tracker in project.get("trackers") or []:
            data = self._get("/issues.json", {"project_id": project_id, "status_id": "*",
                                              "tracker_id": tracker["id"], "limit": 1,
                                              "subproject_id": subprojects},
                             what="issue sample")
            for raw in data.get("issues") or []:
                for cf in raw.get("custom_fields") or []:
                    catalogue.setdefault(str(cf["name"]), str(cf["id"]))
                if self._is_risk(raw):
                    continue  # risks are read, never written
                per_tracker[str(tracker["name"])] = {int(cf["id"])
                                                     for cf in raw.get("custom_fields") or []}
        if not per_tracker:
            return [Finding(
                id="redmine.custom_field.unverified", ok=False,
                message=f"project '{self._pid}' has no issues yet, so the custom fields cannot "
                        "be checked",
                fix="Create an issue, then run doctor again.")]
        plan = self._resolve_fields(catalogue)
        findings: list[Finding] = []
        for logical, target in plan.missing.items():
            findings.append(Finding(
                id="redmine.custom_field.missing", ok=False,
                message=f"custom field '{target}' (fields.{logical}) is not visible on issues "
                        f"of project '{self._pid}'",
                fix=str(self._missing_field_error(logical, target))))
        for logical, target in plan.optional_missing.items():
            what = (f"custom field id {target}" if isinstance(target, int)
                    else f"custom field '{target}'")
            purpose = OPTIONAL_FIELD_PURPOSE.get(logical, f"the {logical} values")
            findings.append(Finding(
                id="redmine.custom_field.optional_missing", ok=True,
                message=f"optional {what} (fields.{logical}) is not on issues of project "
                        f"'{self._pid}': not written: create it to see {purpose}",
                fix=f"Optional. Administration -> Custom fields -> New -> Issues, named "
                    f"'{target}', format {EXPECTED_FORMATS.get(logical, 'as documented')}, "
                    "the trackers the project uses, 'For all projects' or enabled in the "
                    f"project's Settings -> Issue tracking (see {SETUP_DOC}); or set "
                    f"fields.{logical} to the name the field has in Redmine"))
        for logical, field_id in plan.ids.items():
            name = next((n for n, i in catalogue.items() if int(i) == field_id), str(field_id))
            lacking = sorted(t for t, ids in per_tracker.items() if field_id not in ids)
            if lacking:
                findings.append(Finding(
                    id="redmine.custom_field.not_writable", ok=False,
                    message=f"custom field '{name}' (fields.{logical}) is missing on issues of "
                            f"tracker(s) {', '.join(lacking)}; values for them are not written",
                    fix=f"Administration -> Custom fields -> {name}: tick the tracker(s) "
                        f"{', '.join(lacking)}"))
            else:
                findings.append(Finding(
                    id="redmine.custom_field.ok", ok=True,
                    message=f"custom field '{name}' (fields.{logical}) is on issues of every "
                            "tracker in use"))
        if user.get("admin") and plan.ids:
            findings.extend(self._check_formats(plan.ids))
        return findings

    def _check_formats(self, ids: dict[str, int]) -> list[Finding]:
        """Only administrators can read /custom_fields.json: check the formats then."""
        try:
            data = self._get("/custom_fields.json", what="custom field list")
        except errors.AuthError:
            return []
        formats = {int(cf["id"]): (str(cf.get("name")), str(cf.get("field_format")))
                   for cf in data.get("custom_fields") or []}
        findings = []
        for logical, field_id in ids.items():
            expected = EXPECTED_FORMATS.get(logical)
            name, actual = formats.get(field_id, ("?", "?"))
            if expected and actual not in (expected, "?"):
                findings.append(Finding(
                    id="redmine.custom_field.format", ok=False,
                    message=f"custom field '{name}' (fields.{logical}) has format '{actual}', "
                            f"tracker-bridge writes '{expected}' values",
                    fix=f"Create a '{expected}' custom field (formats cannot be changed) and "
                        f"point fields.{logical} at it."))
        return findings
