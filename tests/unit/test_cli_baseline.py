"""``tracker-bridge baseline save|list|show|activate`` and ``plan`` with the active baseline."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tracker_bridge.cli import main

SNAPSHOT: dict[str, Any] = {
    "project": {"name": "small", "start": "2027-03-01"},
    "milestones": [{"key": "m1", "name": "Release"}],
    "items": [
        {"key": "A", "title": "Design", "estimate_hours": 16, "milestone": "m1"},
        {"key": "B", "title": "Build", "estimate_hours": 24, "milestone": "m1"},
        {"key": "C", "title": "Docs", "estimate_hours": 8},
    ],
    "dependencies": [
        {"predecessor": "A", "successor": "B"},
        {"predecessor": "A", "successor": "C"},
    ],
}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    store = tmp_path / "store" / "state.sqlite3"
    config = tmp_path / "tracker-bridge.toml"
    config.write_text(
        f"[store]\npath = {json.dumps(str(store))}\n\n[budget]\ndefault_rate = 100\n",
        encoding="utf-8",
    )
    snapshot = tmp_path / "snap.json"
    snapshot.write_text(json.dumps(SNAPSHOT), encoding="utf-8")
    return {"config": config, "store": store, "snapshot": snapshot, "dir": tmp_path}


def invoke(runner: CliRunner, files: dict[str, Path], *args: str) -> Any:
    return runner.invoke(main, [*args, "--config", str(files["config"])])


def save(runner: CliRunner, files: dict[str, Path], *extra: str) -> Any:
    return invoke(
        runner,
        files,
        "baseline",
        "save",
        "--snapshot",
        str(files["snapshot"]),
        "--as-of",
        "2027-03-01",
        *extra,
    )


def test_save_names_it_by_date_and_list_shows_it_active(
    runner: CliRunner, files: dict[str, Path]
) -> None:
    result = save(runner, files)
    assert result.exit_code == 0, result.output
    assert "Saved baseline '2027-03-01' of 'small' (now active)" in result.stdout
    assert "finish 2027-03-05" in result.stdout
    assert "BAC 4,800.00 EUR" in result.stdout
    assert files["store"].is_file()

    listed = invoke(runner, files, "baseline", "list", "--json")
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    assert row["project"] == "small" and row["name"] == "2027-03-01" and row["active"]
    assert (row["items"], row["budget_at_completion"]) == (3, 4800)

    table = invoke(runner, files, "baseline", "list")
    assert table.exit_code == 0 and "small" in table.stdout  # (columns wrap: narrow terminal)


def test_save_with_a_taken_name_fails_with_the_name(
    runner: CliRunner, files: dict[str, Path]
) -> None:
    assert save(runner, files, "--name", "v1").exit_code == 0
    again = save(runner, files, "--name", "v1")
    assert again.exit_code == 1
    assert "already has a baseline named 'v1'" in again.output


def test_show_json_and_table(runner: CliRunner, files: dict[str, Path]) -> None:
    save(runner, files, "--name", "v1")
    shown = invoke(runner, files, "baseline", "show", "--json")  # the only project stored
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert (data["project"], data["name"], data["active"]) == ("small", "v1", True)
    assert data["project_finish"] == "2027-03-05"
    assert data["items"]["B"]["early_finish"] == "2027-03-05"
    assert data["milestone_finish"] == {"m1": "2027-03-05"}

    table = invoke(runner, files, "baseline", "show", "--name", "v1", "--project", "small")
    assert table.exit_code == 0, table.output
    assert "baseline 'v1' (active)" in table.stdout and "Design" in table.stdout

    missing = invoke(runner, files, "baseline", "show", "--name", "nope", "--project", "small")
    assert missing.exit_code == 1
    assert "no baseline named 'nope' (baselines: 'v1')" in missing.output


def test_activate_switches_the_baseline(runner: CliRunner, files: dict[str, Path]) -> None:
    save(runner, files, "--name", "v1")
    save(runner, files, "--name", "v2")
    switched = invoke(runner, files, "baseline", "activate", "--name", "v1")
    assert switched.exit_code == 0, switched.output
    data = json.loads(invoke(runner, files, "baseline", "list", "--json").stdout)
    assert {row["name"]: row["active"] for row in data} == {"v1": True, "v2": False}


def test_plan_compares_with_the_active_baseline(runner: CliRunner, files: dict[str, Path]) -> None:
    save(runner, files, "--name", "approved")
    grown = copy.deepcopy(SNAPSHOT)
    grown["items"][0]["estimate_hours"] = 32  # A: 2 -> 4 days, pushing B by 2
    files["snapshot"].write_text(json.dumps(grown), encoding="utf-8")
    result = invoke(
        runner,
        files,
        "plan",
        "--snapshot",
        str(files["snapshot"]),
        "--as-of",
        "2027-03-01",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    overlay = data["overlays"]["baseline"]
    assert overlay["name"] == "approved"
    assert overlay["project"]["slip_days"] == 2
    assert data["items"]["B"]["slip_days"] == 2
    assert overlay["scope"]["growth_hours"] == 16
    assert overlay["cost"]["change"] == 1600
    assert data["overlays"]["budget"]["project"]["bac"] == 6400
    table = invoke(
        runner, files, "plan", "--snapshot", str(files["snapshot"]), "--as-of", "2027-03-01"
    )
    assert table.exit_code == 0, table.output
    assert "Against baseline 'approved' (finish 2027-03-05): +2 working days." in table.stdout


def test_plan_without_a_store_file_stays_file_free(
    runner: CliRunner, files: dict[str, Path]
) -> None:
    result = invoke(
        runner,
        files,
        "plan",
        "--snapshot",
        str(files["snapshot"]),
        "--as-of",
        "2027-03-01",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert "baseline" not in json.loads(result.stdout)["overlays"]
    assert not files["store"].exists()


def test_usage_errors(runner: CliRunner, files: dict[str, Path]) -> None:
    neither = invoke(runner, files, "baseline", "save")
    assert neither.exit_code == 2
    assert "exactly one of --snapshot FILE or --project NAME" in neither.output
    empty = invoke(runner, files, "baseline", "show")
    assert empty.exit_code == 2 and "no baselines in" in empty.output
    assert "No baselines saved yet" in invoke(runner, files, "baseline", "list").stdout
