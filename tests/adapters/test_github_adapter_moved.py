"""Renamed and transferred repositories, legacy pull-request shapes and repeating next links:
the ways a GitHub read could lose data or never end. Mocks are held to GitHub's contract
(a 301 is the description's "Moved permanently" answer, a ``basic-error``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from github_contract import API_URL, GitHubMock
from github_helpers import REPO, TOKEN, AdapterFactory, Bodies

from tracker_bridge import errors
from tracker_bridge.cli import main

NEW = "acme/web-app"
ISSUES_QUERY = {"state": "all", "sort": "created", "direction": "asc", "per_page": "100"}


def moved(path: str) -> dict[str, str]:
    return {
        "message": "Moved Permanently",
        "url": f"{API_URL}{path}",
        "documentation_url": "https://docs.github.com/v3/#http-redirects",
    }


@pytest.mark.parametrize("location_has_query", [False, True])
def test_a_renamed_repository_is_read_completely(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory, location_has_query: bool
) -> None:
    target = f"/repos/{NEW}/issues"
    location = f"{API_URL}{target}" + (
        "?state=all&sort=created&direction=asc&per_page=100" if location_has_query else ""
    )
    github_api.rest(
        "GET",
        f"/repos/{REPO}/issues",
        query=ISSUES_QUERY,
        status=301,
        json_body=moved(target),
        headers={"Location": location},
    )
    # Only a request that still asks for state=all (closed issues too) is answered.
    github_api.rest(
        "GET",
        target,
        query=ISSUES_QUERY,
        json_body=[
            bodies.issue(1, "Open one", repo=NEW),
            bodies.issue(2, "Closed one", repo=NEW, state="closed"),
        ],
    )
    github_api.rest("GET", f"/repos/{REPO}/milestones", json_body=[])
    snapshot = make_adapter(project_v2=None).fetch().snapshot
    assert sorted((i.key, i.status.value) for i in snapshot.items) == [
        (f"github:{REPO}#1", "open"),
        (f"github:{REPO}#2", "closed"),
    ]


def test_doctor_names_the_new_repository_and_the_config_section(
    github_api: GitHubMock, bodies: Bodies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "tracker-bridge.toml"
    config.write_text(
        f"""
[trackers.gh]
kind = "github"
api_key_env = "GITHUB_TOKEN"

[projects.web]
tracker = "gh"
project = "{REPO}"

[projects.web.github]
repositories = ["{REPO}"]
wiki_remote = "{tmp_path / "absent.wiki.git"}"
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    github_api.rest("GET", "/user", json_body=bodies.authenticated_user("planbot"))
    github_api.rest(
        "GET",
        f"/repos/{REPO}",
        status=301,
        json_body=moved(f"/repos/{NEW}"),
        headers={"Location": f"{API_URL}/repos/{NEW}"},
    )
    github_api.rest("GET", f"/repos/{NEW}", json_body=bodies.repository(NEW))
    result = CliRunner().invoke(
        main, ["doctor", "--project", "web", "--config", str(config), "--json"]
    )
    findings = {f["id"]: f for f in json.loads(result.stdout)["web"]}
    assert "github.repo.ok" not in findings
    moved_finding = findings["github.repo.moved"]
    assert not moved_finding["ok"]
    assert moved_finding["message"] == f"repository {REPO} moved to {NEW}"
    assert "[projects.web.github]" in moved_finding["fix"]
    assert f"{REPO} -> {NEW}" in moved_finding["fix"]
    # every fix names the config section, never the project id
    board = findings["github.project.unconfigured"]["fix"]
    assert "[projects.web.github]" in board and f"projects.{REPO}" not in board
    assert result.exit_code == 1


def test_legacy_pull_requests_with_issue_urls_are_dropped(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory
) -> None:
    legacy = bodies.issue(5, "Pull request from 2012", pull_request=True)
    legacy["html_url"] = f"https://github.com/{REPO}/issues/5"  # how pre-2013 PRs look
    legacy["pull_request"] = {"url": None, "html_url": None, "diff_url": None, "patch_url": None}
    github_api.rest("GET", f"/repos/{REPO}/issues", json_body=[bodies.issue(1, "Issue"), legacy])
    github_api.rest("GET", f"/repos/{REPO}/milestones", json_body=[])
    snapshot = make_adapter(project_v2=None).fetch().snapshot
    assert [i.key for i in snapshot.items] == [f"github:{REPO}#1"]


def test_a_next_link_back_to_a_read_page_stops_with_a_clear_error(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory
) -> None:
    page2 = f"{API_URL}/repos/{REPO}/issues?state=all&sort=created&direction=asc&per_page=100"
    link = {"Link": f'<{page2}&page=2>; rel="next"'}
    github_api.rest(
        "GET",
        f"/repos/{REPO}/issues",
        query=ISSUES_QUERY,
        json_body=[bodies.issue(1, "One")],
        headers=link,
    )
    github_api.rest(  # page 2 names itself as the next page
        "GET",
        f"/repos/{REPO}/issues",
        query={**ISSUES_QUERY, "page": "2"},
        json_body=[bodies.issue(2, "Two")],
        headers=link,
    )
    with pytest.raises(errors.TrackerError, match="links back to a page already read"):
        make_adapter(project_v2=None).fetch()
