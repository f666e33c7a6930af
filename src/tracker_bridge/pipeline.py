"""One pass for one project: fetch -> plan -> render -> diff -> apply.

Adapters are found through the ``tracker_bridge.adapters`` entry-point group, the same way a
third-party adapter (Jira, GitLab...) would register itself, and are used only through
:class:`~tracker_bridge.adapters.protocol.TrackerAdapter`. Each project is its own unit of
work: a failure is reported with the project's name and never reads as "nothing there".

Incremental fetch: with a store (:class:`SyncStore`) and an adapter that supports it
(``supports_incremental``), a pass fetches only
what changed since the last successful pass and merges it into the cached snapshot. A full
fetch is done when there is no cache or cursor, when the last full fetch is older than
``ProjectSettings.full_fetch_hours`` (a tracker's change feed does not see everything:
Redmine's ``updated_on`` does not move for relations), when the tracker or project settings
changed, or when asked (``run --full``). The cursors are kept per project in the store:
``<kind>.updated_on`` (the fetch result's ``cursor``), ``<kind>.full_at`` (when the last full
fetch started, UTC) and ``<kind>.config`` (a digest of the settings the snapshot depends on).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from tracker_bridge.adapters.protocol import (
    FetchResult,
    Progress,
    TrackerAdapter,
    adapter_factory,
)
from tracker_bridge.cadence import fields_as_of
from tracker_bridge.chart_cache import ChartCache
from tracker_bridge.errors import ConfigError, TrackerBridgeError
from tracker_bridge.model import (
    ApplyReport,
    Baseline,
    ChangeSet,
    DesiredState,
    Plan,
    Snapshot,
)
from tracker_bridge.planner import plan as make_plan
from tracker_bridge.publish import desired_fields, render_desired
from tracker_bridge.publish.chart_inputs import ChartStore
from tracker_bridge.settings import (
    Settings,
)
from tracker_bridge.store import Store, active_baseline, default_path

log = logging.getLogger(__name__)


def open_adapter(
    settings: Settings, project_name: str, progress: Progress | None = None
) -> TrackerAdapter:
    """Build the adapter for a configured project, reading its secret."""
    if project_name not in settings.projects:
        known = ", ".join(sorted(settings.projects)) or "none configured"
        raise ConfigError(f"unknown project {project_name!r} (configured: {known})")
    project = settings.projects[project_name]
    tracker = settings.trackers[project.tracker]
    factory = adapter_factory(tracker.kind)
    return factory(
        tracker,
        project,
        settings.fields,
        tracker.secret(project.tracker),
        progress=progress,
        tracker_name=project.tracker,
        risk=settings.risk,
    )


def fetch_snapshot(
    settings: Settings, project_name: str, progress: Progress | None = None
) -> Snapshot:
    """Read one configured project in full (``plan``, ``baseline save``), then let go of
    the adapter's connections."""
    adapter = open_adapter(settings, project_name, progress)
    try:
        return adapter.fetch().snapshot
    finally:
        adapter.close()


def desired_state(
    plan: Plan,
    snapshot: Snapshot,
    settings: Settings,
    project_name: str,
    adapter: TrackerAdapter,
    baseline: Baseline | None = None,
    chart_store: ChartStore | None = None,
) -> DesiredState:
    """Render the plan into what the project's tracker should show, in its adapter's style."""
    project = settings.projects[project_name]
    return render_desired(
        plan,
        snapshot,
        style=adapter.page_style,
        page_title=project.wiki_page,
        field_names=settings.fields,
        baseline=baseline,
        chart_store=chart_store,
    )


class WriteRecorder(Protocol):
    """Where a pass records the values it wrote (the store; see ``Store.record_written``)."""

    def record_written(self, project: str, changes: ChangeSet) -> int: ...


