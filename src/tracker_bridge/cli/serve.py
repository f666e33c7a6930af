"""Webhooks and the job queue: ``serve``, ``worker`` and the ``queue`` commands."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from tracker_bridge.cli.app import err, handle_errors, main, out
from tracker_bridge.cli.options import config_option, json_option
from tracker_bridge.cli.output import dump_json, show_table
from tracker_bridge.cli.resolve import resolve_settings
from tracker_bridge.errors import TrackerBridgeError
from tracker_bridge.pipeline import open_adapter
from tracker_bridge.settings import Settings
from tracker_bridge.settings.adapter_options import webhook_secret_keys


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
    """Run the webhook server (POST /hooks/github, /hooks/redmine; GET /livez, /readyz,
    /healthz) and a worker.

    Deliveries are verified, recorded and queued in milliseconds; the worker thread runs one
    debounced pass per affected project and is restarted should it die. Secrets come from
    [webhooks] *_env / *_file. Stop with Ctrl-C or SIGTERM.
    """
    import signal
    import threading

    import uvicorn

    from tracker_bridge.server import server_config
    from tracker_bridge.webhook import create_app
    from tracker_bridge.worker import Worker, WorkerSupervisor

    settings = resolve_settings(config_path)
    stop = threading.Event()
    supervisor = None
    if not no_worker:
        supervisor = WorkerSupervisor(lambda: Worker(settings), stop)
    app = create_app(settings, worker=supervisor.status if supervisor else None)
    endpoints = app.state.webhooks.endpoints
    if not any(endpoints.values()):
        keys = webhook_secret_keys()
        named = " or ".join([", ".join(keys[:-1]), keys[-1]] if len(keys) > 1 else keys)
        err.print(
            "serve: warning: no webhook secret configured; every delivery will be refused"
            + (f" (set [webhooks] {named})" if named else ""),
            markup=False,
        )
    if not skip_checks:
        _startup_checks(settings)
    config, connections = server_config(app, settings, host, port, log_level="warning")
    if connections < settings.webhooks.max_connections:
        err.print(
            f"serve: warning: the open-files limit allows {connections} connections, not "
            f"webhooks.max_connections = {settings.webhooks.max_connections} (raise "
            "LimitNOFILE / ulimit -n)",
            markup=False,
        )
    if supervisor is not None:
        supervisor.start()
    active = ", ".join(name for name, on in endpoints.items() if on) or "no endpoints"
    err.print(f"serve: listening on http://{host}:{port} ({active})", markup=False)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal to the
    # handler that was installed before it: ours lets the worker finish its pass first
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        uvicorn.Server(config).run()
    finally:
        stop.set()
        if supervisor is not None:
            supervisor.join(timeout=30)


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
    show_table(table)


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
