"""A plan over several projects: fetch each, plan them together, publish to each.

A GitHub issue saying ``Blocked by redmine#123`` (or a Redmine issue linking a GitHub issue)
becomes a real dependency once both projects are in one ``[plans.NAME]``. Every project still
receives only its own items' field values; its wiki page shows the combined report.

All fetches must succeed before anything is written: planning a part of the network would
read as "those items are gone" and move dates for the wrong reason.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from tracker_bridge.adapters.protocol import Progress, TrackerAdapter
from tracker_bridge.errors import InputError, TrackerBridgeError
from tracker_bridge.model import ApplyReport, Dependency, DesiredState, Project, Snapshot, Source
from tracker_bridge.pipeline import (
    PassResult,
    WriteRecorder,
    apply_and_record,
    chart_cache,
    desired_state,
    issue_plan,
    open_adapter,
    unexpected_error,
    with_issue_fields,
)
from tracker_bridge.planner import plan as make_plan
from tracker_bridge.settings import Settings
from tracker_bridge.store import active_baseline

log = logging.getLogger(__name__)


def merge_snapshots(
    title: str, parts: dict[str, Snapshot], external: dict[str, list[Dependency]]
) -> Snapshot:
    """One snapshot of all parts; the cross-project dependencies each part's fetch found
    (``external``, by project) are added where both ends are in the plan."""
    items, deps, milestones, entries, risks = [], [], [], [], []
    owner: dict[str, str] = {}
    for name, part in parts.items():
        for item in part.items:
            if item.key in owner:
                raise InputError(
                    f"item key {item.key!r} comes from both {owner[item.key]!r} and {name!r}; "
                    "two trackers of the same kind in one plan need distinct keys"
                )
            owner[item.key] = name
        items += part.items
        deps += part.dependencies
        milestones += part.milestones
        entries += part.time_entries
        risks += part.risks
    known_edges = {(d.predecessor, d.successor) for d in deps}
    for name, found in external.items():
        for dep in found:
            edge = (dep.predecessor, dep.successor)
            if dep.predecessor in owner and dep.successor in owner and edge not in known_edges:
                deps.append(dep)
                known_edges.add(edge)
            elif edge not in known_edges:
                log.warning(
                    "%s: dependency %s -> %s points outside the plan; ignored",
                    name,
                    dep.predecessor,
                    dep.successor,
                )
    start = min(part.project.start for part in parts.values())
    return Snapshot(
        project=Project(name=title, start=start),
        items=items,
        dependencies=deps,
        milestones=milestones,
        time_entries=entries,
        risks=risks,
        source=Source(kind="combined", project=title),
    )


def own_part(desired: DesiredState, keys: set[str]) -> DesiredState:
    """The desired state restricted to one project's own items (pages are shared)."""
    return DesiredState(
        fields={key: values for key, values in desired.fields.items() if key in keys},
        pages=desired.pages,
    )


def run_combined_pass(
    settings: Settings,
    plan_name: str,
    *,
    as_of: dt.date,
    dry_run: bool = False,
    progress: Progress | None = None,
    store: WriteRecorder | None = None,
) -> list[PassResult]:
    """Fetch every project of the plan, plan them together, then diff/apply per project.

    The plan's baseline is the active baseline saved under the plan's name.
    """
    combined = settings.plans[plan_name]
    results = {name: PassResult(project=name, dry_run=dry_run) for name in combined.projects}
    adapters: dict[str, TrackerAdapter] = {}
    parts: dict[str, Snapshot] = {}
    external: dict[str, list[Dependency]] = {}
    t0 = time.perf_counter()
    try:
        for name in combined.projects:
            adapters[name] = open_adapter(settings, name, progress)
            read = adapters[name].fetch()
            parts[name], external[name] = read.snapshot, read.external_dependencies
        snapshot = merge_snapshots(combined.name or plan_name, parts, external)
        baseline = active_baseline(settings.store, plan_name)
        plan = make_plan(snapshot, settings, as_of, baseline=baseline)
    except Exception as e:  # no project of the plan is written; other units still run
        failed = next((n for n in combined.projects if n not in parts), None)
        text = str(e) if isinstance(e, TrackerBridgeError) else unexpected_error(plan_name, e)
        for name, result in results.items():
            result.error = f"plan {plan_name!r}: " + (
                f"fetch of {failed!r} failed: {text}" if failed else text
            )
            result.requests = adapters[name].requests_made if name in adapters else 0
        for adapter in adapters.values():
            adapter.close()
        return list(results.values())
    fields_plan = issue_plan(plan, snapshot, settings, baseline)
    fetched = time.perf_counter() - t0

    for name, result in results.items():
        adapter = adapters[name]
        part = parts[name]
        result.items = len(part.items)
        result.dependencies = len(part.dependencies)
        result.plan = plan
        try:
            charts = chart_cache(store, name)
            desired = desired_state(plan, snapshot, settings, name, adapter, baseline, charts)
            desired = with_issue_fields(desired, fields_plan, settings)
            result.fields_as_of = fields_plan.project.as_of
            result.changes = adapter.diff(part, own_part(desired, {i.key for i in part.items}))
            if not dry_run:
                result.report = apply_and_record(adapter, result.changes, store, name)
            result.ok = True
        except TrackerBridgeError as e:
            result.error = str(e)
            if isinstance(e.report, ApplyReport):
                result.report = e.report
        except Exception as e:  # one project's bug must not stop the plan's other projects
            result.error = unexpected_error(name, e)
        finally:
            result.requests = adapter.requests_made
            result.timings = {"fetch_and_plan": fetched}
            adapter.close()
    return list(results.values())
