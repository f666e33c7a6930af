"""The ``demo`` command: a local Redmine with the MedCo example, planned and published.

It lives with the demo (not in :mod:`tracker_bridge.cli`): the demo is a Redmine demo through
and through, and the command line knows no tracker.
"""

from __future__ import annotations

import datetime as dt
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from tracker_bridge.cli.app import err, handle_errors, main, out


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
@click.option(
    "--preview",
    is_flag=True,
    help="No Redmine, no root: write the plan page as a local HTML file (DIR/plan.html).",
)
@handle_errors
def demo(workdir: Path, port: int, no_wait: bool, preview: bool) -> None:
    """Start a local Redmine with the MedCo example, plan it and publish the plan into it.

    Installs Debian's redmine packages when missing (needs root), starts Redmine on
    127.0.0.1, seeds the example project, runs `tracker-bridge run` against it and keeps
    Redmine up until Ctrl-C (or SIGTERM, SIGHUP) so you can look at the result.

    With --preview it only plans the bundled example and writes the wiki page's content
    (tables and charts) as one HTML file: a first look in seconds.
    """
    started = time.monotonic()

    def say(message: str) -> None:
        err.print(f"demo: {time.monotonic() - started:5.1f} s  {message}", markup=False)

    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if preview:
        _write_preview(workdir / "plan.html", say)
        return
    _stop_on_signals()
    try:
        _serve_demo(workdir, port, no_wait, say)
    except KeyboardInterrupt:
        say("stopped")


def _write_preview(output: Path, say: Callable[[str], None]) -> None:
    from tracker_bridge.demo.example import preview_page

    say("planning the MedCo example and drawing its charts")
    page, plan = preview_page()
    output.write_text(page, encoding="utf-8")
    say(f"wrote {output}")
    out.print(
        f"{plan.project.name}: finish {plan.project.finish}; critical path: "
        + " -> ".join(plan.project.critical_paths[0] if plan.project.critical_paths else []),
        markup=False,
    )
    out.print(f"Open it in a browser: {output.as_uri()}", markup=False)


def _stop_on_signals() -> None:
    """SIGTERM and SIGHUP (a closed terminal, `kill`) end the demo like Ctrl-C: the
    ``finally`` that stops Redmine runs instead of leaving its server orphaned."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


def _serve_demo(workdir: Path, port: int, no_wait: bool, say: Callable[[str], None]) -> None:
    from tracker_bridge.demo.example import demo_config, load_example
    from tracker_bridge.demo.install import ensure_installed
    from tracker_bridge.demo.instance import start
    from tracker_bridge.demo.rails import LocalRedmineError
    from tracker_bridge.demo.seed import seed

    with socket.socket() as probe:
        free = probe.connect_ex(("127.0.0.1", port)) != 0
    try:
        ensure_installed(progress=say)
        say("starting Redmine 5 on loopback (about 10 s)")
        instance = start(workdir / "redmine", port=port if free else None, progress=say)
    except LocalRedmineError as e:
        raise click.ClickException(str(e)) from None
    try:
        example = load_example()
        seeded = seed(instance, example, dt.date.today(), say)
        key_file = workdir / "planbot.key"
        key_file.write_text(instance.bot_key + "\n", encoding="utf-8")
        key_file.chmod(0o600)
        config = workdir / "tracker-bridge.toml"
        config.write_text(demo_config(instance.url, key_file, seeded), encoding="utf-8")
        command = ["tracker-bridge", "run", "--config", str(config), "--as-of", str(seeded.as_of)]
        say("$ " + " ".join(command))
        subprocess.run([sys.executable, "-m", "tracker_bridge.cli", *command[1:]], check=False)
        say("done")
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
    finally:
        instance.stop()
