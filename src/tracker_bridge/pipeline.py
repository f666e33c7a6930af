"""One pass for one project: fetch -> plan -> render -> diff -> apply.

Adapters are found through the ``tracker_bridge.adapters`` entry-point group, the same way a
third-party adapter (Jira, GitLab...) would register itself. Each project is its own unit of
work: a failure is reported with the project's name and never reads as "nothing there".
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Protocol

from pydantic import SecretStr

from tracker_bridge.errors import ConfigError, TrackerBridgeError
from tracker_bridge.model import (
    ApplyReport,
    Baseline,
    ChangeSet,
    DesiredState,
    Finding,
    Plan,
    Snapshot,
)
from tracker_bridge.planner import plan as make_plan
from tracker_bridge.publish import render_desired
from tracker_bridge.settings import (
    FieldNames,
    ProjectSettings,
    RiskSettings,
    Settings,
    TrackerSettings,
)
from tracker_bridge.store import active_baseline

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


class TrackerAdapter(Protocol):
    """What every tracker adapter offers; see each method's docstring in the adapters."""

    requests_made: int

    def fetch(self) -> Snapshot:
        """Read the project into a Snapshot (all items, relations, milestones, time)."""
        ...

    def diff(self, snapshot: Snapshot, desired: DesiredState) -> ChangeSet:
        """Compare desired state with the tracker's current state; only real changes."""
        ...

    def apply(self, changes: ChangeSet) -> ApplyReport:
        """Write exactly the changes; nothing when the change set is empty."""
        ...

    def check(self) -> list[Finding]:
        """Check connectivity, credentials, project, fields and wiki; stable finding ids."""
        ...


class AdapterFactory(Protocol):
    def __call__(
        self,
        tracker: TrackerSettings,
        project: ProjectSettings,
        field_names: FieldNames,
        api_key: SecretStr,
        *,
        progress: Progress | None = None,
        tracker_name: str = ...,
        risk: RiskSettings | None = None,
    ) -> TrackerAdapter: ...


def adapter_factory(kind: str) -> AdapterFactory:
    """The adapter class registered for a tracker kind."""
    found = {ep.name: ep for ep in entry_points(group="tracker_bridge.adapters")}
    if kind not in found:
        known = ", ".join(sorted(found)) or "none installed"
        raise ConfigError(f"no adapter for tracker kind {kind!r} (installed: {known})")
    factory: AdapterFactory = found[kind].load()
    return factory


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


def desired_state(
    plan: Plan,
    snapshot: Snapshot,
    settings: Settings,
    project_name: str,
    baseline: Baseline | None = None,
) -> DesiredState:
    """Render the plan into what the project's tracker should show."""
    project = settings.projects[project_name]
    tracker = settings.trackers[project.tracker]
    return render_desired(
        plan,
        snapshot,
        markup=tracker.markup,
        tracker_kind=tracker.kind,
        page_title=project.wiki_page,
        field_names=settings.fields,
        baseline=baseline,
    )


class WriteRecorder(Protocol):
    """Where a pass records the values it wrote (the store; see ``Store.record_written``)."""

    def record_written(self, project: str, changes: ChangeSet) -> int: ...


def record_written(store: WriteRecorder, project_name: str, changes: ChangeSet) -> None:
    """Remember what a pass wrote; a failure here only weakens webhook echo recognition."""
    try:
        store.record_written(project_name, changes)
    except TrackerBridgeError as e:  # the writes happened; only echo recognition suffers
        log.warning("project %s: could not record the values written: %s", project_name, e)


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


def run_pass(
    settings: Settings,
    project_name: str,
    *,
    as_of: dt.date,
    dry_run: bool = False,
    progress: Progress | None = None,
    store: WriteRecorder | None = None,
) -> PassResult:
    """Fetch, plan, render, diff and (unless dry run) apply for one project.

    Errors that belong to this project are caught and reported in the result, so the caller
    can go on with the next project; a fetch that failed never leads to writes. With a
    ``store``, the field values written are recorded (``store.record_written``) so that the
    webhook server recognises their echoes.
    """
    import time

    result = PassResult(project=project_name, dry_run=dry_run)
    adapter: TrackerAdapter | None = None
    try:
        adapter = open_adapter(settings, project_name, progress)
        t0 = time.perf_counter()
        snapshot = adapter.fetch()
        t1 = time.perf_counter()
        result.items = len(snapshot.items)
        result.dependencies = len(snapshot.dependencies)
        baseline = active_baseline(settings.store.path, project_name)
        result.plan = make_plan(snapshot, settings, as_of, baseline=baseline)
        t2 = time.perf_counter()
        desired = desired_state(result.plan, snapshot, settings, project_name, baseline)
        result.changes = adapter.diff(snapshot, desired)
        t3 = time.perf_counter()
        if not dry_run:
            result.report = adapter.apply(result.changes)
            if store is not None:
                record_written(store, project_name, result.changes)
        t4 = time.perf_counter()
        result.timings = {"fetch": t1 - t0, "plan": t2 - t1, "diff": t3 - t2, "apply": t4 - t3}
        result.ok = True
    except TrackerBridgeError as e:
        result.error = str(e)
        log.warning("project %s failed: %s", project_name, e)
    finally:
        if adapter is not None:
            result.requests = adapter.requests_made
            close_adapter(adapter)
    return result


def close_adapter(adapter: TrackerAdapter) -> None:
    """Release the adapter's HTTP connections, for adapters that hold any."""
    close = getattr(adapter, "close", None)
    if callable(close):
        close()
