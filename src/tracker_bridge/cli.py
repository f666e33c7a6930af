"""The ``tracker-bridge`` command line: a thin layer over the library.

Only this module prints. Library errors (``TrackerBridgeError``) become one line on stderr and
exit code 1; usage errors exit with 2 (click's convention); ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tracker_bridge import __version__
from tracker_bridge.errors import TrackerBridgeError
from tracker_bridge.model import ChangeSet, Plan, Snapshot
from tracker_bridge.pipeline import PassResult, open_adapter, run_pass
from tracker_bridge.planner import plan as make_plan
from tracker_bridge.settings import Settings, load_settings
from tracker_bridge.snapshot_file import load_snapshot, save_snapshot

F = TypeVar("F", bound=Callable[..., Any])
CONFIG_ENV = "TRACKER_BRIDGE_CONFIG"
DEFAULT_CONFIG = Path("tracker-bridge.toml")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


# ----------------------------------------------------------------------- shared options


def config_option(fn: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"Config TOML (default: ${CONFIG_ENV}, else ./{DEFAULT_CONFIG} if present).",
    )(fn)


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(fn)


def as_of_option(fn: F) -> F:
    return click.option(
        "--as-of",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        default=None,
        help="Status date (YYYY-MM-DD); default: today.",
    )(fn)


def dry_run_option(fn: F) -> F:
    return click.option(
        "--dry-run", is_flag=True, help="Print exactly what would be written; write nothing."
    )(fn)


def quiet_option(fn: F) -> F:
    return click.option(
        "--quiet", "-q", is_flag=True, help="No progress bar (automatic when not on a terminal)."
    )(fn)


def resolve_settings(config_path: Path | None) -> Settings:
    """Flags > environment > ./tracker-bridge.toml > defaults."""
    if config_path is None and os.environ.get(CONFIG_ENV):
        config_path = Path(os.environ[CONFIG_ENV])
    if config_path is None and DEFAULT_CONFIG.exists():
        config_path = DEFAULT_CONFIG
    return load_settings(config_path)


def status_date(value: dt.datetime | None) -> dt.date:
    return value.date() if value else dt.date.today()


def dump_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@contextmanager
def progress_bar(enabled: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal; nothing under cron, pipes, --json or --quiet."""
    if not enabled or not err.is_terminal:
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def handle_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TrackerBridgeError as e:
            if click.get_current_context().find_root().params.get("debug"):
                raise
            first, *rest = str(e).splitlines() or ["error"]
            err.print(f"tracker-bridge: error: {first}", markup=False)
            for line in rest:
                err.print(f"  {line}", markup=False)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


