"""Installing Debian's Redmine (with SQLite, under WEBrick) with apt, when it is missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from tracker_bridge.demo.rails import (
    REDMINE_ROOT,
    TEMPLATE_DB,
    RedmineNotInstalledError,
    noop,
    tail,
)

#: Only what Redmine on SQLite under WEBrick needs: without recommends (redmine recommends
#: passenger, which pulls in Apache; ImageMagick's recommends add fonts and Ghostscript) the
#: install downloads a fraction and takes well under half the time.
APT_PACKAGES = tuple(
    word
    for line in (Path(__file__).with_name("redmine-packages.txt")).read_text().splitlines()
    if not line.startswith("#")
    for word in line.split()
)
APT_INSTALL = ("apt-get", "install", "-y", "-q", "--no-install-recommends")


def ensure_installed(progress: Callable[[str], None] = noop) -> None:
    """Make sure Debian's Redmine (with SQLite) is installed and can run under WEBrick.

    Installs ``redmine redmine-sqlite ruby-webrick`` without recommends when
    ``/usr/share/redmine`` is missing (needs root), then makes sure a ``Gemfile.local`` with
    ``gem 'webrick'`` sits beside the Gemfile. Idempotent and quick when everything is there.
    """
    if not (REDMINE_ROOT / "Gemfile").is_file():
        if not _is_root():
            raise RedmineNotInstalledError(
                f"Redmine is not installed ({REDMINE_ROOT} is missing) and installing it needs "
                "root. Run as root, or install it first: sudo apt-get update && "
                "sudo DEBIAN_FRONTEND=noninteractive " + " ".join((*APT_INSTALL, *APT_PACKAGES))
            )
        if shutil.which("apt-get") is None:
            raise RedmineNotInstalledError(
                f"Redmine is not installed ({REDMINE_ROOT} is missing) and apt-get is not "
                "available; this helper only knows Debian/Ubuntu packages."
            )
        progress("apt-get update")
        _apt(["apt-get", "update", "-q"])
        progress(" ".join((*APT_INSTALL, *APT_PACKAGES)))
        _apt([*APT_INSTALL, *APT_PACKAGES])
        if not (REDMINE_ROOT / "Gemfile").is_file():
            raise RedmineNotInstalledError(
                f"apt-get install finished but {REDMINE_ROOT / 'Gemfile'} is still missing"
            )
        progress("Redmine installed")
    if not TEMPLATE_DB.is_file():
        raise RedmineNotInstalledError(
            f"The migrated SQLite database {TEMPLATE_DB} is missing; is the redmine-sqlite "
            "package installed and configured (dpkg-reconfigure redmine)?"
        )
    if not _webrick_available():
        if not _is_root():
            raise RedmineNotInstalledError(
                "Ruby cannot load 'webrick' (package ruby-webrick); install it as root: "
                "sudo apt-get install -y --no-install-recommends ruby-webrick"
            )
        progress("apt-get install ruby-webrick")
        _apt([*APT_INSTALL, "ruby-webrick"])
    _ensure_gemfile_local(progress)


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _apt(cmd: list[str]) -> None:
    run_apt(cmd, RedmineNotInstalledError)


def run_apt(cmd: list[str], error: type[Exception]) -> None:
    """Run an apt-get command non-interactively; ``error`` with its output's tail on failure."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    proc = subprocess.run(
        cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise error(
            f"{' '.join(cmd)} failed with exit code {proc.returncode}:\n"
            + tail(proc.stdout + proc.stderr, 40)
        )


def _webrick_available() -> bool:
    if shutil.which("ruby") is None:
        return False
    proc = subprocess.run(
        ["ruby", "-e", "require 'webrick'"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


_WEBRICK_LINE = re.compile(r"""^\s*gem\s*\(?\s*['"]webrick['"]""", re.MULTILINE)


def _ensure_gemfile_local(progress: Callable[[str], None]) -> None:
    gemfile_local = REDMINE_ROOT / "Gemfile.local"
    current = gemfile_local.read_text() if gemfile_local.exists() else ""
    if _WEBRICK_LINE.search(current):
        return
    new = current + ("" if current.endswith("\n") or not current else "\n") + "gem 'webrick'\n"
    progress(f"adding gem 'webrick' to {gemfile_local}")
    try:
        # Write-and-rename, so a concurrent reader (another test worker) never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=REDMINE_ROOT, prefix=".Gemfile.local.")
        with os.fdopen(fd, "w") as fh:
            fh.write(new)
        os.chmod(tmp, 0o644)
        os.replace(tmp, gemfile_local)
    except PermissionError as exc:
        raise RedmineNotInstalledError(
            f"{gemfile_local} needs a line `gem 'webrick'` (Debian's Gemfile has no app server) "
            f"and this user cannot write it; as root run: echo \"gem 'webrick'\" >> {gemfile_local}"
        ) from exc
