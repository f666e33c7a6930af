"""Running Debian's Redmine app: where it lives, its environment and ``rails runner``.

Shared by the installer, a local instance and the scripts that prepare it; the errors of all
three live here too.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

REDMINE_ROOT = Path("/usr/share/redmine")
#: The database Debian's dbconfig-common migrated and seeded with default data at install time.
TEMPLATE_DB = Path("/var/lib/dbconfig-common/sqlite3/redmine/instances/default/redmine_default")

RUNNER_TIMEOUT_S = 300.0

#: A runner script prints its result as one JSON line after this marker.
RESULT_MARKER = "TB_LOCAL_REDMINE_SETUP:"
# Variables that would point Rails/Bundler/Redmine somewhere else than we intend.
_SCRUBBED_ENV = (
    "DATABASE_URL",
    "RAILS_ENV",
    "RACK_ENV",
    "BUNDLE_GEMFILE",
    "X_DEBIAN_SITEID",
    "REDMINE_INSTANCE",
    "RAILS_LOG_TO_STDOUT",
    "BUNDLE_PATH",
    "BUNDLE_WITHOUT",
)


class LocalRedmineError(RuntimeError):
    """Starting, preparing or talking to the local Redmine failed."""


class RedmineNotInstalledError(LocalRedmineError):
    """Redmine is not installed and cannot be installed from here (e.g. not root)."""


def noop(_message: str) -> None:
    return None


def tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _database_url(db_path: Path) -> str:
    # `timeout` becomes the SQLite busy timeout (ms): the server and a runner() may both write.
    return f"sqlite3:{db_path}?timeout=10000"


def rails_env(db_path: Path) -> dict[str, str]:
    """The environment Redmine runs in: production, on the database at ``db_path``."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env["RAILS_ENV"] = "production"
    env["DATABASE_URL"] = _database_url(db_path)
    env.setdefault("LANG", "C.UTF-8")
    return env


def rails_runner(ruby: str, db_path: Path, extra_env: dict[str, str] | None = None) -> str:
    """Run Ruby code in the app against the database at ``db_path``; returns its stdout."""
    env = rails_env(db_path)
    if extra_env:
        env.update(extra_env)
    try:
        proc = subprocess.run(
            ["ruby", "bin/rails", "runner", "-e", "production", ruby],
            cwd=REDMINE_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUNNER_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LocalRedmineError(
            f"rails runner did not finish within {RUNNER_TIMEOUT_S:.0f} s"
        ) from exc
    except FileNotFoundError as exc:
        raise RedmineNotInstalledError(f"cannot run ruby in {REDMINE_ROOT}: {exc}") from exc
    if proc.returncode != 0:
        raise LocalRedmineError(
            f"rails runner failed with exit code {proc.returncode}:\n"
            + tail(proc.stderr or proc.stdout, 60)
        )
    return proc.stdout


def runner_result(stdout: str, what: str) -> dict[str, Any]:
    """The JSON a runner script printed after :data:`RESULT_MARKER`."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            result: dict[str, Any] = json.loads(line[len(RESULT_MARKER) :])
            return result
    raise LocalRedmineError(f"the {what} runner printed no result line:\n" + tail(stdout, 40))
