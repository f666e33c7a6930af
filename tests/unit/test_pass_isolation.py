"""One project's failure is its own: any exception is reported with the project's name and
the other projects still run; what an interrupted apply wrote is still recorded.

The adapters are in-memory implementations of our adapter protocol; how the real adapters
fill ``error.report`` is tested against a real Redmine (tests/integration) and GitHub's
contract (tests/adapters).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracker_bridge import pipeline
from tracker_bridge.adapters.protocol import FetchResult
from tracker_bridge.cli import main
from tracker_bridge.combined import run_combined_pass
from tracker_bridge.errors import RejectedError
from tracker_bridge.model import (
    ApplyReport,
    ChangeSet,
    DesiredState,
    FieldChange,
    Project,
    Snapshot,
    WorkItem,
)
from tracker_bridge.pipeline import run_pass
from tracker_bridge.publish.style import PlainStyle
from tracker_bridge.settings import Settings, load_settings
from tracker_bridge.store import Store

START = dt.date(2027, 3, 1)  # a Monday


class Adapter:
    """Two issues; ``broken`` names the stage that fails and how."""

    supports_incremental = False
    page_style = PlainStyle()

    def __init__(self, name: str, broken: str = "", refuse: str = "") -> None:
        self.name = name
        self.broken = broken
        self.refuse = refuse  # the item key the tracker refuses (422)
        self.requests_made = 0
        self.applied: list[ChangeSet] = []
        self.keys = [f"redmine:{name}1", f"redmine:{name}2"]

    def fetch(self, **_: object) -> FetchResult:
        if self.broken == "fetch":
            raise KeyError("estimate")  # a bug, not a TrackerBridgeError
        items = [WorkItem(key=k, title=k, estimate_hours=8) for k in self.keys]
        return FetchResult(Snapshot(project=Project(name=self.name, start=START), items=items))

    def diff(self, snapshot: Snapshot, desired: DesiredState) -> ChangeSet:
        return ChangeSet(
            fields=[FieldChange(item=k, field="total_float", old=None, new="0") for k in self.keys]
        )

    def apply(self, changes: ChangeSet) -> ApplyReport:
        if self.broken == "apply":
            raise ZeroDivisionError("division by zero")
        self.applied.append(changes)
        report = ApplyReport()
        for key in sorted({c.item for c in changes.fields}):
            if key == self.refuse:
                continue
            report.issues_updated += 1
            report.items_written.append(key)
        if self.refuse:
            error = RejectedError(
                f"1 issue update(s) failed: Redmine refused the update of issue #{self.refuse}",
                method="PUT",
                path="/issues/2.json",
                status=422,
            )
            error.report = report
            raise error
        return report

    def check(self) -> list[object]:
        return []

    def close(self) -> None:
        pass


def write_config(tmp_path: Path, plans: str = "") -> Path:
    config = tmp_path / "tracker-bridge.toml"
    config.write_text(
        f"""
[trackers.rm]
kind = "redmine"
url = "https://redmine.example"

[projects.alpha]
tracker = "rm"
project = "alpha"

[projects.beta]
tracker = "rm"
project = "beta"

[store]
path = "{tmp_path / "state.sqlite"}"
{plans}
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(write_config(tmp_path))


def use(monkeypatch: pytest.MonkeyPatch, module: str, adapters: dict[str, Adapter]) -> None:
    monkeypatch.setattr(
        f"tracker_bridge.{module}.open_adapter",
        lambda settings, name, progress=None: adapters[name],
    )


