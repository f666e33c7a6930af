"""Commands that run passes against the trackers: ``run``, ``publish`` and ``doctor``."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from tracker_bridge.cli.app import err, handle_errors, main
from tracker_bridge.cli.options import (
    as_of_option,
    config_option,
    dry_run_option,
    json_option,
    quiet_option,
)
from tracker_bridge.cli.output import (
    dump_json,
    print_doctor,
    print_result,
    progress_bar,
    result_json,
)
from tracker_bridge.cli.resolve import resolve_settings, status_date
from tracker_bridge.errors import TrackerBridgeError
from tracker_bridge.pipeline import PassResult, open_adapter
from tracker_bridge.planner.dates import dates_finding
from tracker_bridge.settings import Settings


def _run_projects(
    settings: Settings,
    names: list[str],
    as_of: dt.date,
    dry_run: bool,
    as_json: bool,
    quiet: bool,
    wait: float = 0.0,
    full: bool = False,
) -> None:
    from contextlib import ExitStack

    from tracker_bridge.store import Store
    from tracker_bridge.units import planning_units, run_unit

    results: list[PassResult] = []
    with ExitStack() as resources:
        # real runs record what they wrote (webhook echoes); run_unit takes the locks
        store = None if dry_run else resources.enter_context(Store.open(settings.store.path))
        for unit in planning_units(settings, names):
            with progress_bar(not (quiet or as_json), f"{unit.name}: fetching issues") as progress:
                unit_results = run_unit(
                    settings,
                    unit,
                    as_of=as_of,
                    dry_run=dry_run,
                    progress=progress,
                    store=store,
                    full=full,
                    wait=wait,
                )
            results.extend(unit_results)
            if not as_json:
                for result in unit_results:
                    print_result(result)
    if as_json:
        dump_json([result_json(r) for r in results])
    failed = [r.project for r in results if not r.ok]
    if failed:
        if not as_json:
            err.print(f"{len(failed)} of {len(results)} project(s) failed: {', '.join(failed)}")
        sys.exit(1)


def _project_names(settings: Settings, projects: tuple[str, ...], all_projects: bool) -> list[str]:
    if all_projects or not projects:
        if not settings.projects:
            raise click.UsageError("no [projects.*] in the config; see the examples in config/")
        if not all_projects and len(settings.projects) > 1:
            raise click.UsageError(
                "several projects configured: name them with --project or use --all"
            )
        return list(settings.projects)
    unknown = [name for name in projects if name not in settings.projects]
    if unknown:  # a typo is wrong usage (exit 2), not a failed project (exit 1)
        known = ", ".join(sorted(settings.projects)) or "none configured"
        raise click.UsageError(f"unknown project {unknown[0]!r} (configured: {known})")
    return list(projects)


@main.command()
@click.option("--project", "projects", multiple=True, help="A configured project (repeatable).")
@click.option("--all", "all_projects", is_flag=True, help="Every configured project.")
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="Seconds to wait for another run of the same project to finish (0: fail at once).",
)
@click.option(
    "--full",
    is_flag=True,
    help="Read every issue again instead of only those changed since the last run.",
)
@config_option
@as_of_option
@dry_run_option
@json_option
@quiet_option
@handle_errors
def run(
    projects: tuple[str, ...],
    all_projects: bool,
    wait_seconds: float,
    full: bool,
    config_path: Path | None,
    as_of: dt.datetime | None,
    dry_run: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Fetch, plan and publish: one pass per project or combined plan (safe from cron).

    Projects of a combined plan ([plans.NAME] in the config) are fetched and planned together:
    naming one of them runs the whole plan, and nothing is written unless every fetch worked.

    Each project is locked while its pass runs (a lock file beside the store), so a second
    run of the same project - cron overlapping itself or the webhook worker - waits up to
    --wait seconds, then reports "project X is being planned by another run (pid N)".

    Between full fetches (every full_fetch_hours, default 24, per project) a run reads only
    the issues changed since the last run (where the tracker's adapter can); relations added
    between issues that did not change otherwise are seen at the next full fetch, or at once
    with --full.

    \b
    Exit codes:
      0  every project done
      1  some project failed or was locked (the others still ran)
      2  wrong usage
    """
    settings = resolve_settings(config_path)
    names = _project_names(settings, projects, all_projects)
    _run_projects(
        settings, names, status_date(as_of), dry_run, as_json, quiet, wait_seconds, full=full
    )


@main.command()
@click.option("--project", required=True, help="A configured project.")
@config_option
@as_of_option
@dry_run_option
@json_option
@quiet_option
@handle_errors
def publish(
    project: str,
    config_path: Path | None,
    as_of: dt.datetime | None,
    dry_run: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Plan a project and write the plan back (custom fields and the wiki page)."""
    settings = resolve_settings(config_path)
    _run_projects(settings, [project], status_date(as_of), dry_run, as_json, quiet)


@main.command()
@click.option("--project", "projects", multiple=True, help="Check only these projects.")
@config_option
@json_option
@handle_errors
def doctor(projects: tuple[str, ...], config_path: Path | None, as_json: bool) -> None:
    """Check connectivity, API key, project access, custom fields and wiki for each project.

    Every finding has a stable id and, when something is wrong, the exact fix. Exit code 1
    when any check fails.
    """
    settings = resolve_settings(config_path)
    names = list(projects) or list(settings.projects)
    if not names:
        raise click.UsageError("no [projects.*] in the config; see the examples in config/")
    report: dict[str, list[dict[str, Any]]] = {}
    failed = False
    for name in names:
        try:
            findings = [
                *open_adapter(settings, name).check(),
                dates_finding(settings.projects[name]),
            ]
        except TrackerBridgeError as e:
            findings = []
            report[name] = [{"id": "config.invalid", "ok": False, "message": str(e), "fix": None}]
            failed = True
            continue
        report[name] = [f.model_dump() for f in findings]
        failed = failed or not all(f.ok for f in findings)
    if as_json:
        dump_json(report)
    else:
        print_doctor(report)
    if failed:
        sys.exit(1)
