"""Commands that read and plan without writing: ``schema``, ``plan`` and ``fetch``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from pydantic import BaseModel

from tracker_bridge.cli.app import err, handle_errors, main, out
from tracker_bridge.cli.options import as_of_option, config_option, json_option, quiet_option
from tracker_bridge.cli.output import dump_json, plan_table, progress_bar
from tracker_bridge.cli.resolve import resolve_settings, status_date
from tracker_bridge.model import Plan, Snapshot
from tracker_bridge.planner import plan as make_plan
from tracker_bridge.settings.adapter_options import config_schema
from tracker_bridge.snapshot_file import load_snapshot, save_snapshot


@main.command()
@click.argument("what", type=click.Choice(["snapshot", "plan", "config"]))
def schema(what: str) -> None:
    """Print the JSON Schema of the snapshot file, the plan JSON or the config."""
    if what == "config":  # with the sections of the installed adapters
        dump_json(config_schema())
        return
    models: dict[str, type[BaseModel]] = {"snapshot": Snapshot, "plan": Plan}
    dump_json(models[what].model_json_schema())


@main.command("plan")
@click.option(
    "--snapshot",
    "snapshot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Snapshot file (JSON) to plan.",
)
@click.option("--project", help="Plan a configured project, fetched live from its tracker.")
@click.option(
    "--schedule-only",
    is_flag=True,
    help="The critical-path schedule alone: no risk, budget, baseline or levelling overlays.",
)
@config_option
@as_of_option
@json_option
@quiet_option
@handle_errors
def plan_command(
    snapshot_path: Path | None,
    project: str | None,
    schedule_only: bool,
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
        from tracker_bridge.pipeline import fetch_snapshot

        with progress_bar(not (quiet or as_json), "fetching issues") as progress:
            snapshot = fetch_snapshot(settings, project, progress)
    from tracker_bridge.store import active_baseline

    # compare with the project's active baseline, if one was ever saved (no store: none)
    baseline = None
    if not schedule_only:
        baseline = active_baseline(settings.store, project or snapshot.project.name)
    result = make_plan(
        snapshot, settings, status_date(as_of), baseline=baseline, overlays=not schedule_only
    )
    if as_json:
        # pydantic's own (Rust) serializer: the same JSON as dump_json, ~10x faster on big plans
        click.echo(result.model_dump_json(indent=2))
    else:
        plan_table(result, snapshot)
        comparison = result.overlays.baseline
        if baseline is not None and comparison is not None:
            slip = comparison.project.slip_days or 0
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
    from tracker_bridge.pipeline import open_adapter

    settings = resolve_settings(config_path)
    with progress_bar(not quiet and output is not None, "fetching issues") as progress:
        adapter = open_adapter(settings, project, progress)
        try:
            snapshot = adapter.fetch().snapshot
        finally:
            adapter.close()
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
