"""A plan over two projects: cross-tracker dependencies, own fields only, no partial writes.

The adapters here are in-memory implementations of our own adapter protocol (the trackers'
behaviour is tested against a real Redmine and GitHub's contract elsewhere).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tracker_bridge.adapters.protocol import FetchResult, TrackerAdapter
from tracker_bridge.combined import run_combined_pass
from tracker_bridge.errors import ConfigError, NotFoundError
from tracker_bridge.model import (
    ApplyReport,
    ChangeSet,
    Dependency,
    DesiredState,
    FieldChange,
    Finding,
    Project,
    Snapshot,
    WorkItem,
)
from tracker_bridge.publish import PlainStyle
from tracker_bridge.settings import settings_from_dict

START = dt.date(2027, 3, 1)  # a Monday


class MemoryAdapter:
    """Holds a snapshot; records what apply was asked to write."""

    def __init__(
        self, snapshot: Snapshot, external: list[Dependency] | None = None, fail: bool = False
    ) -> None:
        self.snapshot = snapshot
        self.external_dependencies = external or []
        self.fail = fail
        self.requests_made = 0
        self.applied: list[ChangeSet] = []

    supports_incremental = False
    page_style = PlainStyle()

    def fetch(
        self, *, since: dt.datetime | None = None, cached: Snapshot | None = None
    ) -> FetchResult:
        self.requests_made += 1
        if self.fail:
            raise NotFoundError("project 'web' not found", method="GET", path="/x", status=404)
        return FetchResult(self.snapshot, external_dependencies=self.external_dependencies)

    def diff(self, snapshot: Snapshot, desired: DesiredState) -> ChangeSet:
        changes = [
            FieldChange(item=key, field=name, old=None, new=str(value))
            for key, values in desired.fields.items()
            for name, value in values.items()
        ]
        return ChangeSet(fields=changes)

    def apply(self, changes: ChangeSet) -> ApplyReport:
        self.applied.append(changes)
        return ApplyReport(fields_written=len(changes.fields))

    def check(self) -> list[Finding]:
        return []

    def close(self) -> None:
        pass


def snap(name: str, items: list[WorkItem], deps: list[Dependency] | None = None) -> Snapshot:
    return Snapshot(project=Project(name=name, start=START), items=items, dependencies=deps or [])


SETTINGS = settings_from_dict(
    {
        "trackers": {
            "rm": {"kind": "redmine", "url": "https://rm.example"},
            "gh": {"kind": "github"},
        },
        "projects": {
            "api": {"tracker": "rm", "project": "api"},
            "web": {"tracker": "gh", "project": "o/web"},
        },
        "plans": {"product": {"projects": ["api", "web"], "name": "Product launch"}},
    }
)


@pytest.fixture
def adapters(monkeypatch: pytest.MonkeyPatch) -> dict[str, MemoryAdapter]:
    api = MemoryAdapter(
        snap(
            "api",
            [
                WorkItem(key="redmine:1", title="API", estimate_hours=24),
                WorkItem(key="redmine:2", title="Docs", estimate_hours=8),
            ],
            [Dependency(predecessor="redmine:1", successor="redmine:2")],
        )
    )
    # The GitHub issue says "Blocked by redmine#1"
    web = MemoryAdapter(
        snap("web", [WorkItem(key="github:o/web#5", title="UI", estimate_hours=16)]),
        external=[Dependency(predecessor="redmine:1", successor="github:o/web#5", origin="body")],
    )
    found = {"api": api, "web": web}
    monkeypatch.setattr(
        "tracker_bridge.combined.open_adapter", lambda settings, name, progress=None: found[name]
    )
    return found


def test_cross_tracker_dependency_drives_the_schedule(adapters: dict[str, MemoryAdapter]) -> None:
    results = run_combined_pass(SETTINGS, "product", as_of=START)
    assert all(r.ok for r in results)
    plan = results[0].plan
    assert plan is not None and plan.project.name == "Product launch"
    # redmine:1 takes Mon-Wed; the GitHub issue it blocks starts Thursday
    assert plan.items["github:o/web#5"].early_start == dt.date(2027, 3, 4)
    assert plan.project.critical_paths == [["redmine:1", "github:o/web#5"]]


def test_each_project_gets_only_its_own_fields(adapters: dict[str, MemoryAdapter]) -> None:
    run_combined_pass(SETTINGS, "product", as_of=START)
    api_items = {c.item for c in adapters["api"].applied[0].fields}
    web_items = {c.item for c in adapters["web"].applied[0].fields}
    assert api_items == {"redmine:1", "redmine:2"}
    assert web_items == {"github:o/web#5"}


def test_a_failed_fetch_writes_nothing_anywhere(adapters: dict[str, MemoryAdapter]) -> None:
    adapters["web"].fail = True
    results = run_combined_pass(SETTINGS, "product", as_of=START)
    assert not any(r.ok for r in results)
    assert all("fetch of 'web' failed" in (r.error or "") for r in results)
    assert adapters["api"].applied == [] and adapters["web"].applied == []


def test_dry_run_applies_nothing(adapters: dict[str, MemoryAdapter]) -> None:
    results = run_combined_pass(SETTINGS, "product", as_of=START, dry_run=True)
    assert all(r.ok and r.changes and r.changes.fields for r in results)
    assert adapters["api"].applied == []


def test_duplicate_keys_across_projects_are_an_error(adapters: dict[str, MemoryAdapter]) -> None:
    adapters["web"].snapshot = snap("web", [WorkItem(key="redmine:1", estimate_hours=8)])
    results = run_combined_pass(SETTINGS, "product", as_of=START)
    assert "comes from both 'api' and 'web'" in (results[0].error or "")


def test_plans_must_name_configured_projects() -> None:
    with pytest.raises(ConfigError, match=r"plans\.x\.projects: .nope. is not a"):
        settings_from_dict({"plans": {"x": {"projects": ["nope"]}}})


def test_pipeline_protocol_is_what_memory_adapter_implements() -> None:
    adapter: TrackerAdapter = MemoryAdapter(snap("x", []))
    assert adapter.check() == []


def test_cli_runs_a_combined_plan_once_for_its_projects() -> None:
    from tracker_bridge.units import PlanningUnit, planning_units

    settings = settings_from_dict(
        {
            "trackers": {"rm": {"kind": "redmine", "url": "https://rm.example"}},
            "projects": {
                "api": {"tracker": "rm", "project": "api"},
                "web": {"tracker": "rm", "project": "web"},
                "ops": {"tracker": "rm", "project": "ops"},
            },
            "plans": {"product": {"projects": ["api", "web"]}},
        }
    )
    units = planning_units(settings, ["ops", "web", "api"])
    assert units == [PlanningUnit(("ops",)), PlanningUnit(("api", "web"), "product")]
    assert [u.name for u in units] == ["ops", "product"]


def _written(adapter: MemoryAdapter) -> dict[tuple[str, str], str | None]:
    return {(c.item, c.field): c.new for c in adapter.applied[-1].fields}


def test_cron_and_webhook_passes_of_a_combined_plan_write_the_same_values(
    adapters: dict[str, MemoryAdapter], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Regression: a webhook job for one member of a combined plan used to plan that project
    alone, dropping the cross-tracker edge and moving github:o/web#5 back to Monday."""
    from tracker_bridge.store import Store
    from tracker_bridge.units import planning_units, run_unit
    from tracker_bridge.worker import Worker, default_pass

    settings = settings_from_dict(
        {**SETTINGS.model_dump(mode="json"), "store": {"path": str(tmp_path / "s.sqlite3")}}
    )
    monkeypatch.setattr(
        "tracker_bridge.pipeline.open_adapter", lambda settings, name, progress=None: adapters[name]
    )
    with Store.open(settings.store.path) as store:
        for unit in planning_units(settings, list(settings.projects)):  # the nightly run --all
            assert all(r.ok for r in run_unit(settings, unit, as_of=START, store=store))
        cron = _written(adapters["web"])
        assert cron[("github:o/web#5", "early_start")] == "2027-03-04"

        store.enqueue("web", now=0.0)  # a webhook delivery for the GitHub project
    worker = Worker(settings, pass_fn=lambda s, p, st: default_pass(s, p, st, as_of=START))
    runs = worker.run_until_idle()
    worker.close()
    assert [run.outcome for run in runs] == ["done"]
    assert len(adapters["web"].applied) == 2 and len(adapters["api"].applied) == 2
    assert _written(adapters["web"]) == cron
