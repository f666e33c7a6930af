"""``check()`` findings and ``tracker-bridge setup github`` against contract-held mocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from github_contract import GitHubMock
from github_helpers import (
    BOARD_ID,
    FIELD_BY_ID,
    REPO,
    TOKEN,
    AdapterFactory,
    Bodies,
    WikiRepo,
    board_data,
)

from tracker_bridge.adapters.github import GitHubAdapter
from tracker_bridge.cli import main
from tracker_bridge.model import Finding

NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}


def ids(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.id, []).append(f)
    return out


def test_check_all_good_lists_scopes_and_missing_fields(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory, wiki_repo: WikiRepo
) -> None:
    github_api.rest(
        "GET",
        "/user",
        json_body=bodies.authenticated_user("planbot"),
        headers={"X-OAuth-Scopes": "repo, project, read:org"},
    )
    github_api.rest("GET", f"/repos/{REPO}", json_body=bodies.repository(REPO))
    fields = [f for f in FIELD_BY_ID.values() if f["name"] not in ("Late finish", "Critical")]
    github_api.graphql("TrackerBridgeProject", data=board_data(None, fields=fields))
    found = ids(make_adapter().check())
    assert "planbot" in found["github.auth.ok"][0].message
    assert "repo, project, read:org" in found["github.auth.ok"][0].message
    assert "github.auth.scopes" not in found
    assert found["github.repo.ok"] and found["github.project.ok"]
    missing = sorted(f.message for f in found["github.project_field.missing"])
    assert len(missing) == 2
    assert "'Critical'" in missing[0] and "'Late finish'" in missing[1]
    assert all("setup github" in (f.fix or "") for f in found["github.project_field.missing"])
    assert len(found["github.project_field.ok"]) == 3
    assert found["github.wiki.ok"][0].ok


def test_check_reports_failures_with_stable_ids(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory, tmp_path: Path
) -> None:
    github_api.rest(
        "GET",
        "/user",
        json_body=bodies.authenticated_user("planbot"),
        headers={"X-OAuth-Scopes": "public_repo"},
    )
    github_api.rest("GET", f"/repos/{REPO}", json_body=bodies.repository(REPO))
    github_api.rest("GET", "/repos/acme/gone", status=404, json_body=NOT_FOUND)
    github_api.graphql(
        "TrackerBridgeProject",
        data={"owner": {"projectV2": None}},
        errors=[
            {
                "type": "NOT_FOUND",
                "path": ["owner", "projectV2"],
                "message": "Could not resolve to a ProjectV2 with the number 7.",
            }
        ],
    )
    adapter = make_adapter(
        repositories=[REPO, "acme/gone"], wiki_remote=str(tmp_path / "absent.wiki.git")
    )
    found = ids(adapter.check())
    assert "'project'" in found["github.auth.scopes"][0].message
    assert "acme/gone" in found["github.repo.missing"][0].message
    assert "org:acme/7" in found["github.project.missing"][0].message
    assert "does not exist yet" in found["github.wiki.missing"][0].message
    assert not any(
        f.ok
        for key in ("github.repo.missing", "github.project.missing", "github.wiki.missing")
        for f in found[key]
    )


def test_check_with_a_bad_token(github_api: GitHubMock, make_adapter: AdapterFactory) -> None:
    github_api.rest(
        "GET",
        "/user",
        status=401,
        json_body={
            "message": "Bad credentials",
            "documentation_url": "https://docs.github.com/rest",
            "status": "401",
        },
    )
    (finding,) = make_adapter().check()
    assert finding.id == "github.auth.failed" and not finding.ok
    assert "GITHUB_TOKEN" in finding.message and TOKEN not in finding.message


def test_check_disabled_wiki(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory
) -> None:
    github_api.rest("GET", "/user", json_body=bodies.authenticated_user("planbot"))
    github_api.rest("GET", f"/repos/{REPO}", json_body=bodies.repository(REPO, has_wiki=False))
    found = ids(make_adapter(project_v2=None).check())
    assert "not reported" in found["github.auth.ok"][0].message  # fine-grained token
    assert found["github.wiki.disabled"] and found["github.project.unconfigured"]
    assert "github.wiki.ok" not in found


CONFIG = """
[trackers.gh]
kind = "github"
api_key_env = "GITHUB_TOKEN"

[projects.web]
tracker = "gh"
project = "acme/web"

[projects.web.github]
repositories = ["acme/web"]
project_v2 = "org:acme/7"
write_interval_seconds = 0
"""


def test_setup_github_creates_missing_fields(
    github_api: GitHubMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "tracker-bridge.toml"
    config.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    fields = [
        f
        for f in FIELD_BY_ID.values()
        if f["name"] not in ("Critical", "Total float (d)", "Late finish")
    ]
    github_api.graphql("TrackerBridgeProject", data=board_data(None, fields=fields))
    created: list[dict[str, Any]] = []

    def create(query: str, variables: dict[str, Any]) -> dict[str, Any]:
        spec = variables["input"]
        assert spec["projectId"] == BOARD_ID
        created.append(spec)
        typename = (
            "ProjectV2SingleSelectField"
            if spec["dataType"] == "SINGLE_SELECT"
            else "ProjectV2Field"
        )
        return {
            "createProjectV2Field": {
                "projectV2Field": {
                    "__typename": typename,
                    "id": f"PVTF_new{len(created)}",
                    "name": spec["name"],
                    "dataType": spec["dataType"],
                }
            }
        }

    github_api.graphql("TrackerBridgeCreateField", handler=create, times=3)
    result = CliRunner().invoke(
        main, ["setup", "github", "--project", "web", "--config", str(config), "--yes"]
    )
    assert result.exit_code == 0, result.output
    assert "'Critical' (SINGLE_SELECT, fields.critical)" in result.output
    assert [(c["name"], c["dataType"]) for c in created] == [
        ("Critical", "SINGLE_SELECT"),
        ("Total float (d)", "NUMBER"),
        ("Late finish", "DATE"),
    ]
    assert [o["name"] for o in created[0]["singleSelectOptions"]] == ["Yes", "No"]
    assert TOKEN not in result.output


def test_setup_github_asks_first(
    github_api: GitHubMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "tracker-bridge.toml"
    config.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    fields = [f for f in FIELD_BY_ID.values() if f["name"] != "Critical"]
    github_api.graphql("TrackerBridgeProject", data=board_data(None, fields=fields))
    result = CliRunner().invoke(
        main, ["setup", "github", "--project", "web", "--config", str(config)], input="n\n"
    )
    assert result.exit_code == 0, result.output
    assert "Create them?" in result.output and "Nothing created." in result.output


def test_create_field_is_not_retried_on_5xx(
    github_api: GitHubMock, make_adapter: AdapterFactory
) -> None:
    """createProjectV2Field is not idempotent: a 502 may have created it already."""
    github_api.graphql("TrackerBridgeProject", data=board_data(None))
    github_api.graphql(
        "TrackerBridgeCreateField", status=502, json_body={"message": "Server Error"}
    )
    adapter: GitHubAdapter = make_adapter()
    with pytest.raises(Exception, match="502"):
        adapter.create_project_fields([("risk_score", "Risk score", "NUMBER")])
