"""The root ``tracker-bridge`` group, the two consoles, and how library errors end a command."""

from __future__ import annotations

import functools
import importlib
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console

from tracker_bridge import __version__
from tracker_bridge.errors import TrackerBridgeError

F = TypeVar("F", bound=Callable[..., Any])

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


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


# Every command: the module that defines it (and registers it on ``main`` when imported) and
# its one-line help, so ``--help`` lists the commands without importing their modules (numpy,
# pydantic models, the planner, the adapters, the web server). A test checks each line
# against the command's own help.
COMMANDS: dict[str, tuple[str, str]] = {
    "baseline": (
        "tracker_bridge.cli.baseline",
        "Save, list and show baselines: the plan frozen as the yardstick for slip, cost and scope.",
    ),
    "demo": (
        "tracker_bridge.demo.command",
        "Start a local Redmine with the MedCo example, plan it and publish the plan into it.",
    ),
    "doctor": (
        "tracker_bridge.cli.run",
        "Check connectivity, API key, project access, custom fields and wiki for each project.",
    ),
    "fetch": ("tracker_bridge.cli.plan", "Fetch a project from its tracker into a snapshot file."),
    "plan": (
        "tracker_bridge.cli.plan",
        "Compute the critical-path plan of a snapshot file or a configured project.",
    ),
    "publish": (
        "tracker_bridge.cli.run",
        "Plan a project and write the plan back (custom fields and the wiki page).",
    ),
    "queue": (
        "tracker_bridge.cli.serve",
        "Look at and repair the webhook job queue: list jobs and dead letters, retry, drop.",
    ),
    "run": (
        "tracker_bridge.cli.run",
        "Fetch, plan and publish: one pass per project or combined plan (safe from cron).",
    ),
    "schema": (
        "tracker_bridge.cli.plan",
        "Print the JSON Schema of the snapshot file, the plan JSON or the config.",
    ),
    "serve": (
        "tracker_bridge.cli.serve",
        "Run the webhook server (POST /hooks/github, /hooks/redmine; GET /livez, /readyz, "
        "/healthz) and a worker.",
    ),
    "setup": (
        "tracker_bridge.cli.setup",
        "One-time set-up in a tracker (fields tracker-bridge writes).",
    ),
    "worker": (
        "tracker_bridge.cli.serve",
        "Run the queued passes (what `serve` runs in a thread), e.g. in a separate process.",
    ),
}


class LazyGroup(click.Group):
    """The root group: a command's module is imported only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(COMMANDS[cmd_name][0])  # registers its commands on main
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help``, from :data:`COMMANDS` for modules not loaded."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            command = self.commands.get(name)
            if command is not None:
                if command.hidden:
                    continue
                rows.append((name, command.get_short_help_str(limit)))
            else:
                stand_in = click.Command(name, help=COMMANDS[name][1])  # click's own shortening
                rows.append((name, stand_in.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.version_option(__version__, prog_name="tracker-bridge")
def main(debug: bool) -> None:
    """Critical path, risk and budget for Redmine, Planio and GitHub, written back into the
    tracker as custom-field values and a wiki page."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
