"""Hostile or broken input gives one clear line naming the place and exit 1 (2 for usage),
never a traceback; implausible values are planned with a warning that names the item."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracker_bridge.cli import main

SECRET = "0123456789abcdef0123456789abcdef01234567"


def snapshot(*, item: dict[str, object] | None = None, lag: int = 0) -> dict[str, object]:
    return {
        "project": {"name": "shop", "start": "2026-03-02"},
        "items": [
            {"key": "a", "title": "Design", "estimate_hours": 8, **(item or {})},
            {"key": "b", "title": "Build", "estimate_hours": 16},
        ],
        "dependencies": [{"predecessor": "a", "successor": "b", "lag_days": lag}],
    }


def json_bytes(data: dict[str, object]) -> bytes:
    return json.dumps(data).encode()


CONFIG = """
[trackers.rm]
kind = "redmine"
url = "http://127.0.0.1:9"
{key}

[projects.web]
tracker = "rm"
project = "web"
"""


@dataclass
class Case:
    """Files to write (name -> bytes), the command line, and what must come out."""

    files: dict[str, bytes]
    args: list[str]
    exit_code: int
    says: str
    env: dict[str, str] | None = None


def plan_of(data: bytes, *extra: str) -> Case:
    return Case({"snap.json": data}, ["plan", "--snapshot", "snap.json", *extra], 1, "")


def with_config(config: bytes) -> Case:
    return Case(
        {"snap.json": json_bytes(snapshot()), "cfg.toml": config},
        ["plan", "--snapshot", "snap.json", "--config", "cfg.toml"],
        1,
        "",
    )


def with_key(key: bytes) -> Case:
    return Case(
        {"key.txt": key, "cfg.toml": CONFIG.format(key='api_key_file = "key.txt"').encode()},
        ["fetch", "--project", "web", "--config", "cfg.toml"],
        1,
        "",
    )


def key_in_env(value: str) -> Case:
    return Case(
        {"cfg.toml": CONFIG.format(key='api_key_env = "TB_TEST_KEY"').encode()},
        ["fetch", "--project", "web", "--config", "cfg.toml"],
        1,
        "",
        env={"TB_TEST_KEY": value},
    )


def says(case: Case, text: str, exit_code: int = 1) -> Case:
    case.says, case.exit_code = text, exit_code
    return case


GOOD = json_bytes(snapshot())
CASES: dict[str, Callable[[], Case]] = {
    "snapshot in Latin-1": lambda: says(
        plan_of(
            json.dumps(snapshot(item={"title": "Änderung"}), ensure_ascii=False).encode("latin-1")
        ),
        "snap.json: the snapshot file is not UTF-8 (byte 0xc4 on line 1)",
    ),
    "snapshot in UTF-16": lambda: says(
        plan_of(json.dumps(snapshot()).encode("utf-16")),
        "snap.json: the snapshot file is UTF-16; save it as UTF-8",
    ),
    "JSON nested 100,000 deep": lambda: says(
        plan_of(b'{"project": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        "snap.json: JSON nested too deeply to read",
    ),
    "5,000-digit integer": lambda: says(
        plan_of(json.dumps(snapshot()).replace("16", "9" * 5000).encode()),
        "snap.json: a number in it has more than 4,300 digits",
    ),
    "estimate Infinity": lambda: says(
        plan_of(json.dumps(snapshot(item={"estimate_hours": float("inf")})).encode()),
        "snap.json: items[a].estimate_hours <- Input should be a finite number",
    ),
    "estimate 1e300": lambda: says(
        plan_of(json_bytes(snapshot(item={"estimate_hours": 1e300}))),
        "item a: an estimate of 1e+300 h (8 h a working day) runs past 9999-12-31",
    ),
    "estimate 1e9 h": lambda: says(
        plan_of(json_bytes(snapshot(item={"estimate_hours": 1e9}))),
        "item a: an estimate of 1e+09 h (8 h a working day) runs past 9999-12-31",
    ),
    "lag of 2**31 days": lambda: says(
        plan_of(json_bytes(snapshot(lag=2**31))),
        "dependency a -> b: a lag of 2,147,483,648 working days runs past 9999-12-31",
    ),
    "status date 9999-12-31": lambda: says(
        plan_of(GOOD, "--as-of", "9999-12-31"),  # a (1 day) fits on Friday 9999-12-31, b does not
        "item b would finish after 9999-12-31, the last date there is (status date 9999-12-31)",
    ),
    "config in Latin-1": lambda: says(
        with_config("[calendar]\n# Büro\n".encode("latin-1")),
        "cfg.toml: the config file is not UTF-8 (byte 0xfc on line 2)",
    ),
    "config in UTF-16": lambda: says(
        with_config("[calendar]\n".encode("utf-16")),
        "cfg.toml: the config file is UTF-16; save it as UTF-8",
    ),
    "key file in Latin-1": lambda: says(
        with_key(SECRET.encode() + b"\xe9"),
        "trackers.rm.api_key_file: key.txt: the key file is not UTF-8 (byte 0xe9 on line 1)",
    ),
    "key file in UTF-16": lambda: says(
        with_key(SECRET.encode("utf-16")),
        "trackers.rm.api_key_file: key.txt: the key file is UTF-16; save it as UTF-8",
    ),
    "key outside Latin-1": lambda: says(
        with_key(SECRET.encode() + "\u2013".encode()),
        "trackers.rm.api_key_file: the key in key.txt contains a character that cannot be "
        "sent in an HTTP header (character 41, outside Latin-1)",
    ),
    "key with a line break": lambda: says(
        with_key(SECRET[:20].encode() + b"\n" + SECRET[20:].encode()),
        "trackers.rm.api_key_file: the key in key.txt contains a line break or control "
        "character (character 21)",
    ),
    "key in the environment with a line break": lambda: says(
        key_in_env(SECRET[:20] + "\r\n" + SECRET[20:]),
        "trackers.rm: the key in $TB_TEST_KEY contains a line break or control character",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_clear_line(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRACKER_BRIDGE_CONFIG", raising=False)
    for file, data in case.files.items():
        (tmp_path / file).write_bytes(data)
    result = CliRunner().invoke(main, case.args, env=case.env)
    assert result.exit_code == case.exit_code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert lines == [f"tracker-bridge: error: {case.says}"] or (
        len(lines) == 1 and lines[0].startswith(f"tracker-bridge: error: {case.says}")
    ), result.stderr
    assert SECRET not in result.output and SECRET[:20] not in result.output


@pytest.mark.parametrize(
    ("data", "warning"),
    [
        (
            snapshot(item={"estimate_hours": 1e7}),
            "warning: estimate over 10,000 h on a; planned as given (a typo?)",
        ),
        (
            snapshot(lag=1500),
            "warning: lag over 1,000 working days on a -> b; planned as given (a typo?)",
        ),
        (
            snapshot(item={"title": "Design \ud800"}),
            "warning: item a: its key or title is not valid Unicode (a lone surrogate); "
            "shown with \ufffd",
        ),
    ],
    ids=["estimate 1e7 h", "lag 1,500 days", "lone surrogate in a title"],
)
def test_implausible_input_is_planned_with_a_warning_naming_the_item(
    data: dict[str, object], warning: str, tmp_path: Path
) -> None:
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(data), encoding="utf-8")  # a lone surrogate as \\ud800
    result = CliRunner().invoke(main, ["plan", "--snapshot", str(path), "--as-of", "2026-03-02"])
    assert result.exit_code == 0, result.output
    assert warning in result.stderr.splitlines()
    assert "Critical path 1: a -> b" in result.stdout
