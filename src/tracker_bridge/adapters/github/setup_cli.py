"""``tracker-bridge setup github``: the Projects (v2) fields the board lacks, created on request.

The GitHub adapter's own command: the CLI's ``setup`` group finds it through the adapter
(``GitHubAdapter.setup_command``) and imports this module only when it runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from tracker_bridge.adapters.github.adapter import GitHubAdapter
from tracker_bridge.cli.app import handle_errors, out
from tracker_bridge.cli.options import config_option
from tracker_bridge.cli.resolve import resolve_settings
from tracker_bridge.pipeline import open_adapter

__all__ = ["setup_github"]


@click.command("github")
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
