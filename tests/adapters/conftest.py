"""Fixtures for adapter tests held to GitHub's published contract (see github_contract.py).

``contract`` fetches the pinned npm packages once (``npm pack``; cached in
``.cache/github-contract/``). ``github_api`` is a ``responses`` mock of api.github.com that
blocks real HTTP, checks every mock against the OpenAPI description and every GraphQL
document against the schema, and fails on mocks that were not used. ``bodies`` builds
realistic REST bodies from the description's own examples. ``wiki_repo`` is a local bare
git repository standing in for ``https://github.com/OWNER/REPO.wiki.git``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from github_contract import Contract, GitHubMock, contract_files
from github_helpers import REPO, TOKEN, AdapterFactory, Bodies, FakeTime, WikiRepo, git
from pydantic import SecretStr

from tracker_bridge.adapters.github import GitHubAdapter
from tracker_bridge.adapters.github.settings import GitHubSettings
from tracker_bridge.settings import (
    FieldNames,
    ProjectSettings,
    TrackerSettings,
)


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract(contract_files())


@pytest.fixture
def github_api(contract: Contract) -> Iterator[GitHubMock]:
    """Every request through ``requests`` is intercepted; unmatched ones fail."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        mock = GitHubMock(contract, rsps)
        yield mock
        mock.assert_complete()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture(scope="session")
def bodies(contract: Contract) -> Bodies:
    return Bodies(contract)


@pytest.fixture
def wiki_repo(tmp_path: Path) -> WikiRepo:
    bare = tmp_path / "web.wiki.git"
    git("init", "--quiet", "--bare", "--initial-branch=master", str(bare))
    work = tmp_path / "person-clone"
    git("clone", "--quiet", str(bare), str(work))
    git("checkout", "--quiet", "-b", "master", cwd=work)
    (work / "Home.md").write_text("Welcome to the web wiki.\n", encoding="utf-8")
    git("add", "Home.md", cwd=work)
    git("commit", "--quiet", "-m", "Initial Home page", cwd=work)
    git("push", "--quiet", "origin", "HEAD:refs/heads/master", cwd=work)
    return WikiRepo(bare=bare, work=work)


@pytest.fixture
def make_adapter(fake_time: FakeTime, tmp_path: Path) -> AdapterFactory:
    def make(project_options: dict[str, Any] | None = None, **github: Any) -> GitHubAdapter:
        options: dict[str, Any] = {
            "repositories": [REPO],
            "project_v2": "org:acme/7",
            "write_interval_seconds": 0,
            "wiki_remote": str(tmp_path / "web.wiki.git"),
        }
        options.update(github)
        project = ProjectSettings(
            tracker="gh",
            project=REPO,
            wiki_page="Project Plan",
            github=GitHubSettings(**options),
            **(project_options or {}),
        )
        tracker = TrackerSettings(kind="github", api_key_env="GITHUB_TOKEN")
        return GitHubAdapter(
            tracker,
            project,
            FieldNames(),
            SecretStr(TOKEN),
            tracker_name="gh",
            sleep=fake_time.sleep,
            clock=fake_time.clock,
        )

    return make
