"""The README's main command, end to end: `tracker-bridge demo` on a fresh local Redmine."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

from tracker_bridge.local_redmine import ensure_installed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_demo_seeds_plans_and_publishes(tmp_path: Path) -> None:
    ensure_installed()
    port = free_port()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracker_bridge.cli",
            "demo",
            "--no-wait",
            "--dir",
            str(tmp_path),
            "--port",
            str(port),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(r"medco: 31 items, 43 dependencies; finish \d{4}-\d\d-\d\d", output), output
    assert re.search(r"wrote \d+ field values on 31 issues, 1 wiki page", output), output
    assert f"http://127.0.0.1:{port}/projects/medco/wiki/Plan" in output
    config = (tmp_path / "tracker-bridge.toml").read_text(encoding="utf-8")
    key = (tmp_path / "planbot.key").read_text(encoding="utf-8").strip()
    assert key and key not in config and key not in output  # the key stays in its file
    assert (tmp_path / "planbot.key").stat().st_mode & 0o077 == 0
