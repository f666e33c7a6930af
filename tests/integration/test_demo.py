"""The README's main command, end to end: `tracker-bridge demo` on a fresh local Redmine."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tracker_bridge.demo.install import ensure_installed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start_demo(workdir: Path, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    log = workdir.parent / f"{workdir.name}.log"
    command = [sys.executable, "-m", "tracker_bridge.cli", "demo", "--dir", str(workdir)]
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            [*command, "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return proc, log


def _wait_for(proc: subprocess.Popen[bytes], log: Path, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = log.read_text(encoding="utf-8", errors="replace")
        if text in output:
            return output
        assert proc.poll() is None, f"demo exited with {proc.returncode}:\n{output}"
        time.sleep(0.5)
    proc.kill()
    raise AssertionError(f"no {text!r} within {timeout} s:\n{log.read_text(encoding='utf-8')}")


def _assert_redmine_stopped(server_pid: int, port: int) -> None:
    # stop() reaps the server, so not even a zombie is left; the port is free again
    with pytest.raises(ProcessLookupError):
        os.kill(server_pid, 0)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def _demo_until(workdir: Path, marker: str, sig: signal.Signals) -> tuple[str, int]:
    """Run the demo until ``marker`` appears, send ``sig``: the demo exits 0 and its Redmine
    is gone. Returns the output up to the signal and the port."""
    ensure_installed()
    port = free_port()
    proc, log = _start_demo(workdir, port)
    try:
        output = _wait_for(proc, log, marker, timeout=600)
        server_pid = int((workdir / "redmine" / "server.pid").read_text())
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    _assert_redmine_stopped(server_pid, port)
    assert log.read_text(encoding="utf-8").rstrip().endswith("stopped")
    return output, port


def test_demo_seeds_plans_publishes_and_stops_redmine_on_sigterm(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    output, port = _demo_until(workdir, "press Ctrl-C to stop it", signal.SIGTERM)
    assert re.search(r"medco: 31 items, 43 dependencies; finish \d{4}-\d\d-\d\d", output), output
    assert re.search(r"wrote \d+ field values on 31 issues, 1 wiki page", output), output
    assert f"http://127.0.0.1:{port}/projects/medco/wiki/Plan" in output
    # a progress line per step, each with the time since the start
    assert re.search(r"demo: +\d+\.\d s  creating 31 issues", output), output
    config = (workdir / "tracker-bridge.toml").read_text(encoding="utf-8")
    key = (workdir / "planbot.key").read_text(encoding="utf-8").strip()
    assert key and key not in config and key not in output  # the key stays in its file
    assert (workdir / "planbot.key").stat().st_mode & 0o077 == 0


def test_sighup_while_seeding_stops_redmine(tmp_path: Path) -> None:
    # "creating project": Redmine is up and the seeding has begun
    _demo_until(tmp_path / "demo", "creating project", signal.SIGHUP)
