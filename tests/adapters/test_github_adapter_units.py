"""Pure helpers of the GitHub adapter, its settings, and the contract harness itself."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
import responses
from github_contract import Contract, ContractError, GitHubMock
from github_helpers import REPO, AdapterFactory, Bodies

from tracker_bridge import errors
from tracker_bridge.adapters.github import (
    _web_base,
    body_dependencies,
    format_field_value,
    parse_estimate,
)
from tracker_bridge.adapters.github.settings import GitHubSettings
from tracker_bridge.errors import ConfigError
from tracker_bridge.model import EstimateRange
from tracker_bridge.settings import settings_from_dict

# ------------------------------------------------------------------------------ helpers


def test_parse_estimate() -> None:
    assert parse_estimate("3", "d", 8) == (24, None)
    assert parse_estimate("6", "h", 8) == (6, None)
    assert parse_estimate("6", None, 8) == (6, None)
    assert parse_estimate("1.5", "days", 7) == (10.5, None)
    assert parse_estimate("2-3-6", "d", 8) == (
        24,
        EstimateRange(optimistic=16, likely=24, pessimistic=48),
    )
    assert parse_estimate("2 / 3 / 6", "h", 8) == (
        3,
        EstimateRange(optimistic=2, likely=3, pessimistic=6),
    )
    assert parse_estimate("6-3-2", "d", 8) is None  # not ordered
    assert parse_estimate("2-6", "d", 8) is None  # two numbers are ambiguous


def test_body_dependencies() -> None:
    body = "\n".join(
        [
            "Intro text mentioning #99 (not a dependency line).",
            "Depends on #12, acme/api#4 and https://redmine.example.com/issues/123",
            "- **Blocked by:** redmine#77",
            "blocked by https://github.com/acme/web/issues/7.",
            "Depends on: [the API](https://github.com/acme/api/issues/5)",
        ]
    )
    assert body_dependencies(body, REPO) == [
        "github:acme/web#12",
        "github:acme/api#4",
        "redmine:123",
        "redmine:77",
        "github:acme/web#7",
        "github:acme/api#5",
    ]
    assert body_dependencies(None, REPO) == []
    ghes = "Depends on https://git.corp.example/acme/web/issues/3"
    assert body_dependencies(ghes, REPO, "https://git.corp.example") == ["github:acme/web#3"]


def test_format_field_value() -> None:
    assert format_field_value(dt.date(2026, 2, 3), "DATE") == "2026-02-03"
    assert format_field_value(dt.datetime(2026, 2, 3, 12, 0), "DATE") == "2026-02-03"
    assert format_field_value(-3, "NUMBER") == "-3"
    assert format_field_value(2.50, "NUMBER") == "2.5"
    assert format_field_value(True, "SINGLE_SELECT") == "Yes"
    assert format_field_value(False, "TEXT") == "No"
    assert format_field_value(None, "DATE") == ""
    with pytest.raises(errors.InputError):
        format_field_value(float("nan"), "NUMBER")


def test_web_base() -> None:
    assert _web_base("https://api.github.com") == "https://github.com"
    assert _web_base("https://git.corp.example/api/v3") == "https://git.corp.example"
    assert _web_base("https://api.acme.ghe.com") == "https://acme.ghe.com"


def test_estimate_sources_and_precedence(bodies: Bodies, make_adapter: AdapterFactory) -> None:
    adapter = make_adapter(
        project_v2=None, estimate_labels={"size: M": 16, "size: L": 40}, hours_per_day=6
    )

    def estimate(**kw: object) -> float | None:
        raw = bodies.issue(1, "A", **kw)  # type: ignore[arg-type]
        labels = [label["name"] for label in raw["labels"]]
        return adapter._fetcher.estimate("k", raw, labels, None, {})[0]

    assert estimate(body="Estimate: 2d", labels=("estimate: 1d", "size: L")) == 12
    assert estimate(labels=("estimate: 5h", "size: L")) == 5
    assert estimate(labels=("size: M", "Size: L")) == 40  # the largest size label
    assert estimate(labels=("bug",)) is None
    assert estimate(body="**Estimate:** 3 days") == 18
    assert estimate(body="Estimate: 6-2-1d", labels=("size: M",)) == 16
    assert adapter.notes and "not one number" in adapter.notes[-1]


# ------------------------------------------------------------------------------ settings


def test_github_settings_are_validated() -> None:
    base = {
        "trackers": {"gh": {"kind": "github"}},
        "projects": {"web": {"tracker": "gh", "project": "acme/web"}},
    }
    ok = settings_from_dict(
        {
            **base,
            "projects": {
                "web": {
                    **base["projects"]["web"],
                    "github": {"repositories": ["acme/web"], "project_v2": "user:octo/3"},
                }
            },
        }
    )
    github = ok.projects["web"].options(GitHubSettings)
    assert github is not None and github.project_owner() == ("user", "octo", 3)
    for bad, where in (
        ({"project_v2": "acme/7"}, "project_v2"),
        ({"repositories": ["web"]}, "repositories"),
        ({"body_pattern": "estimate: (\\d+)"}, "body_pattern"),
        ({"token": "x"}, "github"),
        ({"estimate_labels": {"size: M": "big"}}, "estimate_labels"),
    ):
        with pytest.raises(ConfigError, match=where):
            settings_from_dict(
                {**base, "projects": {"web": {**base["projects"]["web"], "github": bad}}}
            )
    assert GitHubSettings().write_interval_seconds == 1.0


def test_project_must_name_repositories(make_adapter: AdapterFactory) -> None:
    from pydantic import SecretStr

    from tracker_bridge.adapters.github import GitHubAdapter
    from tracker_bridge.settings import FieldNames, ProjectSettings, TrackerSettings

    with pytest.raises(ConfigError, match="repositories"):
        GitHubAdapter(
            TrackerSettings(kind="github"),
            ProjectSettings(tracker="gh", project="webshop"),
            FieldNames(),
            SecretStr("t"),
        )


# ------------------------------------------------------------------------------ harness


def test_harness_rejects_paths_not_in_the_openapi(github_api: GitHubMock) -> None:
    with pytest.raises(ContractError, match="not an operation"):
        github_api.rest("GET", f"/repos/{REPO}/issues/1/blockers", json_body=[])
    with pytest.raises(ContractError, match="not an operation"):
        github_api.rest("PUT", f"/repos/{REPO}/issues", json_body=[])


def test_harness_rejects_bodies_off_schema(github_api: GitHubMock, bodies: Bodies) -> None:
    issue = bodies.issue(1, "A")
    issue["number"] = "one"
    with pytest.raises(ContractError, match="number"):
        github_api.rest("GET", f"/repos/{REPO}/issues", json_body=[issue])
    del issue["number"]
    with pytest.raises(ContractError, match="required"):
        github_api.rest("GET", f"/repos/{REPO}/issues", json_body=[issue])
    with pytest.raises(ContractError, match="does not document status 201"):
        github_api.rest("GET", f"/repos/{REPO}/issues", status=201, json_body=[])


def test_harness_checks_query_parameters(contract: Contract) -> None:
    op = contract.openapi.operation("GET", f"/repos/{REPO}/issues")
    contract.openapi.validate_query(op, [("state", "all"), ("per_page", "100")])
    with pytest.raises(ContractError, match="not one of"):
        contract.openapi.validate_query(op, [("state", "any")])
    with pytest.raises(ContractError, match="no query parameter"):
        contract.openapi.validate_query(op, [("status", "all")])


def test_harness_validates_graphql(contract: Contract) -> None:
    gql = contract.graphql
    with pytest.raises(ContractError, match="not valid"):
        gql.check_request("query Q { viewer { projectsV3 { id } } }", {})
    with pytest.raises(ContractError, match="variables"):
        gql.check_request(
            "query Q($n: Int!) { viewer { projectV2(number: $n) { id } } }", {"n": "seven"}
        )
    document = gql.check_request("query Q { viewer { login } }", {})
    gql.check_response(document, {}, {"viewer": {"login": "octo"}})
    with pytest.raises(ContractError, match="did not select"):
        gql.check_response(document, {}, {"viewer": {"login": "octo", "id": "U_1"}})
    with pytest.raises(ContractError, match="does not fit"):
        gql.check_response(document, {}, {"viewer": {"login": None}})


def test_harness_fails_on_unused_mocks(contract: Contract) -> None:
    rsps = responses.RequestsMock(assert_all_requests_are_fired=False)
    with rsps:
        mock = GitHubMock(contract, rsps)
        mock.rest("GET", f"/repos/{REPO}/milestones", json_body=[])
        with pytest.raises(AssertionError, match="not fired"):
            mock.assert_complete()


def test_real_http_is_blocked(github_api: GitHubMock) -> None:
    with pytest.raises(requests.ConnectionError):
        requests.get("https://example.com/", timeout=1)


def test_annotated_config_loads_and_documents_every_key() -> None:
    from github_contract import REPO_ROOT

    from tracker_bridge.settings import load_settings

    path = REPO_ROOT / "config" / "github.toml"
    settings = load_settings(path)
    assert settings.trackers["gh"].kind == "github"
    assert settings.projects["web"].options(GitHubSettings) is not None
    text = path.read_text(encoding="utf-8")
    missing = [key for key in GitHubSettings.model_fields if f"{key} =" not in text]
    assert not missing
