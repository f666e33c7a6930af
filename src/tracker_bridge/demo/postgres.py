"""A throw-away PostgreSQL cluster on loopback, for the tests and the queue benchmark.

:func:`ensure_installed` installs Debian's ``postgresql`` with apt when ``initdb`` and
``pg_ctl`` are missing (needs root). :func:`start` creates a cluster in a fresh temporary
directory (as the ``postgres`` system user when we are root: the server refuses to run as
root), listening on 127.0.0.1 on a free port and on a socket in that directory. The
superuser only sets up: an ordinary role ``tracker_bridge`` with a password owns the database
``tracker_bridge`` and is what the store connects as (password authentication over TCP).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tracker_bridge.demo.install import APT_INSTALL, run_apt
from tracker_bridge.demo.rails import tail

PG_ROOT = Path("/usr/lib/postgresql")
ROLE = "tracker_bridge"
DATABASE = "tracker_bridge"


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL is not installed and cannot be, or the cluster did not start."""


def binaries() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with initdb and pg_ctl (None: none)."""
    found = [
        d / "bin"
        for d in PG_ROOT.glob("*")
        if (d / "bin" / "initdb").is_file() and (d / "bin" / "pg_ctl").is_file()
    ]
    found.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return found[-1] if found else None


def ensure_installed() -> Path:
    """The server binaries' directory; installs Debian's ``postgresql`` when it is missing."""
    found = binaries()
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PostgresUnavailableError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb) and installing it "
            "needs root and apt-get: sudo apt-get install -y --no-install-recommends postgresql"
        )
    run_apt(["apt-get", "update", "-q"], PostgresUnavailableError)
    run_apt([*APT_INSTALL, "postgresql"], PostgresUnavailableError)
    found = binaries()
    if found is None:
        raise PostgresUnavailableError("apt-get installed postgresql but initdb is still missing")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalPostgres:
    """A running throw-away cluster; :meth:`stop` removes it."""

    bin: Path
    directory: Path
    port: int
    password: str = field(repr=False)
    as_postgres: bool

    @property
    def url(self) -> str:
        """The store URL (no password: that comes from the environment or a file)."""
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
        )
        if check and proc.returncode != 0:
            raise PostgresUnavailableError(
                f"{' '.join(args[:2])} failed ({proc.returncode}):\n"
                + tail(proc.stdout + proc.stderr, 30)
            )
        return proc

    def superuser_sql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the cluster's superuser over the private socket (set-up only)."""
        psql = self.bin / "psql"
        if not psql.is_file():
            psql = Path(shutil.which("psql") or "psql")
        proc = self._run(
            str(psql), "-h", str(self.directory), "-p", str(self.port), "-U", "postgres",
            "-d", database, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql,
        )  # fmt: skip
        return proc.stdout.strip()

    def start(self) -> None:
        log = self.directory / "server.log"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "-t", "30",
            "-o", f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``mode``: smart, fast or immediate)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def remove(self) -> None:
        """Stop the server (if it runs) and delete the cluster."""
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop",
            check=False,
        )  # fmt: skip
        shutil.rmtree(self.directory, ignore_errors=True)


def start() -> LocalPostgres:
    """Create and start a throw-away cluster; the caller calls :meth:`LocalPostgres.remove`."""
    bin_dir = ensure_installed()
    as_postgres = os.geteuid() == 0
    directory = Path(tempfile.mkdtemp(prefix="tb-pg-"))
    server = LocalPostgres(bin_dir, directory, free_port(), secrets.token_hex(16), as_postgres)
    try:
        if as_postgres:
            shutil.chown(directory, "postgres", "postgres")
        pwfile = directory / "superuser.pw"
        pwfile.write_text(secrets.token_hex(16) + "\n")
        if as_postgres:
            shutil.chown(pwfile, "postgres", "postgres")
        # trust on the private socket (a 0700 directory) for the set-up; passwords on TCP
        server._run(
            str(bin_dir / "initdb"), "-D", str(server.data), "-U", "postgres", "-E", "UTF8",
            "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
        )  # fmt: skip
        with (server.data / "postgresql.conf").open("a") as conf:
            # a throw-away cluster: no fsync (a crash of the machine loses it anyway)
            conf.write("fsync = off\nfull_page_writes = off\nmax_connections = 200\n")
        server.start()
        server.superuser_sql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{server.password}'")
        server.superuser_sql(f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
    except BaseException:
        server.remove()
        raise
    return server


def wait_until_up(url_port: int, timeout: float = 30.0) -> None:
    """Wait until something accepts connections on ``127.0.0.1:url_port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", url_port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise PostgresUnavailableError(f"nothing listens on 127.0.0.1:{url_port}")
