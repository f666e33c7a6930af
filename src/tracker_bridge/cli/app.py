"""The root ``tracker-bridge`` group, the two consoles, and how library errors end a command."""

from __future__ import annotations

import functools
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