# ----------------------------------------------------------------------------- commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.version_option(__version__, prog_name="tracker-bridge")
def main(debug: bool) -> None:
    """Critical path, risk and budget for Redmine, Planio and GitHub, written back into the
    tracker as custom-field values and a wiki page."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@main.command()
@click.argument("what", type=click.Choice(["snapshot", "plan", "config"]))
def schema(what: str) -> None:
    """Print the JSON Schema of the snapshot file, the plan JSON or the config."""
    models: dict[str, type[BaseModel]] = {"snapshot": Snapshot, "plan": Plan, "config": Settings}
    dump_json(models[what].model_json_schema())


def _or_dash(value: object) -> str:
    return "–" if value is None else str(value)


def _plan_table(plan: Plan, snapshot: Snapshot) -> None:
    titles = {item.key: item.title for item in snapshot.items}
    with_risk = any(item.p80_finish is not None for item in plan.items.values())
    table = Table(title=f"{plan.project.name}: plan as of {plan.project.as_of}")
    table.add_column("item", no_wrap=True)
    table.add_column("title", no_wrap=True, overflow="ellipsis", max_width=34)
    for column in ("early start", "early finish", "late start", "late finish"):
        table.add_column(column, no_wrap=True)
    table.add_column("TF", justify="right", no_wrap=True)  # total float, working days
    table.add_column("FF", justify="right", no_wrap=True)  # free float
    table.add_column("critical", no_wrap=True)
    if with_risk:
        table.add_column("P80 finish", no_wrap=True)
        table.add_column("risk", justify="right", no_wrap=True)
    for key, item in sorted(plan.items.items(), key=lambda kv: (kv[1].early_start, kv[0])):
        row = [
            key,
            titles.get(key, ""),
            str(item.early_start),
            str(item.early_finish),
            str(item.late_start),
            str(item.late_finish),
            str(item.total_float),
            str(item.free_float),
            "yes" if item.critical else ("done" if item.state == "done" else ""),
        ]
        if with_risk:
            row += [str(item.p80_finish or ""), str(item.risk_score or "")]
        table.add_row(*row)
    out.print(table)
    if plan.milestones:
        milestones = Table(title="Milestones")
        for column in ("milestone", "due", "forecast", "float (d)"):
            milestones.add_column(column, no_wrap=True)
        if with_risk:
            for column in ("P50", "P80", "P95", "on time"):
                milestones.add_column(column, no_wrap=True)
        for m in plan.milestones:
            row = [m.name, _or_dash(m.due), _or_dash(m.finish), _or_dash(m.total_float)]
            if with_risk:
                chance = m.probability_on_time
                row += [
                    str(m.p50 or "–"),
                    str(m.p80 or "–"),
                    str(m.p95 or "–"),
                    "–" if chance is None else f"{chance:.0%}",
                ]
            milestones.add_row(*row)
        out.print(milestones)
    project = plan.project
    out.print(f"Project start {project.start}, forecast finish [bold]{project.finish}[/bold].")
    for i, path in enumerate(project.critical_paths, 1):
        out.print(f"Critical path {i}: " + " -> ".join(path), markup=False)
    if project.critical_paths_truncated:
        out.print("(more critical paths exist; raise planner.max_critical_paths to list them)")
    for warning in plan.warnings:
        err.print(f"warning: {warning.message}", markup=False)


@main.command("plan")
@click.option(
    "--snapshot",
    "snapshot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Snapshot file (JSON) to plan.",
)
@click.option("--project", help="Plan a configured project, fetched live from its tracker.")
@config_option
@as_of_option
@json_option
@quiet_option
@handle_errors
def plan_command(
    snapshot_path: Path | None,
    project: str | None,
    config_path: Path | None,
    as_of: dt.datetime | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Compute the critical-path plan of a snapshot file or a configured project."""
    if (snapshot_path is None) == (project is None):
        raise click.UsageError("give exactly one of --snapshot FILE or --project NAME")
    settings = resolve_settings(config_path)
    if snapshot_path is not None:
        snapshot = load_snapshot(snapshot_path)
    else:
        assert project is not None
        with progress_bar(not (quiet or as_json), "fetching issues") as progress:
            snapshot = open_adapter(settings, project, progress).fetch()
    from tracker_bridge.store import active_baseline

    # compare with the project's active baseline, if one was ever saved (no store: none)
    baseline = active_baseline(settings.store.path, project or snapshot.project.name)
    result = make_plan(snapshot, settings, status_date(as_of), baseline=baseline)
    if as_json:
        dump_json(result.to_json_dict())
    else:
        _plan_table(result, snapshot)
        if baseline is not None:
            slip = result.overlays["baseline"]["project"]["slip_days"]
            out.print(
                f"Against baseline {baseline.name!r} (finish {baseline.project_finish}): "
                f"{slip:+d} working days.",
                markup=False,
            )


@main.command()
@click.option("--project", required=True, help="A project from the config.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the snapshot here (default: standard output).",
)
@config_option
@quiet_option
@handle_errors
def fetch(project: str, output: Path | None, config_path: Path | None, quiet: bool) -> None:
    """Fetch a project from its tracker into a snapshot file."""
    settings = resolve_settings(config_path)
    with progress_bar(not quiet and output is not None, "fetching issues") as progress:
        adapter = open_adapter(settings, project, progress)
        snapshot = adapter.fetch()
    if output is None:
        click.echo(snapshot.model_dump_json(indent=2, exclude_none=True))
    else:
        save_snapshot(output, snapshot)
        err.print(
            f"{project}: {len(snapshot.items)} items, {len(snapshot.dependencies)} dependencies, "
            f"{len(snapshot.milestones)} milestones, {len(snapshot.time_entries)} time entries "
            f"-> {output} ({adapter.requests_made} requests)",
            markup=False,
        )


