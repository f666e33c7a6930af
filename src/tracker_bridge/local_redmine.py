"""A real Redmine 5.0 (Debian package) on loopback, for the integration tests and the demo.

Every :func:`start` copies the migrated SQLite database that Debian's ``redmine-sqlite``
package ships into a scratch directory, so each instance starts from clean default data
(trackers Bug/Feature/Support, the default statuses, priorities and activities) and several
instances can run side by side on different ports.

One ``rails runner`` call (about 3-4 s, nearly all of it Rails boot) then prepares the copy:
REST on, Textile formatting, the admin's API key, tracker-bridge's issue custom fields, a
non-admin user ``planbot`` with an API key and a ``Planner`` role. The server is WEBrick
(``rails server -u webrick``), which answers after about 6 s.

    python -m tracker_bridge.local_redmine start --dir /tmp/rm [--port 3000]

starts one and prints its URL and keys as JSON.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tracker_bridge.plan_fields import PLAN_FIELDS

__all__ = [
    "BOT_LOGIN",
    "BOT_PASSWORD",
    "OUR_CUSTOM_FIELDS",
    "PLANNER_PERMISSIONS",
    "PLANNER_ROLE",
    "REDMINE_ROOT",
    "TEMPLATE_DB",
    "LocalRedmine",
    "LocalRedmineError",
    "RedmineNotInstalledError",
    "add_member",
    "add_role_user",
    "ensure_installed",
    "main",
    "start",
]

REDMINE_ROOT = Path("/usr/share/redmine")
#: The database Debian's dbconfig-common migrated and seeded with default data at install time.
TEMPLATE_DB = Path("/var/lib/dbconfig-common/sqlite3/redmine/instances/default/redmine_default")
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

#: The custom fields a local instance gets: ours, and the three-point estimate inputs.
OUR_CUSTOM_FIELDS: list[tuple[str, str]] = [
    *((f.label, f.kind) for f in PLAN_FIELDS),
    ("Optimistic (h)", "float"),
    ("Pessimistic (h)", "float"),
]

BOT_LOGIN = "planbot"
BOT_PASSWORD = "planbot-local-only-1"  # loopback test instance only
PLANNER_ROLE = "Planner"

#: Redmine 5.0 permission symbols of the Planner role (checked against
#: ``Redmine::AccessControl.permissions`` in the set-up script; an unknown one fails loudly).
#: There is no separate "add attachments" permission: ``POST /uploads.json`` is allowed by any
#: permission that maps ``attachments#upload`` (add_issues, edit_issues, edit_wiki_pages,
#: manage_files, ...); deleting a wiki page's attachment needs ``delete_wiki_pages_attachments``.
PLANNER_PERMISSIONS: tuple[str, ...] = (
    # project-level
    "view_members",
    "manage_versions",
    "save_queries",
    # issue_tracking
    "view_issues",
    "add_issues",
    "edit_issues",
    "add_issue_notes",
    "manage_issue_relations",
    "manage_subtasks",
    "view_issue_watchers",
    # time_tracking
    "view_time_entries",
    "log_time",
    "edit_own_time_entries",
    # wiki
    "view_wiki_pages",
    "view_wiki_edits",
    "export_wiki_pages",
    "edit_wiki_pages",
    "rename_wiki_pages",
    "delete_wiki_pages_attachments",
    # files
    "view_files",
    "manage_files",
    # calendar / gantt
    "view_calendar",
    "view_gantt",
)

DEFAULT_PROJECT_MODULES: tuple[str, ...] = (
    "issue_tracking",
    "time_tracking",
    "wiki",
    "files",
    "calendar",
    "gantt",
)

RUNNER_TIMEOUT_S = 300.0
SERVER_START_TIMEOUT_S = 90.0
SERVER_STOP_TIMEOUT_S = 20.0

_SETUP_MARKER = "TB_LOCAL_REDMINE_SETUP:"
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


def _noop(_message: str) -> None:
    return None


# --------------------------------------------------------------------------------------------
# installation
# --------------------------------------------------------------------------------------------


def ensure_installed(progress: Callable[[str], None] = _noop) -> None:
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
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    proc = subprocess.run(
        cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RedmineNotInstalledError(
            f"{' '.join(cmd)} failed with exit code {proc.returncode}:\n"
            + _tail(proc.stdout + proc.stderr, 40)
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


# --------------------------------------------------------------------------------------------
# a running instance
# --------------------------------------------------------------------------------------------


@dataclass
class LocalRedmine:
    """A running local Redmine. ``stop()`` it (``start`` also registers an atexit stop)."""

    url: str
    admin_key: str
    bot_key: str
    workdir: Path
    #: name -> id of the custom fields created at start.
    custom_field_ids: dict[str, int] = field(default_factory=dict)
    #: seconds spent in each start-up phase (copy, runner, server) — for diagnostics.
    timings: dict[str, float] = field(default_factory=dict)
    #: where the server writes each notification mail it sends (None: it sends none).
    mail_dir: Path | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def db_path(self) -> Path:
        return self.workdir / "redmine.sqlite3"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Terminate the server's process group and wait for it. Safe to call twice."""
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        # SIGINT is Rails' graceful shutdown (removes the pid file); SIGKILL if it hangs.
        _kill_group(proc, signal.SIGINT)
        try:
            proc.wait(timeout=SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _kill_group(proc, signal.SIGKILL)
            proc.wait()
        # WEBrick is the group leader and forks nothing, but make sure no stray child survives.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def runner(self, ruby: str) -> str:
        """Run Ruby code in the app against this instance's database; returns its stdout.

        Each call boots Rails (about 3-4 s). Raises :class:`LocalRedmineError` with the
        stderr tail on a non-zero exit.
        """
        return _rails_runner(ruby, self.db_path)


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:  # pragma: no cover - the group is ours, but be defensive
        proc.send_signal(sig)


def _database_url(db_path: Path) -> str:
    # `timeout` becomes the SQLite busy timeout (ms): the server and a runner() may both write.
    return f"sqlite3:{db_path}?timeout=10000"


def _rails_env(db_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env["RAILS_ENV"] = "production"
    env["DATABASE_URL"] = _database_url(db_path)
    env.setdefault("LANG", "C.UTF-8")
    return env


def _rails_runner(ruby: str, db_path: Path, extra_env: dict[str, str] | None = None) -> str:
    env = _rails_env(db_path)
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
            + _tail(proc.stderr or proc.stdout, 60)
        )
    return proc.stdout


# Everything Redmine needs for tracker-bridge, in one Rails boot. Parameters come in as JSON
# through the environment (no quoting games); results go out as one marked JSON line.
_SETUP_RUBY = r"""
require 'json'
cfg = JSON.parse(ENV.fetch('TB_SETUP'))
t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
out = {}
ActiveRecord::Base.transaction do
  if Tracker.none? || IssueStatus.none? || IssuePriority.none?
    if Redmine::DefaultData::Loader.no_data?
      Redmine::DefaultData::Loader.load('en')
    else
      raise "database has some but not all default data (trackers/statuses/priorities)"
    end
  end
  trackers = Tracker.sorted.to_a

  Setting.rest_api_enabled = '1'
  Setting.text_formatting = 'textile'
  Setting.default_projects_modules = cfg['project_modules']
  Setting.default_projects_tracker_ids = trackers.map { |t| t.id.to_s }

  admin = User.find_by(login: 'admin') || raise("no admin user in the database")
  admin.update_columns(must_change_passwd: false, status: User::STATUS_ACTIVE)
  out['admin_key'] = admin.api_key  # creates the api token when missing

  out['custom_fields'] = cfg['custom_fields'].map do |name, format|
    cf = IssueCustomField.find_by(name: name) || IssueCustomField.new(name: name)
    cf.field_format = format
    cf.is_for_all = true
    cf.is_filter = true
    cf.visible = true
    cf.editable = true
    cf.is_required = false
    cf.searchable = false
    cf.edit_tag_style = 'check_box' if format == 'bool'
    cf.trackers = trackers
    cf.save!
    {'id' => cf.id, 'name' => cf.name, 'field_format' => cf.field_format}
  end

  known = Redmine::AccessControl.permissions.map(&:name)
  perms = cfg['permissions'].map(&:to_sym)
  unknown = perms - known
  raise "unknown Redmine permissions: #{unknown.inspect}" if unknown.any?
  role = Role.find_by(name: cfg['role']) || Role.new(name: cfg['role'])
  role.permissions = perms
  role.assignable = true
  role.issues_visibility = 'all'
  role.time_entries_visibility = 'all'
  role.users_visibility = 'all'
  role.save!
  if WorkflowTransition.where(role_id: role.id).none?
    source = Role.find_by(name: 'Manager')
    if source && WorkflowTransition.where(role_id: source.id).exists?
      role.copy_workflow_rules(source)
    else
      statuses = IssueStatus.sorted.to_a
      trackers.each do |t|
        statuses.each do |from|
          statuses.each do |to|
            next if from == to
            WorkflowTransition.create!(tracker_id: t.id, role_id: role.id,
                                       old_status_id: from.id, new_status_id: to.id)
          end
        end
      end
    end
  end
  out['role_id'] = role.id

  bot = User.find_by(login: cfg['bot_login']) || User.new
  bot.login = cfg['bot_login']
  bot.firstname = 'Plan'
  bot.lastname = 'Bot'
  bot.mail = "#{cfg['bot_login']}@example.net" if bot.mail.blank?
  bot.password = cfg['bot_password']
  bot.password_confirmation = cfg['bot_password']
  bot.admin = false
  bot.status = User::STATUS_ACTIVE
  bot.language = 'en'
  bot.mail_notification = 'none'
  bot.must_change_passwd = false
  bot.save!
  out['bot_id'] = bot.id
  out['bot_key'] = bot.api_key
end
out['setup_seconds'] = (Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0).round(3)
out['redmine_version'] = Redmine::VERSION.to_s
puts "__MARKER__" + out.to_json
""".replace("__MARKER__", _SETUP_MARKER)


def _prepare_database(db_path: Path, custom_fields: Sequence[tuple[str, str]]) -> dict[str, Any]:
    params = {
        "custom_fields": [[name, fmt] for name, fmt in custom_fields],
        "permissions": list(PLANNER_PERMISSIONS),
        "role": PLANNER_ROLE,
        "bot_login": BOT_LOGIN,
        "bot_password": BOT_PASSWORD,
        "project_modules": list(DEFAULT_PROJECT_MODULES),
    }
    stdout = _rails_runner(_SETUP_RUBY, db_path, {"TB_SETUP": json.dumps(params)})
    return _runner_result(stdout, "set-up")


def _runner_result(stdout: str, what: str) -> dict[str, Any]:
    """The JSON a runner script printed after :data:`_SETUP_MARKER`."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(_SETUP_MARKER):
            result: dict[str, Any] = json.loads(line[len(_SETUP_MARKER) :])
            return result
    raise LocalRedmineError(f"the {what} runner printed no result line:\n" + _tail(stdout, 40))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _log_tail(path: Path, lines: int = 60) -> str:
    try:
        return _tail(path.read_text(errors="replace"), lines)
    except OSError:
        return "(no log)"


def start(
    workdir: Path,
    port: int | None = None,
    custom_fields: Sequence[tuple[str, str]] = OUR_CUSTOM_FIELDS,
    progress: Callable[[str], None] = _noop,
    mail_dir: Path | None = None,
) -> LocalRedmine:
    """Start a fresh Redmine on 127.0.0.1 with its own database copy in ``workdir``.

    Returns once ``GET /users/current.json`` answers 200 for the admin key. Call
    :func:`ensure_installed` first on machines that may not have Redmine. With ``mail_dir``
    the server sends its notification mails at once, each as one ``.eml`` file there
    (``LocalRedmine.mail_dir``); without it, it sends none (Debian's default).
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if not TEMPLATE_DB.is_file() or not (REDMINE_ROOT / "Gemfile").is_file():
        raise RedmineNotInstalledError(
            f"Redmine is not installed ({REDMINE_ROOT}, {TEMPLATE_DB}); call ensure_installed()"
        )
    timings: dict[str, float] = {}

    t0 = time.monotonic()
    db_path = workdir / "redmine.sqlite3"
    for suffix in ("", "-journal", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{db_path}{suffix}")
    shutil.copyfile(TEMPLATE_DB, db_path)
    timings["copy_db"] = time.monotonic() - t0

    progress("preparing the database (rails runner)")
    t0 = time.monotonic()
    setup = _prepare_database(db_path, custom_fields)
    timings["runner"] = time.monotonic() - t0
    timings["runner_setup_body"] = float(setup.get("setup_seconds", 0.0))

    log_path = workdir / "server.log"
    env = _rails_env(db_path)
    env["RAILS_LOG_TO_STDOUT"] = "1"  # the Rails log goes to server.log, not the shared one
    # Ruby block-buffers stdout into a file; unbuffer it so server.log is live (and its tail
    # in error messages is current).
    sync_rb = workdir / "sync_stdout.rb"
    sync_rb.write_text("$stdout.sync = true\n$stderr.sync = true\n")

    # A port picked by binding port 0 can be taken before WEBrick binds it: then try another.
    attempts = 1 if port else 3
    t0 = time.monotonic()
    for attempt in range(1, attempts + 1):
        chosen = port or _free_port()
        instance = LocalRedmine(
            url=f"http://127.0.0.1:{chosen}",
            admin_key=str(setup["admin_key"]),
            bot_key=str(setup["bot_key"]),
            workdir=workdir,
            custom_field_ids={cf["name"]: int(cf["id"]) for cf in setup["custom_fields"]},
            timings=timings,
            mail_dir=mail_dir,
        )
        progress(f"starting Redmine {setup.get('redmine_version', '')} on {instance.url}")
        log_offset = log_path.stat().st_size if log_path.exists() else 0
        instance._proc = _launch_server(chosen, workdir, env, sync_rb, log_path, mail_dir)
        atexit.register(instance.stop)
        try:
            _wait_ready(instance, instance._proc, log_path)
        except LocalRedmineError:
            instance.stop()
            if attempt < attempts and _port_clash(log_path, log_offset):
                progress(f"port {chosen} was taken meanwhile; retrying on another")
                continue
            raise
        except BaseException:
            instance.stop()
            raise
        break
    timings["server_start"] = time.monotonic() - t0
    progress(
        f"Redmine ready on {instance.url} (runner {timings['runner']:.1f} s, "
        f"server {timings['server_start']:.1f} s)"
    )
    return instance


# Loaded with `ruby -r` before Rails boots (the instance's own copy of what an administrator
# sets as `email_delivery` in configuration.yml): once the app is initialised, mails are sent
# at once (ActiveJob inline, not in a background thread) and each one is written to its own
# file in $TB_MAIL_DIR, named after its recipients, so a test can count who got what.
_MAIL_CAPTURE_RUBY = r"""
require 'active_support'
require 'active_support/lazy_load_hooks'
ActiveSupport.on_load(:after_initialize) do
  dir = ENV.fetch('TB_MAIL_DIR')
  delivery = Class.new do
    def initialize(settings = {}) @settings = settings end
    attr_reader :settings
    define_method(:deliver!) do |mail|
      stamp = Process.clock_gettime(Process::CLOCK_REALTIME, :nanosecond)
      to = Array(mail.to).join(',').gsub(/[^A-Za-z0-9@.,_-]/, '_')
      File.binwrite(File.join(dir, "#{stamp}-#{to}.eml"), mail.encoded)
    end
  end
  ActionMailer::Base.add_delivery_method :tb_files, delivery
  ActionMailer::Base.delivery_method = :tb_files
  ActionMailer::Base.perform_deliveries = true
  ActiveJob::Base.queue_adapter = :inline
end
"""


def _launch_server(
    port: int,
    workdir: Path,
    env: dict[str, str],
    sync_rb: Path,
    log_path: Path,
    mail_dir: Path | None = None,
) -> subprocess.Popen[bytes]:
    pidfile = workdir / "server.pid"
    with contextlib.suppress(FileNotFoundError):
        pidfile.unlink()  # a stale one makes Rails refuse to start
    cmd = ["ruby", "-r", str(sync_rb)]
    if mail_dir is not None:
        capture = workdir / "mail_capture.rb"
        capture.write_text(_MAIL_CAPTURE_RUBY)
        mail_dir.mkdir(parents=True, exist_ok=True)
        env = dict(env, TB_MAIL_DIR=str(mail_dir))
        cmd += ["-r", str(capture)]
    cmd += ["bin/rails", "server", "-u", "webrick"]
    cmd += ["-e", "production", "-b", "127.0.0.1", "-p", str(port), "-P", str(pidfile)]
    with open(log_path, "ab") as log:
        log.write(f"\n==> {' '.join(cmd)}\n".encode())
        log.flush()
        return subprocess.Popen(
            cmd,
            cwd=REDMINE_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _port_clash(log_path: Path, offset: int) -> bool:
    try:
        with open(log_path, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
    except OSError:
        return False
    return "Address already in use" in text or "EADDRINUSE" in text


def _wait_ready(instance: LocalRedmine, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise LocalRedmineError(
                f"Redmine server exited with code {code} before answering; "
                f"tail of {log_path}:\n{_log_tail(log_path)}"
            )
        try:
            resp = requests.get(
                f"{instance.url}/users/current.json",
                headers={"X-Redmine-API-Key": instance.admin_key},
                timeout=5,
            )
        except requests.RequestException as exc:
            last = f"{type(exc).__name__}"
        else:
            if resp.status_code == 200:
                return
            last = f"HTTP {resp.status_code}"
        time.sleep(0.25)
    raise LocalRedmineError(
        f"Redmine did not answer on {instance.url} within {SERVER_START_TIMEOUT_S:.0f} s "
        f"(last: {last}); tail of {log_path}:\n{_log_tail(log_path)}"
    )


# --------------------------------------------------------------------------------------------
# REST helpers
# --------------------------------------------------------------------------------------------


def _admin_request(instance: LocalRedmine, method: str, path: str, **kwargs: Any) -> Any:
    headers = {"X-Redmine-API-Key": instance.admin_key}
    resp = requests.request(method, instance.url + path, headers=headers, timeout=30, **kwargs)
    if resp.status_code >= 400:
        raise LocalRedmineError(f"{method} {path} -> {resp.status_code}: {resp.text[:500]}")
    return resp.json() if resp.content else None


def add_member(
    instance: LocalRedmine,
    project_identifier: str,
    login: str = BOT_LOGIN,
    role: str = PLANNER_ROLE,
) -> None:
    """Make ``login`` a member of the project with ``role`` (REST, as admin). Idempotent."""
    users = _admin_request(
        instance, "GET", "/users.json", params={"name": login, "status": "", "limit": 100}
    )["users"]
    user_id = next((u["id"] for u in users if u.get("login") == login), None)
    if user_id is None:
        raise LocalRedmineError(f"no Redmine user with login {login!r}")
    roles = _admin_request(instance, "GET", "/roles.json")["roles"]
    role_id = next((r["id"] for r in roles if r["name"] == role), None)
    if role_id is None:
        raise LocalRedmineError(f"no Redmine role named {role!r}")

    path = f"/projects/{project_identifier}/memberships.json"
    headers = {"X-Redmine-API-Key": instance.admin_key}
    resp = requests.post(
        instance.url + path,
        headers=headers,
        timeout=30,
        json={"membership": {"user_id": user_id, "role_ids": [role_id]}},
    )
    if resp.status_code == 201:
        return
    if resp.status_code == 422:  # already a member: make sure the role is there
        members = _admin_request(instance, "GET", path, params={"limit": 100})["memberships"]
        for m in members:
            if m.get("user", {}).get("id") == user_id:
                role_ids = {r["id"] for r in m.get("roles", []) if not r.get("inherited")}
                if role_id not in role_ids:
                    _admin_request(
                        instance,
                        "PUT",
                        f"/memberships/{m['id']}.json",
                        json={"membership": {"role_ids": sorted(role_ids | {role_id})}},
                    )
                return
    raise LocalRedmineError(f"POST {path} -> {resp.status_code}: {resp.text[:500]}")


# A role with exactly the given permissions and a non-admin user holding it; idempotent.
_ROLE_USER_RUBY = r"""
require 'json'
cfg = JSON.parse(ENV.fetch('TB_ROLE_USER'))
perms = cfg['permissions'].map(&:to_sym)
unknown = perms - Redmine::AccessControl.permissions.map(&:name)
raise "unknown Redmine permissions: #{unknown.inspect}" if unknown.any?
role = Role.find_by(name: cfg['role']) || Role.new(name: cfg['role'])
role.permissions = perms
role.issues_visibility = 'all'
role.save!
user = User.find_by(login: cfg['login']) || User.new
user.login = cfg['login']
user.firstname = 'Bot'
user.lastname = cfg['login']
user.mail = "#{cfg['login']}@example.net" if user.mail.blank?
user.password = user.password_confirmation = cfg['password']
user.status = User::STATUS_ACTIVE
user.mail_notification = 'none'
user.must_change_passwd = false
user.save!
puts "__MARKER__" + {'key' => user.api_key}.to_json
""".replace("__MARKER__", _SETUP_MARKER)


def add_role_user(instance: LocalRedmine, login: str, role: str, permissions: Sequence[str]) -> str:
    """Create (or reset) ``role`` with exactly ``permissions`` and a non-admin user ``login``
    who is to hold it (add it to projects with :func:`add_member`); returns the user's API key.
    One ``rails runner`` call (about 3-4 s)."""
    params = {
        "login": login,
        "role": role,
        "permissions": list(permissions),
        "password": BOT_PASSWORD,
    }
    stdout = _rails_runner(_ROLE_USER_RUBY, instance.db_path, {"TB_ROLE_USER": json.dumps(params)})
    return str(_runner_result(stdout, "role/user")["key"])


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tracker_bridge.local_redmine",
        description="Run a throw-away Redmine on 127.0.0.1 for poking around.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_start = sub.add_parser("start", help="start a fresh instance and keep it running")
    p_start.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="work directory (database copy, server.log); default: a temp dir",
    )
    p_start.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    workdir = args.dir or Path(tempfile.mkdtemp(prefix="tb-redmine-"))
    try:
        ensure_installed(progress=say)
        instance = start(workdir, port=args.port, progress=say)
    except LocalRedmineError as exc:
        say(f"error: {exc}")
        return 1
    print(
        json.dumps(
            {
                "url": instance.url,
                "admin_key": instance.admin_key,
                "admin_login": "admin",
                "bot_key": instance.bot_key,
                "bot_login": BOT_LOGIN,
                "bot_password": BOT_PASSWORD,
                "workdir": str(instance.workdir),
                "log": str(instance.log_path),
            }
        ),
        flush=True,
    )
    say("running; press Ctrl-C to stop")
    try:
        while instance.running:
            time.sleep(1)
        say(f"server exited; tail of {instance.log_path}:\n{_log_tail(instance.log_path, 20)}")
        return 1
    except KeyboardInterrupt:
        say("stopping")
        return 0
    finally:
        instance.stop()


if __name__ == "__main__":
    raise SystemExit(main())