@pytest.mark.parametrize("stage", ["fetch", "apply"])
def test_a_bug_in_one_project_is_reported_not_raised(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    use(monkeypatch, "pipeline", {"alpha": Adapter("a", broken=stage)})
    result = run_pass(settings, "alpha", as_of=START)
    assert not result.ok
    expected = "KeyError: 'estimate'" if stage == "fetch" else "ZeroDivisionError: division"
    assert result.error is not None and f"unexpected {expected}" in result.error
    assert "\n" not in result.error


def test_run_all_goes_on_after_a_bug_in_one_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path)
    beta = Adapter("b")
    use(monkeypatch, "pipeline", {"alpha": Adapter("a", broken="fetch"), "beta": beta})
    result = CliRunner().invoke(main, ["run", "--all", "--config", str(config)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "alpha: FAILED: unexpected KeyError" in result.stderr
    assert "1 of 2 project(s) failed: alpha" in result.stderr
    assert len(beta.applied) == 1  # beta still ran and wrote


def test_writes_before_a_refused_issue_are_recorded(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, "pipeline", {"alpha": Adapter("a", refuse="redmine:a2")})
    with Store.open(settings.store.path) as store:
        result = run_pass(settings, "alpha", as_of=START, store=store)
        assert not result.ok and "issue #redmine:a2" in (result.error or "")
        assert store.written_value("alpha", "redmine:a1", "total_float") == "0"
        assert store.written_value("alpha", "redmine:a2", "total_float") is None
    assert result.report is not None and result.report.issues_updated == 1


def test_combined_plan_isolates_a_bug_in_one_projects_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(
        write_config(tmp_path, '\n[plans.both]\nprojects = ["alpha", "beta"]\n')
    )
    alpha, beta = Adapter("a", broken="apply"), Adapter("b", refuse="redmine:b1")
    use(monkeypatch, "combined", {"alpha": alpha, "beta": beta})
    with Store.open(settings.store.path) as store:
        results = {
            r.project: r for r in run_combined_pass(settings, "both", as_of=START, store=store)
        }
        assert "unexpected ZeroDivisionError" in (results["alpha"].error or "")
        assert "#redmine:b1" in (results["beta"].error or "")
        assert store.written_value("beta", "redmine:b2", "total_float") == "0"
        assert store.written_value("beta", "redmine:b1", "total_float") is None


def test_combined_plan_reports_a_bug_while_fetching(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(
        write_config(tmp_path, '\n[plans.both]\nprojects = ["alpha", "beta"]\n')
    )
    alpha = Adapter("a")
    use(monkeypatch, "combined", {"alpha": alpha, "beta": Adapter("b", broken="fetch")})
    results = run_combined_pass(settings, "both", as_of=START)
    assert all("fetch of 'beta' failed: unexpected KeyError" in (r.error or "") for r in results)
    assert alpha.applied == []  # nothing is written from a part of the plan


def test_the_written_part_is_the_items_the_report_names() -> None:
    changes = ChangeSet(
        fields=[
            FieldChange(item="redmine:1", field="total_float", old=None, new="1"),
            FieldChange(item="redmine:2", field="total_float", old=None, new="2"),
            FieldChange(item="redmine:1", field="critical", old=None, new="1"),
        ]
    )
    part = pipeline.written_part(changes, ApplyReport(items_written=["redmine:1"]))
    assert [(c.item, c.field) for c in part.fields] == [
        ("redmine:1", "total_float"),
        ("redmine:1", "critical"),
    ]
    assert "items_written" not in ApplyReport(items_written=["x"]).model_dump()


def test_a_failure_is_reported_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The caller prints the failure (the CLI's FAILED line, the worker's log line); the
    pass itself logs it below WARNING, so the CLI does not print it twice."""
    use(monkeypatch, "pipeline", {"alpha": Adapter("a", broken="fetch")})
    caplog.set_level(logging.DEBUG, logger="tracker_bridge")
    result = run_pass(settings, "alpha", as_of=START)
    assert not result.ok
    mentions = [r for r in caplog.records if "unexpected KeyError" in r.getMessage()]
    assert mentions and all(r.levelno < logging.WARNING for r in mentions)
    assert any(r.exc_info for r in caplog.records if r.levelno == logging.DEBUG)  # --debug