def _changes_json(changes: ChangeSet | None) -> dict[str, Any] | None:
    if changes is None:
        return None
    return {
        "fields": [c.model_dump(mode="json") for c in changes.fields],
        "pages": [
            {"title": p.title, "action": p.action, "lines_changed": p.lines_changed}
            for p in changes.pages
        ],
    }


def _result_json(result: PassResult) -> dict[str, Any]:
    plan = result.plan
    return {
        "project": result.project,
        "ok": result.ok,
        "error": result.error,
        "dry_run": result.dry_run,
        "items": result.items,
        "dependencies": result.dependencies,
        "requests": result.requests,
        "fetch_mode": result.fetch_mode,
        "full_fetch_reason": result.full_fetch_reason or None,
        "finish": str(plan.project.finish) if plan else None,
        "critical_paths": plan.project.critical_paths if plan else None,
        "changes": _changes_json(result.changes),
        "written": result.report.model_dump() if result.report else None,
        "timings": {k: round(v, 3) for k, v in result.timings.items()},
    }


def _print_changes(changes: ChangeSet) -> None:
    if changes.empty:
        out.print("  no changes: the tracker already shows this plan")
        return
    if changes.fields:
        table = Table(show_edge=False)
        for column in ("issue", "field", "old", "new"):
            table.add_column(column)
        for change in changes.fields:
            old = "(unset)" if change.old in (None, "") else change.old
            table.add_row(change.item, change.field, old, change.new or "(cleared)")
        out.print(table)
    for page in changes.pages:
        verb = "create page" if page.action == "create" else "update page"
        out.print(
            f"  {verb} {page.title!r}: block changed, {page.lines_changed} lines", markup=False
        )


def _print_result(result: PassResult) -> None:
    if not result.ok:
        err.print(f"{result.project}: FAILED: {result.error}", markup=False)
        return
    assert result.plan is not None and result.changes is not None
    project = result.plan.project
    out.print(
        f"[bold]{result.project}[/bold]: {result.items} items, {result.dependencies} "
        f"dependencies; finish {project.finish}; critical path: "
        + (" -> ".join(project.critical_paths[0]) if project.critical_paths else "none"),
    )
    if result.dry_run:
        out.print("  dry run: these writes would be made")
        _print_changes(result.changes)
    elif result.report is not None:
        report = result.report
        if result.changes.empty:
            out.print("  no changes: the tracker already shows this plan")
        else:
            out.print(
                f"  wrote {report.fields_written} field values on {report.issues_updated} "
                f"issues, {report.pages_written} wiki page(s)"
            )
    fetch = ""
    if result.fetch_mode:
        reason = f", {result.full_fetch_reason}" if result.full_fetch_reason else ""
        fetch = f" ({result.fetch_mode} fetch{reason})"
    out.print(f"  {result.requests} API requests{fetch}", style="dim", markup=False)


def _plan_units(settings: Settings, names: list[str]) -> list[tuple[str | None, list[str]]]:
    """Group project names into passes: a combined plan runs all of its projects at once."""
    plan_of = {p: plan for plan, cfg in settings.plans.items() for p in cfg.projects}
    units: list[tuple[str | None, list[str]]] = []
    for name in names:
        plan = plan_of.get(name)
        if plan is None:
            units.append((None, [name]))
        elif all(unit[0] != plan for unit in units):
            units.append((plan, list(settings.plans[plan].projects)))
    return units


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

    from tracker_bridge.combined import run_combined_pass
    from tracker_bridge.store import ProjectLockedError, Store, project_lock

    results: list[PassResult] = []
    with ExitStack() as resources:
        # real runs take the per-project lock and record what they wrote (webhook echoes)
        store = None if dry_run else resources.enter_context(Store.open(settings.store.path))
        for plan_name, members in _plan_units(settings, names):
            label = f"{plan_name or members[0]}: fetching issues"
            try:
                with ExitStack() as held:
                    if not dry_run:
                        for member in members:
                            held.enter_context(project_lock(settings.store.path, member, wait=wait))
                    with progress_bar(not (quiet or as_json), label) as progress:
                        if plan_name is None:
                            unit_results = [
                                run_pass(
                                    settings,
                                    members[0],
                                    as_of=as_of,
                                    dry_run=dry_run,
                                    progress=progress,
                                    store=store,
                                    full=full,
                                )
                            ]
                        else:
                            unit_results = run_combined_pass(
                                settings,
                                plan_name,
                                as_of=as_of,
                                dry_run=dry_run,
                                progress=progress,
                                store=store,
                            )
            except ProjectLockedError as e:
                unit_results = [
                    PassResult(project=m, error=str(e), dry_run=dry_run) for m in members
                ]
            results.extend(unit_results)
            if not as_json:
                for result in unit_results:
                    _print_result(result)
    if as_json:
        dump_json([_result_json(r) for r in results])
    failed = [r.project for r in results if not r.ok]
    if failed:
        if not as_json:
            err.print(f"{len(failed)} of {len(results)} project(s) failed: {', '.join(failed)}")
        sys.exit(1)


