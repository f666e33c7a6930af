"""The options several commands share: --config, --json, --as-of, --dry-run and --quiet."""

from __future__ import annotations

from pathlib import Path

import click

from tracker_bridge.cli.app import F
from tracker_bridge.cli.resolve import CONFIG_ENV, DEFAULT_CONFIG


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
