"""Fixtures for tests that run against a real Redmine 5.0 on loopback.

The ``redmine`` fixture installs Debian's Redmine when it is missing (needs root; about a
minute on a fresh machine), then starts one server per test session on a fresh copy of the
database (about 7 s: one ``rails runner`` set-up call plus WEBrick start-up). Every test gets
its own private project via ``redmine_project``, with ``planbot`` as a Planner member.

Every test collected under this directory is marked ``integration``, so
``pytest -m "not integration"`` skips them.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tracker_bridge.demo.install import ensure_installed
from tracker_bridge.demo.instance import LocalRedmine, start
from tracker_bridge.demo.prepare import add_member
from tracker_bridge.demo.rails import RedmineNotInstalledError

_HERE = Path(__file__).resolve().parent
_project_counter = itertools.count(1)

PROJECT_MODULES = ["issue_tracking", "time_tracking", "wiki"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(item.path).resolve().is_relative_to(_HERE):
            item.add_marker(pytest.mark.integration)


@dataclass(frozen=True)
class RedmineProject:
    identifier: str
    id: int
    url: str
    name: str

    # dict-style access too, for callers that prefer project["identifier"]
    def __getitem__(self, key: str) -> object:
        return getattr(self, key)


@pytest.fixture(scope="session")
def redmine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedmine]:
    try:
        ensure_installed()
    except RedmineNotInstalledError as exc:
        # On CI (CI=true) a missing Redmine is a failure; on a developer's machine, a skip.
        if os.environ.get("CI"):
            raise
        pytest.skip(f"local Redmine unavailable: {exc}")
    instance = start(tmp_path_factory.mktemp("redmine"))
    try:
        yield instance
    finally:
        instance.stop()


def _admin(redmine: LocalRedmine) -> dict[str, str]:
    return {"X-Redmine-API-Key": redmine.admin_key}


@pytest.fixture
def redmine_project(redmine: LocalRedmine) -> RedmineProject:
    """A fresh private project (issues, time tracking, wiki; all trackers), planbot a Planner."""
    identifier = f"tb-{next(_project_counter)}-{secrets.token_hex(3)}"
    trackers = requests.get(f"{redmine.url}/trackers.json", headers=_admin(redmine), timeout=30)
    trackers.raise_for_status()
    tracker_ids = [t["id"] for t in trackers.json()["trackers"]]
    resp = requests.post(
        f"{redmine.url}/projects.json",
        headers=_admin(redmine),
        timeout=30,
        json={
            "project": {
                "name": f"Tracker bridge test {identifier}",
                "identifier": identifier,
                # private: planbot's rights come from its membership, not the Non member role
                "is_public": False,
                "enabled_module_names": PROJECT_MODULES,
                "tracker_ids": tracker_ids,
            }
        },
    )
    assert resp.status_code == 201, f"project create -> {resp.status_code}: {resp.text}"
    project = resp.json()["project"]
    add_member(redmine, identifier)
    return RedmineProject(
        identifier=identifier,
        id=int(project["id"]),
        url=f"{redmine.url}/projects/{identifier}",
        name=project["name"],
    )