@runtime_checkable
class SyncStore(Protocol):
    """Where a pass keeps the snapshot cache and sync cursors (the store; see ``Store``)."""

    def record_written(self, project: str, changes: ChangeSet) -> int: ...

    def get_cursor(self, project: str, name: str = ...) -> str | None: ...

    def set_cursor(self, project: str, value: str, name: str = ...) -> None: ...

    def load_snapshot_cache(self, project: str) -> Snapshot | None: ...

    def save_snapshot_cache(self, project: str, snapshot: Snapshot) -> None: ...


def _utc(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _stamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def fetch_config_digest(settings: Settings, project_name: str) -> str:
    """A digest of the settings a fetched snapshot depends on: when it changes, the cached
    snapshot is not reused (the next fetch is a full one)."""
    project = settings.projects[project_name]
    tracker = settings.trackers[project.tracker]
    data = {
        "tracker": tracker.model_dump(mode="json"),
        "project": project.model_dump(mode="json", exclude={"full_fetch_hours"}),
        "fields": settings.fields.model_dump(mode="json"),
        "risk": settings.risk.model_dump(mode="json"),
    }
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class _FetchPlan:
    """How a pass fetches: full or incremental, and what to remember afterwards."""

    store: SyncStore | None
    kind: str
    digest: str
    since: dt.datetime | None = None
    cached: Snapshot | None = None
    reason: str = ""


def _plan_fetch(
    settings: Settings, project_name: str, adapter: TrackerAdapter, store: object, full: bool
) -> _FetchPlan:
    project = settings.projects[project_name]
    kind = settings.trackers[project.tracker].kind
    sync = store if isinstance(store, SyncStore) and adapter.supports_incremental else None
    plan = _FetchPlan(store=sync, kind=kind, digest=fetch_config_digest(settings, project_name))
    if sync is None:
        plan.reason = "the adapter or the store does not support incremental fetches"
        return plan
    if full:
        plan.reason = "a full fetch was asked for (--full)"
        return plan
    full_at = _utc(sync.get_cursor(project_name, f"{kind}.full_at"))
    since = _utc(sync.get_cursor(project_name, f"{kind}.updated_on"))
    if full_at is None or since is None:
        plan.reason = "no previous full fetch"
        return plan
    age = dt.datetime.now(dt.UTC) - full_at
    if age >= dt.timedelta(hours=project.full_fetch_hours):
        plan.reason = (
            f"the last full fetch is {age.total_seconds() / 3600:.1f} h old "
            f"(full_fetch_hours = {project.full_fetch_hours:g})"
        )
        return plan
    if sync.get_cursor(project_name, f"{kind}.config") != plan.digest:
        plan.reason = "the tracker or project settings changed"
        return plan
    cached = sync.load_snapshot_cache(project_name)
    if cached is None:
        plan.reason = "no cached snapshot"
        return plan
    plan.since, plan.cached = since, cached
    return plan


def _remember_fetch(
    project_name: str, plan: _FetchPlan, fetched: FetchResult, started: dt.datetime
) -> None:
    """Keep the snapshot and the cursors for the next pass (the cache first: a crash in
    between leaves an older cursor, which only re-reads more)."""
    store = plan.store
    if store is None:
        return
    snapshot, mode, cursor = fetched.snapshot, fetched.mode, fetched.cursor
    if cursor is None:
        stamps = [i.updated_on for i in snapshot.items if i.updated_on is not None]
        cursor = min(max(stamps), started) if stamps else None
    try:
        store.save_snapshot_cache(project_name, snapshot)
        if cursor is None:  # nothing to resume from: the next pass fetches in full
            store.set_cursor(project_name, "", f"{plan.kind}.full_at")
            return
        store.set_cursor(project_name, _stamp(cursor), f"{plan.kind}.updated_on")
        if mode == "full":
            store.set_cursor(project_name, _stamp(started), f"{plan.kind}.full_at")
            store.set_cursor(project_name, plan.digest, f"{plan.kind}.config")
    except TrackerBridgeError as e:  # the pass worked; the next one only fetches more
        log.warning(
            "project %s: could not keep the snapshot for the next pass: %s", project_name, e
        )


def chart_cache(store: object, project_name: str) -> ChartCache | None:
    """Charts drawn by earlier passes, kept beside the store's file (no store: none; a
    PostgreSQL store: in this machine's data directory, a cache of its own)."""
    if not isinstance(store, Store):
        return None
    beside = store.path if store.path is not None else default_path()
    return ChartCache(beside.parent / "chart-cache", project_name)


def record_written(store: WriteRecorder, project_name: str, changes: ChangeSet) -> None:
    """Remember what a pass wrote; a failure here only weakens webhook echo recognition."""
    try:
        store.record_written(project_name, changes)
    except TrackerBridgeError as e:  # the writes happened; only echo recognition suffers
        log.warning("project %s: could not record the values written: %s", project_name, e)


def written_part(changes: ChangeSet, report: ApplyReport) -> ChangeSet:
    """The field changes of the items ``report`` says were written."""
    done = set(report.items_written)
    return ChangeSet(fields=[c for c in changes.fields if c.item in done])


def apply_and_record(
    adapter: TrackerAdapter,
    changes: ChangeSet,
    store: WriteRecorder | None,
    project_name: str,
) -> ApplyReport:
    """Apply ``changes`` and record the values written, also those written before an error
    stopped the apply (one issue refused, a dropped connection...): their webhook echoes are
    then recognised instead of each queueing another pass."""
    try:
        report = adapter.apply(changes)
    except TrackerBridgeError as e:
        if store is not None and isinstance(e.report, ApplyReport):
            record_written(store, project_name, written_part(changes, e.report))
        raise
    if store is not None:
        record_written(store, project_name, changes)
    return report


def unexpected_error(project_name: str, error: Exception) -> str:
    """The one-line report of an error no part of tracker-bridge raised on purpose (a bug);
    its traceback goes to the debug log."""
    log.debug("project %s: unexpected error", project_name, exc_info=error)
    return (
        f"unexpected {type(error).__name__}: {error} (a bug in tracker-bridge; "
        "--debug shows the traceback)"
    )


@dataclass
class PassResult:
    """What one pass did for one project."""

    project: str
    ok: bool = False
    error: str | None = None
    items: int = 0
    dependencies: int = 0
    plan: Plan | None = None
    changes: ChangeSet | None = None
    report: ApplyReport | None = None
    requests: int = 0
    dry_run: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    #: How the tracker was read: "full" or "incremental" (None: the fetch did not happen).
    fetch_mode: Literal["full", "incremental"] | None = None
    #: Requests the fetch made (part of ``requests``).
    fetch_requests: int = 0
    #: Why the fetch was a full one ("" for an incremental fetch).
    full_fetch_reason: str = ""
    #: The status date the issue fields were computed for (``[write_back]`` cadence).
    fields_as_of: dt.date | None = None


def run_pass(
    settings: Settings,
    project_name: str,
    *,
    as_of: dt.date,
    dry_run: bool = False,
    progress: Progress | None = None,
    store: WriteRecorder | None = None,
    full: bool = False,
) -> PassResult:
    """Fetch, plan, render, diff and (unless dry run) apply for one project.

    Every error is caught and reported in the result (an unexpected one as such, with its
    traceback in the debug log), so the caller can go on with the next project; a fetch that
    failed never leads to writes. With a ``store``, the field values written are recorded
    (``store.record_written``) so that the webhook server recognises their echoes, also
    those written before an error stopped the apply.

    With a store that keeps snapshots and cursors (:class:`SyncStore`) and an adapter that
    supports it, the fetch is incremental (see the module docstring); ``full`` forces a full
    fetch. After a successful pass the snapshot and the cursors are kept for the next one.
    Our own writes bump the tracker's change stamps, so the next incremental fetch re-reads
    the issues this pass wrote; they then match the plan and nothing is written again.
    """
    import time

    result = PassResult(project=project_name, dry_run=dry_run)
    adapter: TrackerAdapter | None = None
    try:
        adapter = open_adapter(settings, project_name, progress)
        fetch_plan = _plan_fetch(settings, project_name, adapter, store, full)
        started = dt.datetime.now(dt.UTC)
        before = adapter.requests_made
        t0 = time.perf_counter()
        fetched = adapter.fetch(since=fetch_plan.since, cached=fetch_plan.cached)
        snapshot = fetched.snapshot
        t1 = time.perf_counter()
        _note_fetch(result, fetch_plan, fetched, adapter.requests_made - before)
        baseline = active_baseline(settings.store, project_name)
        result.plan = make_plan(snapshot, settings, as_of, baseline=baseline)
        t2 = time.perf_counter()
        charts = chart_cache(store, project_name)
        desired = desired_state(
            result.plan, snapshot, settings, project_name, adapter, baseline, charts
        )
        fields_plan = issue_plan(result.plan, snapshot, settings, baseline)
        result.fields_as_of = fields_plan.project.as_of
        result.changes = adapter.diff(snapshot, with_issue_fields(desired, fields_plan, settings))
        t3 = time.perf_counter()
        if not dry_run:
            result.report = apply_and_record(adapter, result.changes, store, project_name)
            _note_rereads(project_name, fetch_plan, result.report)
        t4 = time.perf_counter()
        result.timings = {"fetch": t1 - t0, "plan": t2 - t1, "diff": t3 - t2, "apply": t4 - t3}
        result.ok = True
        _remember_fetch(project_name, fetch_plan, fetched, started)
    except TrackerBridgeError as e:
        result.error = str(e)
        if isinstance(e.report, ApplyReport):
            result.report = e.report
        # the caller reports the failure (the CLI's FAILED line, the worker's log): once
        log.info("project %s failed: %s", project_name, e)
    except Exception as e:  # one project's bug must not stop the others (run --all, worker)
        result.error = unexpected_error(project_name, e)
        log.info("project %s failed: %s", project_name, result.error)
    finally:
        if adapter is not None:
            result.requests = adapter.requests_made
            adapter.close()
    return result


def _note_fetch(
    result: PassResult, fetch_plan: _FetchPlan, fetched: FetchResult, requests: int
) -> None:
    """Puts what the fetch did (mode, requests, why full, sizes) into ``result``; logs it."""
    result.fetch_requests = requests
    result.fetch_mode = fetched.mode
    if fetched.mode == "full":
        result.full_fetch_reason = fetch_plan.reason or fetched.fallback_reason
    if fetch_plan.store is not None:
        log.info(
            "project %s: %s fetch in %d requests%s",
            result.project,
            fetched.mode,
            result.fetch_requests,
            f" ({result.full_fetch_reason})" if result.full_fetch_reason else "",
        )
    result.items = len(fetched.snapshot.items)
    result.dependencies = len(fetched.snapshot.dependencies)


def _note_rereads(project_name: str, fetch_plan: _FetchPlan, report: ApplyReport) -> None:
    """Logs that the next incremental fetch re-reads the issues this pass wrote."""
    if fetch_plan.store is not None and report.issues_updated:
        log.info(
            "project %s: the next incremental fetch re-reads the %d issue(s) written "
            "now (our writes bump their change stamp); they will match the plan",
            project_name,
            report.issues_updated,
        )


def issue_plan(
    plan: Plan, snapshot: Snapshot, settings: Settings, baseline: Baseline | None
) -> Plan:
    """The plan whose values go onto the issues: ``plan`` itself, or with the weekly cadence
    the same data planned as of the last refresh day (see :mod:`tracker_bridge.cadence`)."""
    day = fields_as_of(plan.project.as_of, settings.write_back)
    if day == plan.project.as_of:
        return plan
    return make_plan(snapshot, settings, day, baseline=baseline)


def with_issue_fields(desired: DesiredState, issue_plan: Plan, settings: Settings) -> DesiredState:
    """``desired`` with the field values of ``issue_plan`` (the page stays as it is)."""
    return desired.model_copy(update={"fields": desired_fields(issue_plan, settings.fields)})
