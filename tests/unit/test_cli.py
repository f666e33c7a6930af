"""The command line, in-process with click's CliRunner (no network)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tracker_bridge.cli import main
from tracker_bridge.cli.app import COMMANDS
from tracker_bridge.planner import plan as make_plan
from tracker_bridge.settings import Settings
from tracker_bridge.snapshot_file import load_snapshot

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "medco-snapshot.json"
EXAMPLE_CONFIG = EXAMPLE.parent / "example.toml"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write_snapshot(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


SMALL = {
    "project": {"name": "small", "start": "2027-03-01"},
    "items": [
        {"key": "A", "title": "Design", "estimate_hours": 16},
        {"key": "B", "title": "Build", "estimate_hours": 24},
        {"key": "C", "title": "Docs", "estimate_hours": 8},
    ],
    "dependencies": [
        {"predecessor": "A", "successor": "B"},
        {"predecessor": "A", "successor": "C"},
    ],
}


def test_plan_json_has_the_documented_keys(runner: CliRunner, tmp_path: Path) -> None:
    path = write_snapshot(tmp_path, SMALL)
    result = runner.invoke(
        main, ["plan", "--snapshot", str(path), "--as-of", "2027-03-01", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["project"]["start"] == "2027-03-01"
    # A: Mon 1 - Tue 2; B: Wed 3 - Fri 5; C: Wed 3 with two days of float
    assert data["project"]["finish"] == "2027-03-05"
    assert data["project"]["critical_paths"] == [["A", "B"]]
    c = data["items"]["C"]
    assert (c["early_start"], c["early_finish"]) == ("2027-03-03", "2027-03-03")
    assert (c["late_start"], c["late_finish"]) == ("2027-03-05", "2027-03-05")
    assert (c["total_float"], c["free_float"], c["critical"]) == (2, 2, False)


def test_plan_schedule_only_is_the_schedule_of_the_full_plan(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = write_snapshot(tmp_path, SMALL)
    args = ["plan", "--snapshot", str(path), "--as-of", "2027-03-01", "--json"]
    full = json.loads(runner.invoke(main, args).output)
    result = runner.invoke(main, [*args, "--schedule-only"])
    assert result.exit_code == 0, result.output
    alone = json.loads(result.output)
    assert "risk" in full["overlays"] and alone["overlays"] == {}
    assert alone["project"] == full["project"]
    for key, item in alone["items"].items():
        assert item["risk_score"] is None and item["criticality"] is None
        same = ("early_start", "early_finish", "late_start", "late_finish", "total_float")
        assert {k: item[k] for k in same} == {k: full["items"][key][k] for k in same}


def test_plan_table_for_people(runner: CliRunner, tmp_path: Path) -> None:
    path = write_snapshot(tmp_path, SMALL)
    result = runner.invoke(main, ["plan", "--snapshot", str(path), "--as-of", "2027-03-01"])
    assert result.exit_code == 0, result.output
    assert "forecast finish 2027-03-05" in result.output
    assert "Critical path 1: A -> B" in result.output


def test_plan_the_bundled_example(runner: CliRunner) -> None:
    result = runner.invoke(
        main,
        [
            "plan",
            "--snapshot",
            str(EXAMPLE),
            "--config",
            str(EXAMPLE_CONFIG),
            "--as-of",
            "2026-11-26",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data["items"]) == 31
    # medco:27 (60 h: 7.5 days) ends half a day before medco:28 does, so the chain through
    # medco:24 and medco:27 stops there; the one through medco:28 drives medco:31, the
    # project's finish, and is listed first (the chains that end latest come first).
    assert [path[-1] for path in data["project"]["critical_paths"]] == [
        "medco:31",
        "medco:27",
        "medco:15",
    ]


def test_cycle_is_one_clear_line_and_exit_1(runner: CliRunner, tmp_path: Path) -> None:
    data = dict(
        SMALL, dependencies=[*SMALL["dependencies"], {"predecessor": "B", "successor": "A"}]
    )
    path = write_snapshot(tmp_path, data)
    result = runner.invoke(main, ["plan", "--snapshot", str(path)])
    assert result.exit_code == 1
    assert "dependency cycle: A -> B -> A" in result.stderr or "B -> A -> B" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_dependency_key_names_both(runner: CliRunner, tmp_path: Path) -> None:
    data = dict(SMALL, dependencies=[{"predecessor": "A", "successor": "Z"}])
    result = runner.invoke(main, ["plan", "--snapshot", str(write_snapshot(tmp_path, data))])
    assert result.exit_code == 1
    assert "'A'" in result.stderr and "'Z'" in result.stderr


def test_malformed_json_names_the_file_and_line(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"project": {"name": "x",\n  "start": }', encoding="utf-8")
    result = runner.invoke(main, ["plan", "--snapshot", str(path)])
    assert result.exit_code == 1
    assert str(path) in result.stderr and "line 2" in result.stderr


def test_invalid_item_names_key_and_field(runner: CliRunner, tmp_path: Path) -> None:
    data = dict(SMALL, items=[*SMALL["items"], {"key": "D", "estimate_hours": -3}])
    result = runner.invoke(main, ["plan", "--snapshot", str(write_snapshot(tmp_path, data))])
    assert result.exit_code == 1
    assert "D" in result.stderr and "estimate_hours" in result.stderr


def test_config_error_names_file_and_key(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[calendar]\nhours_per_day = -1\nworkdayz = []\n", encoding="utf-8")
    path = write_snapshot(tmp_path, SMALL)
    result = runner.invoke(main, ["plan", "--snapshot", str(path), "--config", str(config)])
    assert result.exit_code == 1
    assert f"{config}: calendar.hours_per_day" in result.stderr
    assert f"{config}: calendar.workdayz <- unknown key" in result.stderr


def test_secret_in_config_file_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[trackers.main]\nkind = "redmine"\nurl = "https://r.example"\napi_key = "s3cr3t-value"\n',
        encoding="utf-8",
    )
    result = runner.invoke(main, ["doctor", "--config", str(config)])
    assert result.exit_code != 0
    assert "api_key_env" in result.stderr
    assert "s3cr3t-value" not in result.output + result.stderr


def test_usage_errors_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(main, ["plan"]).exit_code == 2
    assert runner.invoke(main, ["plan", "--snapshot", "x", "--project", "y"]).exit_code == 2
    assert runner.invoke(main, ["no-such-command"]).exit_code == 2


def test_schema_commands_print_json_schema(runner: CliRunner) -> None:
    snap = json.loads(runner.invoke(main, ["schema", "snapshot"]).output)
    item = snap["$defs"]["WorkItem"]["properties"]
    for key in (
        "key",
        "title",
        "status",
        "estimate_hours",
        "start",
        "due",
        "done_ratio",
        "spent_hours",
        "milestone",
        "assignee",
        "closed_on",
        "estimate_range",
        "url",
    ):
        assert key in item
    plan = json.loads(runner.invoke(main, ["schema", "plan"]).output)
    assert "critical_paths" in plan["$defs"]["ProjectSchedule"]["properties"]


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)  # imports the command's module
        assert command is not None, name
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(_all_commands(command, (*prefix, name)))
    return found


@pytest.mark.parametrize("command", _all_commands(main))
def test_every_command_has_help(runner: CliRunner, command: tuple[str, ...]) -> None:
    result = runner.invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    summary = main.commands[command[0]].help or ""
    assert len(summary) > 20, f"{command} needs a real help text"


def test_the_lazy_command_list_matches_the_commands() -> None:
    """``--help`` lists commands from ``app.COMMANDS`` without importing them: every line
    there must be the command's own first help sentence, from the module it names."""
    ctx = click.Context(main)
    assert set(COMMANDS) == set(main.list_commands(ctx))
    for name, (module, line) in COMMANDS.items():
        command = main.get_command(ctx, name)
        assert command is not None and command.callback is not None, name
        assert command.callback.__module__ == module, name
        assert (command.help or "").split("\n\n")[0].split() == line.split(), name


def test_help_imports_no_heavy_module() -> None:
    """The root ``--help`` needs click and rich only: not numpy, pydantic, the planner, the
    adapters or the web server (each command imports what it uses when it runs)."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from tracker_bridge.cli import main\n"
        "result = CliRunner().invoke(main, ['--help'])\n"
        "assert result.exit_code == 0 and 'baseline' in result.output, result.output\n"
        "heavy = ('numpy', 'pydantic', 'matplotlib', 'networkx', 'starlette', 'uvicorn',\n"
        "         'tracker_bridge.planner', 'tracker_bridge.adapters', 'tracker_bridge.model')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_plan_json_is_the_plan_model_as_json(runner: CliRunner) -> None:
    """``--json`` uses pydantic's serializer; it must print what ``Plan.to_json_dict`` holds."""
    result = runner.invoke(
        main, ["plan", "--snapshot", str(EXAMPLE), "--json", "--as-of", "2027-01-04"]
    )
    assert result.exit_code == 0, result.output
    expected = make_plan(load_snapshot(EXAMPLE), Settings(), dt.date(2027, 1, 4))
    assert json.loads(result.output) == json.loads(json.dumps(expected.to_json_dict(), default=str))
