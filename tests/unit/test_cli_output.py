"""How the command line reads when piped or logged: full tables, one line per failure,
compact doctor, exit codes as documented (0 done, 1 a project failed, 2 wrong usage)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracker_bridge.cli import main
from tracker_bridge.cli.output import print_doctor

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "medco-snapshot.json"

CONFIG = """
[trackers.main]
kind = "redmine"
url = "http://127.0.0.1:9"
api_key_env = "TB_TEST_NO_SUCH_KEY"

[projects.orders]
tracker = "main"
project = "orders"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tracker-bridge.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command in a child process: its log handlers and stderr as a user sees them."""
    env = {k: v for k, v in os.environ.items() if k != "TB_TEST_NO_SUCH_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "tracker_bridge.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_unknown_project_is_wrong_usage(config: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--config", str(config), "--project", "nope"])
    assert result.exit_code == 2, result.output
    assert "unknown project 'nope' (configured: orders)" in result.stderr


def test_a_failed_project_is_reported_once(config: Path) -> None:
    result = _cli("run", "--config", str(config), "--project", "orders")
    assert result.returncode == 1, result.stderr
    [failed] = [line for line in result.stderr.splitlines() if "FAILED" in line]
    reason = failed.split("FAILED: ", 1)[1]
    assert "TB_TEST_NO_SUCH_KEY" in reason
    assert result.stderr.count(reason) == 1, result.stderr  # no log line repeating it


def test_doctor_puts_problems_first_and_sums_up_what_passed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_doctor(
        {
            "orders": [
                {"id": "redmine.reachable", "ok": True, "message": "answers", "fix": None},
                {"id": "redmine.auth.ok", "ok": True, "message": "key works", "fix": None},
                {
                    "id": "redmine.custom_field.missing",
                    "ok": False,
                    "message": "'Total float (d)' is missing",
                    "fix": "create it in Administration - Custom fields",
                },
            ],
            "web": [{"id": "github.auth.ok", "ok": True, "message": "fine", "fix": None}],
        }
    )
    assert capsys.readouterr().out.splitlines() == [
        "doctor orders: 1 problem(s), 2 ok",
        "  FAIL redmine.custom_field.missing: 'Total float (d)' is missing",
        "       fix: create it in Administration - Custom fields",
        "  ok: redmine.reachable, redmine.auth.ok",
        "doctor web: all ok",
        "  ok: github.auth.ok",
    ]


def test_doctor_off_a_terminal_is_short_and_exits_1(config: Path) -> None:
    result = CliRunner().invoke(main, ["doctor", "--config", str(config)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == "doctor orders: 1 problem(s), 0 ok"
    assert lines[1].startswith("  FAIL config.invalid: ") and "TB_TEST_NO_SUCH_KEY" in lines[1]
    assert len(lines) == 2


def test_plan_off_a_terminal_is_tab_separated_and_uncut() -> None:
    result = CliRunner().invoke(main, ["plan", "--snapshot", str(EXAMPLE), "--as-of", "2026-11-26"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = lines[lines.index("MedCo order management system: plan as of 2026-11-26") + 1]
    assert header.split("\t")[:4] == ["item", "title", "early start", "early finish"]
    titles = {item["key"]: item["title"] for item in json.loads(EXAMPLE.read_text())["items"]}
    rows = [line.split("\t") for line in lines if line.startswith("medco:")]
    assert len(rows) == len(titles)
    assert all(row[1] == titles[row[0]] for row in rows)  # full titles, none cut
    assert max(len(t) for t in titles.values()) > 34  # the terminal table would cut one
    assert all(len(row) == len(header.split("\t")) for row in rows)