def _project_names(settings: Settings, projects: tuple[str, ...], all_projects: bool) -> list[str]:
    if all_projects or not projects:
        if not settings.projects:
            raise click.UsageError("no [projects.*] in the config; see config/redmine.toml")
        if not all_projects and len(settings.projects) > 1:
            raise click.UsageError(
                "several projects configured: name them with --project or use --all"
            )
        return list(settings.projects)
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
    """Fetch, plan and publish: one full pass per project (safe to run from cron).

    Projects of a combined plan ([plans.NAME] in the config) are fetched and planned together:
    naming one of them runs the whole plan, and nothing is written unless every fetch worked.

    Each project is locked while its pass runs (a lock file beside the store), so a second
    run of the same project - cron overlapping itself or the webhook worker - waits up to
    --wait seconds, then reports "project X is being planned by another run (pid N)".

    Between full fetches (every full_fetch_hours, default 24, per project) a run reads only
    the issues changed since the last run (Redmine); relations added between issues that did
    not change otherwise are seen at the next full fetch, or at once with --full.

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
        raise click.UsageError("no [projects.*] in the config; see config/redmine.toml")
    report: dict[str, list[dict[str, Any]]] = {}
    failed = False
    for name in names:
        try:
            findings = open_adapter(settings, name).check()
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
        for name, findings_json in report.items():
            table = Table(title=f"doctor: {name}")
            for column in ("", "id", "finding", "fix"):
                table.add_column(column)
            for f in findings_json:
                table.add_row(
                    "ok" if f["ok"] else "[red]FAIL[/red]", f["id"], f["message"], f["fix"] or ""
                )
            out.print(table)
    if failed:
        sys.exit(1)


@main.command()
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Where the demo keeps its Redmine database, config and key file.",
)
@click.option("--port", type=int, default=3000, show_default=True, help="Loopback port.")
@click.option("--no-wait", is_flag=True, help="Stop Redmine after the run instead of serving.")
@handle_errors
def demo(workdir: Path, port: int, no_wait: bool) -> None:
    """Start a local Redmine with the MedCo example, plan it and publish the plan into it.

    Installs Debian's redmine packages when missing (needs root), starts Redmine on
    127.0.0.1, seeds the example project, runs `tracker-bridge run` against it and keeps
    Redmine up until Ctrl-C so you can look at the result.
    """
    import socket
    import subprocess
    import time

    from tracker_bridge import demo as demo_data
    from tracker_bridge.local_redmine import LocalRedmineError, ensure_installed, start

    def say(message: str) -> None:
        err.print(f"[dim]demo:[/dim] {message}")

    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    with socket.socket() as probe:
        free = probe.connect_ex(("127.0.0.1", port)) != 0
    try:
        ensure_installed(progress=say)
        say("starting Redmine 5 on loopback (about 10 s)")
        instance = start(workdir / "redmine", port=port if free else None, progress=say)
    except LocalRedmineError as e:
        raise click.ClickException(str(e)) from None
    try:
        example = demo_data.load_example()
        seeded = demo_data.seed(instance, example, dt.date.today(), say)
        key_file = workdir / "planbot.key"
        key_file.write_text(instance.bot_key + "\n", encoding="utf-8")
        key_file.chmod(0o600)
        config = workdir / "tracker-bridge.toml"
        config.write_text(demo_data.demo_config(instance.url, key_file, seeded), encoding="utf-8")
        command = ["tracker-bridge", "run", "--config", str(config), "--as-of", str(seeded.as_of)]
        say("$ " + " ".join(command))
        subprocess.run([sys.executable, "-m", "tracker_bridge.cli", *command[1:]], check=False)
        wiki = f"{instance.url}/projects/{seeded.identifier}/wiki/Plan"
        out.print()
        out.print(f"[bold]The plan is in Redmine:[/bold] {wiki}")
        out.print(
            f"Issues with the computed fields: {instance.url}/projects/{seeded.identifier}/issues"
            "?set_filter=1&status_id=*&sort=id&c[]=subject&c[]=assigned_to&c[]=fixed_version"
            + "".join(f"&c[]=cf_{i}" for i in sorted(instance.custom_field_ids.values())[:5])
        )
        out.print(f"Log in as admin / admin to edit. Config used: {config}")
        out.print(f"Try: tracker-bridge run --config {config} --dry-run")
        if no_wait:
            return
        out.print("Redmine keeps running; press Ctrl-C to stop it.")
        while instance.running:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        instance.stop()


# ----------------------------------------------------------------------------- baselines


def _snapshot_for(
    settings: Settings, project: str | None, snapshot_path: Path | None, quiet: bool
) -> tuple[str, Snapshot]:
    """The store's project name and the snapshot: a configured project, or a snapshot file
    (whose project name names it in the store)."""
    if (snapshot_path is None) == (project is None):
        raise click.UsageError("give exactly one of --snapshot FILE or --project NAME")
    if snapshot_path is not None:
        snapshot = load_snapshot(snapshot_path)
        return snapshot.project.name, snapshot
    assert project is not None
    with progress_bar(not quiet, "fetching issues") as progress:
        snapshot = open_adapter(settings, project, progress).fetch()
    return project, snapshot


def _stored_project(store: Any, project: str | None, snapshot_path: Path | None) -> str:
    """--project, else the snapshot file's project name, else the only project stored."""
    if project is not None and snapshot_path is not None:
        raise click.UsageError("give at most one of --snapshot FILE or --project NAME")
    if project is not None:
        return project
    if snapshot_path is not None:
        return load_snapshot(snapshot_path).project.name
    names: list[str] = store.projects()
    if len(names) == 1:
        return names[0]
    if not names:
        raise click.UsageError(
            f"no baselines in {store.path}; save one with: tracker-bridge baseline save"
        )
    raise click.UsageError(
        "baselines of several projects are stored; name one with --project: " + ", ".join(names)
    )


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _project_option(fn: F) -> F:
    return click.option("--project", help="A configured project (its name in the store).")(fn)


