"""A real Redmine 5.0 (Debian package) on loopback, for the integration tests and the demo.

Every :func:`start` copies the migrated SQLite database that Debian's ``redmine-sqlite``
package ships into a scratch directory, so each instance starts from clean default data
(trackers Bug/Feature/Support, the default statuses, priorities and activities) and several
instances can run side by side on different ports. One ``rails runner`` call then prepares
the copy (:mod:`tracker_bridge.demo.prepare`). The server is WEBrick
(``rails server -u webrick``), which answers after about 6 s.

    python -m tracker_bridge.demo.instance start --dir /tmp/rm [--port 3000]

starts one and prints its URL and keys as JSON.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
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

import requests

from tracker_bridge.demo.install import ensure_installed
from tracker_bridge.demo.prepare import (
    BOT_LOGIN,
    BOT_PASSWORD,
    OUR_CUSTOM_FIELDS,
    prepare_database,
)
from tracker_bridge.demo.rails import (
    REDMINE_ROOT,
    TEMPLATE_DB,
    LocalRedmineError,
    RedmineNotInstalledError,
    noop,
    rails_env,
    rails_runner,
    tail,
)

SERVER_START_TIMEOUT_S = 90.0
SERVER_STOP_TIMEOUT_S = 20.0


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
        return rails_runner(ruby, self.db_path)


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:  # pragma: no cover - the group is ours, but be defensive
        proc.send_signal(sig)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _log_tail(path: Path, lines: int = 60) -> str:
    try:
        return tail(path.read_text(errors="replace"), lines)
    except OSError:
        return "(no log)"


def start(
    workdir: Path,
    port: int | None = None,
    custom_fields: Sequence[tuple[str, str]] = OUR_CUSTOM_FIELDS,
    progress: Callable[[str], None] = noop,
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
    db_path = _fresh_database(workdir)
    timings["copy_db"] = time.monotonic() - t0

    progress("preparing the database (rails runner)")
    t0 = time.monotonic()
    setup = prepare_database(db_path, custom_fields)
    timings["runner"] = time.monotonic() - t0
    timings["runner_setup_body"] = float(setup.get("setup_seconds", 0.0))

    def instance_on(chosen: int) -> LocalRedmine:
        return LocalRedmine(
            url=f"http://127.0.0.1:{chosen}",
            admin_key=str(setup["admin_key"]),
            bot_key=str(setup["bot_key"]),
            workdir=workdir,
            custom_field_ids={cf["name"]: int(cf["id"]) for cf in setup["custom_fields"]},
            timings=timings,
            mail_dir=mail_dir,
        )

    t0 = time.monotonic()
    version = str(setup.get("redmine_version", ""))
    instance = _serve(instance_on, port, _server_env(workdir, db_path), version, progress)
    timings["server_start"] = time.monotonic() - t0
    progress(
        f"Redmine ready on {instance.url} (runner {timings['runner']:.1f} s, "
        f"server {timings['server_start']:.1f} s)"
    )
    return instance


def _fresh_database(workdir: Path) -> Path:
    """A copy of the template database in ``workdir``, without a previous run's leftovers."""
    db_path = workdir / "redmine.sqlite3"
    for suffix in ("", "-journal", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{db_path}{suffix}")
    shutil.copyfile(TEMPLATE_DB, db_path)
    return db_path


@dataclass(frozen=True)
class _ServerEnv:
    env: dict[str, str]
    sync_rb: Path


def _server_env(workdir: Path, db_path: Path) -> _ServerEnv:
    env = rails_env(db_path)
    env["RAILS_LOG_TO_STDOUT"] = "1"  # the Rails log goes to server.log, not the shared one
    # Ruby block-buffers stdout into a file; unbuffer it so server.log is live (and its tail
    # in error messages is current).
    sync_rb = workdir / "sync_stdout.rb"
    sync_rb.write_text("$stdout.sync = true\n$stderr.sync = true\n")
    return _ServerEnv(env, sync_rb)


def _serve(
    instance_on: Callable[[int], LocalRedmine],
    port: int | None,
    server: _ServerEnv,
    version: str,
    progress: Callable[[str], None],
) -> LocalRedmine:
    """Launch the server and wait until it answers.

    A port picked by binding port 0 can be taken before WEBrick binds it: then try another.
    """
    attempts = 1 if port else 3
    attempt = 1
    while True:
        chosen = port or _free_port()
        instance = instance_on(chosen)
        progress(f"starting Redmine {version} on {instance.url}")
        log_path = instance.log_path
        log_offset = log_path.stat().st_size if log_path.exists() else 0
        instance._proc = _launch_server(
            chosen,
            instance.workdir,
            server.env,
            server.sync_rb,
            log_path,
            instance.mail_dir,
        )
        atexit.register(instance.stop)
        try:
            _wait_ready(instance, instance._proc, log_path)
        except LocalRedmineError:
            instance.stop()
            if attempt < attempts and _port_clash(log_path, log_offset):
                progress(f"port {chosen} was taken meanwhile; retrying on another")
                attempt += 1
                continue
            raise
        except BaseException:
            instance.stop()
            raise
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tracker_bridge.demo.instance",
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
