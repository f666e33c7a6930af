"""The Redmine side of the set-up, shipped with the package: the custom-field script and how
to run it on the Redmine host (``tracker-bridge setup redmine``).

Redmine has no API that creates custom fields, so ``create_custom_fields.rb`` runs inside the
application (``bin/rails runner``) as the user the web server runs as. Planio and other hosted
Redmines have no shell: there an administrator clicks the same fields together.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from tracker_bridge import errors
from tracker_bridge.adapters.redmine.fields import EXPECTED_FORMATS
from tracker_bridge.settings import FieldNames

__all__ = [
    "REDMINE_DIRS",
    "SCRIPT_NAME",
    "RunnerCommand",
    "custom_field_script",
    "find_redmine_dir",
    "runner_command",
    "web_user",
]

SCRIPT_NAME = "create_custom_fields.rb"
#: Where Redmine usually lives: Debian/Ubuntu packages, the upstream docs, Bitnami.
REDMINE_DIRS = (
    Path("/usr/share/redmine"),
    Path("/var/www/redmine"),
    Path("/opt/redmine"),
    Path("/opt/bitnami/redmine"),
)


def _ruby_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _replace_block(script: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(# BEGIN {name}[^\n]*\n).*?(# END {name})", re.DOTALL)
    replaced, count = pattern.subn(lambda m: m.group(1) + body + m.group(2), script)
    if count != 1:  # pragma: no cover - the script ships with the package
        raise RuntimeError(f"{SCRIPT_NAME} has no {name} block")
    return replaced


def custom_field_script(field_names: FieldNames, visible_to: list[str]) -> tuple[str, list[str]]:
    """The script with the config's field names and roles; and the logical fields it cannot
    create (configured by numeric id: such a field exists already)."""
    script = (files(__package__) / SCRIPT_NAME).read_text(encoding="utf-8")
    rows, by_id = [], []
    for logical, field_format in EXPECTED_FORMATS.items():
        name = getattr(field_names, logical)
        if isinstance(name, int):
            by_id.append(logical)
            continue
        rows.append(f"  [{_ruby_string(name)}, {_ruby_string(field_format)}],\n")
    script = _replace_block(script, "FIELDS", "FIELDS = [\n" + "".join(rows) + "]\n")
    roles = ", ".join(_ruby_string(r) for r in visible_to)
    script = _replace_block(script, "VISIBLE_TO", f"VISIBLE_TO = [{roles}]\n")
    return script, by_id


def find_redmine_dir(explicit: Path | None) -> Path | None:
    """The Redmine application directory on this machine (it has ``bin/rails`` and
    ``app/models/issue_custom_field.rb``), or None when this is not the Redmine host."""
    for candidate in [explicit] if explicit else REDMINE_DIRS:
        if (candidate / "bin" / "rails").is_file() and (
            candidate / "app" / "models" / "issue_custom_field.rb"
        ).is_file():
            return candidate
    return None


def web_user(redmine_dir: Path) -> str:
    """The user the web server runs as: the owner of the attachments directory (it must
    write uploads there); Debian keeps it under ``instances/default/files``."""
    for files_dir in (redmine_dir / "instances" / "default" / "files", redmine_dir / "files"):
        if files_dir.is_dir():
            return pwd.getpwuid(files_dir.resolve().stat().st_uid).pw_name
    return pwd.getpwuid(os.geteuid()).pw_name


@dataclass(frozen=True)
class RunnerCommand:
    """``argv`` runs the script in ``cwd``; ``how`` says how it switches user."""

    argv: list[str]
    how: str


def runner_command(redmine_dir: Path, script: Path, user: str) -> RunnerCommand:
    """``bin/rails runner`` as ``user``: directly when that is us, else with sudo; without
    sudo, root uses runuser or su. Raises ConfigError (with the command) when none fits."""
    rails = ["env", "RAILS_ENV=production", "bin/rails", "runner", "-e", "production", str(script)]
    me = pwd.getpwuid(os.geteuid()).pw_name
    if user == me:
        return RunnerCommand(rails, f"as {me} (the current user)")
    if shutil.which("sudo"):
        return RunnerCommand(["sudo", "-u", user, *rails], f"sudo -u {user}")
    if os.geteuid() == 0:
        if shutil.which("runuser"):
            return RunnerCommand(["runuser", "-u", user, "--", *rails], f"runuser -u {user}")
        if shutil.which("su"):
            return RunnerCommand(
                ["su", "-s", "/bin/sh", user, "-c", shlex.join(rails)], f"su {user}"
            )
    raise errors.ConfigError(
        f"cannot run the script as '{user}' (no sudo here, and not root): run as root or as "
        f"{user}: cd {redmine_dir} && {shlex.join(rails)}; or pass --user $(whoami)"
    )
