"""The ``baseline`` commands: save, list, show and activate baselines in the local store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from tracker_bridge.cli.app import F, handle_errors, main, out
from tracker_bridge.cli.options import as_of_option, config_option, json_option, quiet_option
from tracker_bridge.cli.output import dump_json, progress_bar, show_table
from tracker_bridge.cli.resolve import resolve_settings, status_date
from tracker_bridge.model import Snapshot
from tracker_bridge.pipeline import fetch_snapshot
from tracker_bridge.planner import plan as make_plan
from tracker_bridge.settings import Settings
from tracker_bridge.snapshot_file import load_snapshot


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
        snapshot = fetch_snapshot(settings, project, progress)
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
    with Store.open(settings.store) as store:
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
    with Store.open(settings.store) as store:
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
    show_table(table)


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
    with Store.open(settings.store) as store:
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
    show_table(table)


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
    with Store.open(settings.store) as store:
        store_project = _stored_project(store, project, snapshot_path)
        store.set_active(store_project, name)
    out.print(f"Baseline {name!r} of {store_project!r} is now active.", markup=False)
