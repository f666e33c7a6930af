"""Rules of the code base itself: boundaries between parts, examples that stay valid."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tracker_bridge.settings import load_settings
from tracker_bridge.snapshot_file import load_snapshot

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "tracker_bridge"
TRACKER_CLIENTS = {"redminelib", "github", "requests", "httpx", "responses"}
PURE_PARTS = ["model.py", "planner", "publish"]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def python_files(part: str) -> list[Path]:
    target = PACKAGE / part
    return [target] if target.is_file() else sorted(target.rglob("*.py"))


@pytest.mark.parametrize("part", PURE_PARTS)
def test_model_planner_and_publish_import_no_tracker_client(part: str) -> None:
    for path in python_files(part):
        clients = imported_modules(path) & TRACKER_CLIENTS
        assert not clients, f"{path.relative_to(ROOT)} imports {sorted(clients)}"


@pytest.mark.parametrize("part", ["planner"])
def test_planner_knows_no_adapters_files_or_cli(part: str) -> None:
    for path in python_files(part):
        text = path.read_text(encoding="utf-8")
        for forbidden in (
            "tracker_bridge.adapters",
            "tracker_bridge.cli",
            "tracker_bridge.store",
            "open(",
            "datetime.now",
            "date.today",
            "time.time(",
        ):
            assert forbidden not in text, f"{path.relative_to(ROOT)} uses {forbidden}"


@pytest.mark.parametrize("config", sorted((ROOT / "config").glob("*.toml")), ids=lambda p: p.name)
def test_example_configs_are_valid(config: Path) -> None:
    settings = load_settings(config)
    assert settings.calendar.hours_per_day > 0


def test_example_snapshot_is_valid() -> None:
    snapshot = load_snapshot(ROOT / "config" / "medco-snapshot.json")
    assert len(snapshot.items) == 31 and len(snapshot.milestones) == 4
