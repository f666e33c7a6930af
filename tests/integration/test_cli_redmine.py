"""The command line against a real Redmine: run, dry run, convergence, failures, doctor.

The MedCo example (the demo's project) is seeded into a fresh project per test module, so the
numbers can be checked against planning the same example from its snapshot file.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner, Result
from redmine_helpers import write_config

from tracker_bridge.cli import main
from tracker_bridge.demo.example import load_example, week_shift
from tracker_bridge.demo.instance import LocalRedmine
from tracker_bridge.demo.seed import SeededProject, seed

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "medco-snapshot.json"


@pytest.fixture(scope="module")
def medco(redmine: LocalRedmine) -> SeededProject:
    identifier = f"medco-{secrets.token_hex(3)}"
    return seed(redmine, load_example(), dt.date.today(), identifier=identifier)


@pytest.fixture
def config(redmine: LocalRedmine, medco: SeededProject, tmp_path: Path) -> Path:
    return write_config(redmine, tmp_path, {"medco": medco.identifier, "ghost": "no-such-project"})


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def run_json(config: Path, as_of: dt.date, *extra: str) -> list[dict[str, object]]:
    result = cli(
        "run",
        "--config",
        str(config),
        "--project",
        "medco",
        "--as-of",
        str(as_of),
        "--json",
        *extra,
    )
    assert result.exit_code == 0, result.output + result.stderr
    data: list[dict[str, object]] = json.loads(result.stdout)
    return data


@pytest.fixture
def issue_journals(redmine: LocalRedmine, medco: SeededProject) -> Iterator[object]:
    def count() -> int:
        total = 0
        for issue_id in medco.issue_ids.values():
            resp = requests.get(
                f"{redmine.url}/issues/{issue_id}.json?include=journals",
                headers={"X-Redmine-API-Key": redmine.admin_key},
                timeout=30,
            )
            total += len(resp.json()["issue"]["journals"])
        return total

    yield count


def test_dry_run_then_run_then_nothing_left_to_write(
    config: Path, medco: SeededProject, issue_journals: object
) -> None:
    count = issue_journals  # type: ignore[assignment]
    before = count()  # type: ignore[operator]
    dry = run_json(config, medco.as_of, "--dry-run")[0]
    assert dry["ok"] and dry["written"] is None
    planned_fields = dry["changes"]["fields"]  # type: ignore[index]
    # five schedule fields + risk score, P80 finish, criticality (no budget, no baseline)
    assert len(planned_fields) == 31 * 8
    assert count() == before  # type: ignore[operator]  # the dry run wrote nothing

    first = run_json(config, medco.as_of)[0]
    assert first["written"]["fields_written"] == len(planned_fields)  # type: ignore[index]
    assert first["written"]["pages_written"] == 1  # type: ignore[index]

    second = run_json(config, medco.as_of)[0]
    assert second["changes"] == {"fields": [], "pages": []}
    assert second["written"]["issues_updated"] == 0  # type: ignore[index]
    assert second["written"]["requests"] == 0  # type: ignore[index]


def test_redmine_plan_equals_the_snapshot_plan(config: Path, medco: SeededProject) -> None:
    live = cli(
        "plan", "--config", str(config), "--project", "medco", "--as-of", str(medco.as_of), "--json"
    )
    offline = cli("plan", "--snapshot", str(EXAMPLE), "--as-of", "2026-11-26", "--json")
    assert live.exit_code == 0 and offline.exit_code == 0, live.stderr + offline.stderr
    live_plan, file_plan = json.loads(live.stdout), json.loads(offline.stdout)
    shift = week_shift(dt.date.today())
    assert live_plan["project"]["finish"] == str(
        dt.date.fromisoformat(file_plan["project"]["finish"]) + shift
    )
    ids = {
        f"medco:{n}": f"redmine:{i}"
        for n, i in ((k.split(":")[1], v) for k, v in medco.issue_ids.items())
    }
    for key, item in file_plan["items"].items():
        assert live_plan["items"][ids[key]]["total_float"] == item["total_float"], key
    expected_path = [ids[k] for k in file_plan["project"]["critical_paths"][0]]
    assert live_plan["project"]["critical_paths"][0] == expected_path


def test_failed_project_is_reported_and_others_still_run(
    config: Path, medco: SeededProject
) -> None:
    result = cli("run", "--config", str(config), "--all", "--as-of", str(medco.as_of), "--json")
    assert result.exit_code == 1
    by_name = {r["project"]: r for r in json.loads(result.stdout)}
    assert by_name["medco"]["ok"] is True
    assert by_name["ghost"]["ok"] is False
    assert "no-such-project" in by_name["ghost"]["error"]


def test_relation_cycle_is_reported_with_its_keys(
    redmine: LocalRedmine, config: Path, medco: SeededProject
) -> None:
    # Redmine refuses circular relations through the API; a database that has one anyway
    # (older versions, imports) must still give a clear message, not a traceback.
    a, b = medco.issue_ids["medco:30"], medco.issue_ids["medco:31"]
    redmine.runner(
        f"IssueRelation.new(issue_from_id: {b}, issue_to_id: {a}, "
        "relation_type: 'precedes', delay: 0).save(validate: false)"
    )
    try:
        result = cli("run", "--config", str(config), "--project", "medco")
        assert result.exit_code == 1
        assert f"redmine:{a}" in result.stderr and f"redmine:{b}" in result.stderr
        assert "cycle" in result.stderr
    finally:
        redmine.runner(f"IssueRelation.where(issue_from_id: {b}, issue_to_id: {a}).delete_all")


def test_doctor_reports_stable_ids(config: Path) -> None:
    result = cli("doctor", "--config", str(config), "--json")
    assert result.exit_code == 1  # the ghost project fails
    report = json.loads(result.stdout)
    medco_ids = {f["id"] for f in report["medco"]}
    assert "redmine.auth.ok" in medco_ids
    assert all(f["ok"] for f in report["medco"]), report["medco"]
    ghost = {f["id"]: f for f in report["ghost"]}
    assert "redmine.project.missing" in ghost
    assert ghost["redmine.project.missing"]["fix"]


def test_invalid_key_is_caught_up_front(config: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("0123456789abcdef0123456789abcdef01234567", encoding="utf-8")
    text = config.read_text(encoding="utf-8")
    broken = tmp_path / "broken.toml"
    broken.write_text(text.replace(str(tmp_path / "bot.key"), str(bad)), encoding="utf-8")
    result = cli("run", "--config", str(broken), "--project", "medco")
    assert result.exit_code == 1
    assert "0123456789abcdef" not in result.output + result.stderr
    assert "key" in result.stderr.lower()
