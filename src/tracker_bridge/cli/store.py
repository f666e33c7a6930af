"""The ``store`` commands: migrate, status, and copy an SQLite store into PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import click

from tracker_bridge.cli.app import handle_errors, main, out
from tracker_bridge.cli.options import config_option, json_option
from tracker_bridge.cli.output import dump_json
from tracker_bridge.cli.resolve import resolve_settings


@main.group()
def store() -> None:
    """Look after the store: migrate its schema, show its status, copy it into PostgreSQL.

    The store is an SQLite file ([store] path, the default) or a PostgreSQL database
    ([store] url, password from [store] password_env or password_file).
    """


@store.command("migrate")
@config_option
@handle_errors
def store_migrate(config_path: Path | None) -> None:
    """Bring the store's schema to this version (every command does it on opening, too;
    run this once after an upgrade, before starting workers on several machines)."""
    from tracker_bridge.store import Store, schema_version

    settings = resolve_settings(config_path)
    with Store.open(settings.store) as opened:
        before, where = opened.opened_at_version, opened.where
    if before == schema_version():
        out.print(f"{where}: schema version {before}, up to date.", markup=False)
    else:
        out.print(
            f"{where}: migrated from schema version {before} to {schema_version()}.", markup=False
        )


@store.command("status")
@click.option(
    "--recent",
    type=click.FloatRange(min=1),
    default=300,
    show_default=True,
    help="Seconds within which a worker counts as seen recently.",
)
@config_option
@json_option
@handle_errors
def store_status(recent: float, config_path: Path | None, as_json: bool) -> None:
    """Schema version, jobs per state, due jobs, the oldest waiting job, workers seen."""
    from tracker_bridge.store import Store, schema_version

    settings = resolve_settings(config_path)
    now = time.time()
    with Store.open(settings.store) as opened:
        status = opened.status(now=now, recent_seconds=recent)
    if as_json:
        dump_json(status.to_json())
        return
    jobs = ", ".join(f"{state} {count}" for state, count in status.counts.items())
    oldest = (
        "none waiting" if status.oldest_queued_age is None else f"{status.oldest_queued_age:.0f} s"
    )
    lines = [
        f"store:    {status.where} ({status.backend})",
        f"schema:   version {status.version} (this program: {schema_version()})",
        f"jobs:     {jobs}; due now {status.due}",
        f"oldest waiting job: {oldest}",
        f"workers seen in the last {recent:g} s: {len(status.workers)}",
    ]
    lines += [
        f"  {w.name}: last seen {now - w.seen_at:.0f} s ago, {w.jobs_done} jobs done"
        for w in status.workers
    ]
    for line in lines:
        out.print(line, markup=False)


@store.command("copy")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The SQLite store file to copy from.",
)
@config_option
@handle_errors
def store_copy(source: Path, config_path: Path | None) -> None:
    """Copy an SQLite store (--from FILE) into the configured store, e.g. a new PostgreSQL
    database: baselines, sync state, written values, deliveries, jobs and dead letters.

    The target must be empty; stop serve and the workers first. The file is left as it is.
    """
    from tracker_bridge.store import Store
    from tracker_bridge.store.copy import copy_store

    settings = resolve_settings(config_path)
    with Store.open(source) as old, Store.open(settings.store) as new:
        copied = copy_store(old, new)
        where = new.where
    total = sum(copied.values())
    detail = ", ".join(f"{table} {n}" for table, n in copied.items() if n)
    out.print(
        f"Copied {total} rows from {source} into {where} ({detail or 'all empty'}).",
        markup=False,
    )
