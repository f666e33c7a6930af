"""``tracker-bridge setup redmine``: the custom fields tracker-bridge writes, created in Redmine.

The Redmine adapter's own command: the CLI's ``setup`` group finds it through the adapter
(``RedmineAdapter.setup_command``) and imports this module only when it runs.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import click

from tracker_bridge.adapters.redmine.kit import (
    SCRIPT_NAME,
    custom_field_script,
    find_redmine_dir,
    runner_command,
    web_user,
)
from tracker_bridge.cli.app import err, handle_errors, out
from tracker_bridge.cli.options import config_option
from tracker_bridge.cli.resolve import resolve_settings

__all__ = ["setup_redmine"]


@click.command("redmine")
@click.option(
    "--visible-to",
    "visible_to",
    default="",
    metavar="ROLES",
    help="Quiet set-up: comma-separated role names that alone see the fields (include the "
    "bot's role); Redmine then mails nobody else about our values.",
)
@click.option("--print", "print_only", is_flag=True, help="Print the script; never run it.")
@click.option(
    "--redmine-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The Redmine directory on this host (default: the usual places, /usr/share/redmine...).",
)
@click.option(
    "--user",
    default=None,
    help="Run the script as this user (default: the owner of Redmine's files directory, "
    "i.e. the web server's user).",
)
@click.option("--yes", is_flag=True, help="Run without asking.")
@config_option
@handle_errors
def setup_redmine(
    visible_to: str,
    print_only: bool,
    redmine_dir: Path | None,
    user: str | None,
    yes: bool,
    config_path: Path | None,
) -> None:
    """Create the custom fields tracker-bridge writes (Redmine has no API for it).

    On the Redmine host it runs the field script in Redmine (bin/rails runner, as the web
    server's user: sudo, else runuser or su when root); elsewhere, or with --print, it prints
    the script (names from the config's [fields]) with how to run it. Idempotent. On Planio
    or another hosted Redmine, create the fields in Administration -> Custom fields instead;
    `tracker-bridge doctor` names what is missing.
    """
    settings = resolve_settings(config_path)
    roles = [r.strip() for r in visible_to.split(",") if r.strip()]
    script, by_id = custom_field_script(settings.fields, roles)
    for logical in by_id:
        err.print(
            f"note: fields.{logical} names a field by id; the script leaves it alone", markup=False
        )
    found = None if print_only else find_redmine_dir(redmine_dir)
    if found is None:
        if redmine_dir is not None and not print_only:
            raise click.UsageError(f"{redmine_dir} is not a Redmine directory (no bin/rails)")
        click.echo(script, nl=False)
        err.print(
            f"Save this as {SCRIPT_NAME} on the Redmine host and run it there:\n"
            f"  cd /usr/share/redmine   # your Redmine directory\n"
            f"  sudo -u www-data RAILS_ENV=production bin/rails runner /path/to/{SCRIPT_NAME}\n"
            "(no sudo: as root, runuser -u www-data -- env RAILS_ENV=production bin/rails "
            "runner ...), or run `tracker-bridge setup redmine` on that host.",
            markup=False,
        )
        return
    run_as = user or web_user(found)
    with tempfile.TemporaryDirectory(prefix="tracker-bridge-") as tmp:
        script_path = Path(tmp) / SCRIPT_NAME
        script_path.write_text(script, encoding="utf-8")
        Path(tmp).chmod(0o755)  # the web server's user reads it
        script_path.chmod(0o644)
        command = runner_command(found, script_path, run_as)
        out.print(f"Redmine found in {found}; running {SCRIPT_NAME} {command.how}", markup=False)
        if not yes and not click.confirm("Create or update the custom fields?", default=True):
            out.print("Nothing changed.", markup=False)
            return
        done = subprocess.run(command.argv, cwd=found, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise click.ClickException(
            f"{SCRIPT_NAME} failed (exit code {done.returncode}); its output is above"
        )
    out.print("Done. Check with `tracker-bridge doctor`.", markup=False)