def _snapshot_option(fn: F) -> F:
    return click.option(
        "--snapshot",
        "snapshot_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Snapshot file (JSON); its project name names it in the store.",
    )(fn)


@main.group()
def baseline() -> None:
    """Save, list and show baselines: the plan frozen as the yardstick for slip, cost and scope.

    The active baseline of a project is what `plan` compares with. Baselines live in the local
    store ([store] path in the config; default: the user data directory).
    """


@baseline.command("save")
@click.option("--name", help="Baseline name (default: the status date, YYYY-MM-DD).")
@_project_option
@_snapshot_option
@config_option
@as_of_option
@json_option
@quiet_option
@handle_errors
def baseline_save(
    name: str | None,
    project: str | None,
    snapshot_path: Path | None,
    config_path: Path | None,
    as_of: dt.datetime | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Plan the project now and save the plan as its new active baseline."""
    from tracker_bridge.store import Store

    settings = resolve_settings(config_path)
    store_project, snapshot = _snapshot_for(settings, project, snapshot_path, quiet or as_json)
    result = make_plan(snapshot, settings, status_date(as_of))
    with Store.open(settings.store.path) as store:
        saved = store.save_baseline(store_project, result, snapshot, name)
        path = store.path
    if as_json:
        dump_json(
            {
                "project": store_project,
                "name": saved.name,
                "active": True,
                "saved_at": saved.saved_at.isoformat(),
                "as_of": str(saved.as_of),
                "project_finish": str(saved.project_finish),
                "items": len(saved.items),
                "budget_at_completion": saved.budget_at_completion,
                "store": str(path),
            }
        )
        return
    bac = saved.budget_at_completion
    out.print(
        f"Saved baseline {saved.name!r} of {store_project!r} (now active): "
        f"{len(saved.items)} items, finish {saved.project_finish}"
        + (f", BAC {_money(bac)} {settings.budget.currency}" if bac is not None else "")
        + f" -> {path}",
        markup=False,
    )


@baseline.command("list")
@_project_option
@_snapshot_option
@config_option
@json_option
@handle_errors
def baseline_list(
    project: str | None, snapshot_path: Path | None, config_path: Path | None, as_json: bool
) -> None:
    """List saved baselines (of one project, or of all); the active one is marked."""
    from tracker_bridge.store import Store

    if project is not None and snapshot_path is not None:
        raise click.UsageError("give at most one of --snapshot FILE or --project NAME")
    settings = resolve_settings(config_path)
    if snapshot_path is not None:
        project = load_snapshot(snapshot_path).project.name
    with Store.open(settings.store.path) as store:
        infos = store.list_baselines(project)
    if as_json:
        dump_json(
            [
                {
                    "project": i.project,
                    "name": i.name,
                    "active": i.active,
                    "saved_at": i.saved_at.isoformat(),
                    "as_of": str(i.as_of),
                    "project_finish": str(i.project_finish),
                    "items": i.items,
                    "budget_at_completion": i.budget_at_completion,
                }
                for i in infos
            ]
        )
        return
    if not infos:
        out.print("No baselines saved yet; save one with: tracker-bridge baseline save")
        return
    table = Table(title="baselines")
    for column in ("project", "name", "active", "saved at", "as of", "finish"):
        table.add_column(column)
    for column in ("items", "BAC"):
        table.add_column(column, justify="right")
    for i in infos:
        table.add_row(
            i.project,
            i.name,
            "yes" if i.active else "",
            i.saved_at.strftime("%Y-%m-%d %H:%M"),
            str(i.as_of),
            str(i.project_finish),
            str(i.items),
            _money(i.budget_at_completion),
        )
    out.print(table)


@baseline.command("show")
@click.option("--name", help="Baseline name (default: the active baseline).")
@_project_option
@_snapshot_option
@config_option
@json_option
@handle_errors
def baseline_show(
    name: str | None,
    project: str | None,
    snapshot_path: Path | None,
    config_path: Path | None,
    as_json: bool,
) -> None:
    """Show one baseline: its dates, milestone finishes, budget and items."""
    from tracker_bridge.errors import StoreError
    from tracker_bridge.store import Store

    settings = resolve_settings(config_path)
    with Store.open(settings.store.path) as store:
        store_project = _stored_project(store, project, snapshot_path)
        saved = store.get_baseline(store_project, name)
        if saved is None:
            raise StoreError(
                f"project {store_project!r} has no active baseline; save one with: "
                "tracker-bridge baseline save"
            )
        active = store.is_active(store_project, saved.name)
    if as_json:
        dump_json({"project": store_project, "active": active, **saved.model_dump(mode="json")})
        return
    out.print(
        f"[bold]{store_project}[/bold]: baseline {saved.name!r}"
        + (" (active)" if active else "")
        + f", saved {saved.saved_at:%Y-%m-%d %H:%M}, status date {saved.as_of}, "
        f"finish {saved.project_finish}, BAC {_money(saved.budget_at_completion)}",
    )
    if saved.milestone_finish:
        milestones = Table(title="milestones")
        milestones.add_column("milestone")
        milestones.add_column("finish")
        for key, finish in saved.milestone_finish.items():
            milestones.add_row(key, str(finish) if finish else "-")
        out.print(milestones)
    table = Table(title="items")
    for column in ("item", "title", "early start", "early finish", "milestone"):
        table.add_column(column)
    for column in ("estimate (h)", "planned cost"):
        table.add_column(column, justify="right")
    for key, item in sorted(saved.items.items(), key=lambda kv: (kv[1].early_start, kv[0])):
        table.add_row(
            key,
            item.title[:40],
            str(item.early_start),
            str(item.early_finish),
            item.milestone or "",
            "-" if item.estimate_hours is None else f"{item.estimate_hours:g}",
            _money(item.planned_cost),
        )
    out.print(table)


@baseline.command("activate")
@click.option("--name", required=True, help="The baseline to make active.")
@_project_option
@_snapshot_option
@config_option
@handle_errors
def baseline_activate(
    name: str, project: str | None, snapshot_path: Path | None, config_path: Path | None
) -> None:
    """Make another saved baseline the one `plan` compares with."""
    from tracker_bridge.store import Store

    settings = resolve_settings(config_path)
    with Store.open(settings.store.path) as store:
        store_project = _stored_project(store, project, snapshot_path)
        store.set_active(store_project, name)
    out.print(f"Baseline {name!r} of {store_project!r} is now active.", markup=False)


@main.group()
def setup() -> None:
    """One-time set-up in a tracker (fields tracker-bridge writes)."""


@setup.command("github")
@click.option("--project", required=True, help="A configured GitHub project.")
@click.option("--yes", is_flag=True, help="Create the missing fields without asking.")
@click.option(
    "--overlay-fields",
    is_flag=True,
    help="Also create the optional overlay fields (risk score, P80 finish, criticality...).",
)
@config_option
@handle_errors
def setup_github(project: str, yes: bool, overlay_fields: bool, config_path: Path | None) -> None:
    """List the Projects (v2) fields the board lacks and create them (after confirmation).

    Dates (early start/finish, late finish) become DATE fields, total float a NUMBER field,
    critical a single-select field with the options Yes and No. The overlay fields are
    optional (values are skipped while the board lacks them); --overlay-fields adds them.
    """
    from tracker_bridge.adapters.github import GitHubAdapter

    settings = resolve_settings(config_path)
    adapter = open_adapter(settings, project)
    if not isinstance(adapter, GitHubAdapter):
        raise click.UsageError(f"project {project!r} is not on a GitHub tracker")
    required = set(settings.fields.required())
    missing = [
        entry
        for entry in adapter.missing_project_fields()
        if overlay_fields or entry[0] in required
    ]
    board = adapter.settings.project_v2
    if not missing:
        out.print(f"Projects board {board} has every field tracker-bridge writes.", markup=False)
        return
    out.print(f"Projects board {board} lacks:", markup=False)
    for logical, name, data_type in missing:
        out.print(f"  {name!r} ({data_type}, fields.{logical})", markup=False)
    if not yes and not click.confirm("Create them?", default=True):
        out.print("Nothing created.", markup=False)
        return
    for name in adapter.create_project_fields(missing):
        out.print(f"created {name!r}", markup=False)


# ----------------------------------------------------------------- webhooks and the queue


def _startup_checks(settings: Settings) -> None:
    """The doctor checks, once at start: failures are printed, the server starts anyway."""
    for name in settings.projects:
        try:
            findings = open_adapter(settings, name).check()
        except TrackerBridgeError as e:
            err.print(f"serve: {name}: FAIL config.invalid: {e}", markup=False)
            continue
        failed = [f for f in findings if not f.ok]
        for f in failed:
            err.print(f"serve: {name}: FAIL {f.id}: {f.message}", markup=False)
        if not failed:
            err.print(f"serve: {name}: {len(findings)} checks ok", markup=False)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8787, show_default=True, help="Port to listen on.")
@click.option(
    "--no-worker", is_flag=True, help="Only accept and queue; run `tracker-bridge worker` apart."
)
@click.option("--skip-checks", is_flag=True, help="Do not run the doctor checks at start.")
@config_option
@handle_errors
def serve(
    host: str, port: int, no_worker: bool, skip_checks: bool, config_path: Path | None
) -> None:
    """Run the webhook server (POST /hooks/github, /hooks/redmine; GET /healthz) and a worker.

    Deliveries are verified, recorded and queued in milliseconds; the worker thread runs one
    debounced pass per affected project. Secrets come from [webhooks] *_env / *_file.
    Stop with Ctrl-C or SIGTERM.
    """
    import signal
    import threading

    import uvicorn

    from tracker_bridge.webhook import create_app
    from tracker_bridge.worker import Worker

    settings = resolve_settings(config_path)
    app = create_app(settings)
    endpoints = app.state.webhooks.endpoints
    if not any(endpoints.values()):
        err.print(
            "serve: warning: no webhook secret configured; every delivery will be refused "
            "(set [webhooks] github_secret_env, redmine_secret_env or redmine_token_env)",
            markup=False,
        )
    if not skip_checks:
        _startup_checks(settings)
    stop = threading.Event()
    thread = None
    if not no_worker:
        worker = Worker(settings)
        thread = threading.Thread(target=worker.run, args=(stop,), name="worker", daemon=True)
        thread.start()
    active = ", ".join(name for name, on in endpoints.items() if on) or "no endpoints"
    err.print(f"serve: listening on http://{host}:{port} ({active})", markup=False)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal to the
    # handler that was installed before it: ours lets the worker finish its pass first
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=30)


@main.command()
@click.option("--until-idle", is_flag=True, help="Exit when no job is due (for cron or tests).")
@click.option(
    "--poll",
    type=click.FloatRange(min=0.05),
    default=0.5,
    show_default=True,
    help="Seconds between looks at the queue when idle.",
)
@config_option
@handle_errors
def worker(until_idle: bool, poll: float, config_path: Path | None) -> None:
    """Run the queued passes (what `serve` runs in a thread), e.g. in a separate process.

    Several workers may share a store: each job is claimed with a lease, and a job whose
    worker died is claimed again when its lease runs out. Stop with Ctrl-C or SIGTERM.
    """
    import signal
    import threading

    from tracker_bridge.worker import Worker

    settings = resolve_settings(config_path)
    runner = Worker(settings)
    if until_idle:
        runs = runner.run_until_idle()
        runner.close()
        for run_ in runs:
            out.print(
                f"job {run_.job.id} ({run_.job.project}): {run_.outcome}"
                + (f": {run_.error}" if run_.error else ""),
                markup=False,
            )
        if any(r.outcome in ("retry", "dead") for r in runs):
            sys.exit(1)
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        runner.run(stop, poll_seconds=poll)
    except KeyboardInterrupt:
        stop.set()


@main.group()
def queue() -> None:
    """Look at and repair the webhook job queue: list jobs and dead letters, retry, drop.

    A job is one pending pass of a project; deliveries that arrive while it waits join it.
    A job that failed max_attempts times is dead (a dead letter) with its last error.
    """


@queue.command("list")
@click.option(
    "--state",
    "states",
    type=click.Choice(["queued", "running", "done", "dead"]),
    multiple=True,
    help="Only jobs in this state (repeatable). Default: all but done.",
)
@click.option("--project", help="Only jobs of this project.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@config_option
@json_option
@handle_errors
def queue_list(
    states: tuple[str, ...],
    project: str | None,
    limit: int,
    config_path: Path | None,
    as_json: bool,
) -> None:
    """List queued, running and dead jobs, newest first (with --state done, finished ones)."""
    from tracker_bridge.store import Store

    settings = resolve_settings(config_path)
    with Store.open(settings.store.path) as store:
        jobs = store.list_jobs(states or ("queued", "running", "dead"), project, limit)
        counts = store.queue_counts()
    if as_json:
        dump_json({"counts": counts, "jobs": [job.to_json() for job in jobs]})
        return
    if not jobs:
        out.print(
            "No jobs. (" + ", ".join(f"{state} {count}" for state, count in counts.items()) + ")",
            markup=False,
        )
        return
    table = Table(title="queue")
    for column in ("id", "project", "state", "deliveries", "attempts", "not before", "error"):
        table.add_column(column)
    for job in jobs:
        data = job.to_json()
        table.add_row(
            str(job.id),
            job.project,
            job.state,
            str(job.deliveries),
            str(job.attempts),
            str(data["not_before"]),
            (job.last_error or "")[:80],
        )
    out.print(table)


@queue.command("retry")
@click.argument("job_id", type=int)
@config_option
@handle_errors
def queue_retry(job_id: int, config_path: Path | None) -> None:
    """Queue a dead job again, due now, with fresh attempts."""
    import time

    from tracker_bridge.store import Store

    settings = resolve_settings(config_path)
    with Store.open(settings.store.path) as store:
        target = store.retry_job(job_id, now=time.time())
    joined = "" if target == job_id else f" (joined job {target}, already waiting)"
    out.print(f"Job {job_id} queued again{joined}.", markup=False)


@queue.command("drop")
@click.argument("job_id", type=int)
@config_option
@handle_errors
def queue_drop(job_id: int, config_path: Path | None) -> None:
    """Delete a queued, dead or done job (its deliveries stay recorded, unprocessed)."""
    from tracker_bridge.store import Store

    settings = resolve_settings(config_path)
    with Store.open(settings.store.path) as store:
        job = store.drop_job(job_id)
    out.print(f"Dropped job {job.id} ({job.project}, {job.state}).", markup=False)


if __name__ == "__main__":  # pragma: no cover
    main()
