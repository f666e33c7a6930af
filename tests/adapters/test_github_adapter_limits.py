"""Rate limits, retries and errors of the GitHub adapter: waits are asserted through the
injected sleep, never slept; error bodies are GitHub's documented error shape."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from github_contract import GitHubMock
from github_helpers import (
    BOARD_ID,
    REPO,
    TOKEN,
    AdapterFactory,
    Bodies,
    FakeTime,
    board_data,
    board_item,
)

from tracker_bridge import errors
from tracker_bridge.model import ChangeSet, FieldChange

DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
SECONDARY = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you "
    "try again. If you reach out to GitHub Support for help, please include the request ID "
    "ABCD:1234.",
    "documentation_url": DOCS,
    "status": "403",
}
PRIMARY = {
    "message": "API rate limit exceeded for user ID 1.",
    "documentation_url": DOCS,
    "status": "403",
}


def mock_milestones(api: GitHubMock) -> None:
    api.rest("GET", f"/repos/{REPO}/milestones", json_body=[])


def issues_path() -> str:
    return f"/repos/{REPO}/issues"


def test_secondary_rate_limit_waits_60_seconds(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory, fake_time: FakeTime
) -> None:
    github_api.rest("GET", issues_path(), status=403, json_body=SECONDARY)
    github_api.rest("GET", issues_path(), json_body=[bodies.issue(1, "A")])
    mock_milestones(github_api)
    adapter = make_adapter(project_v2=None)
    assert len(adapter.fetch().snapshot.items) == 1
    assert fake_time.sleeps == [60]
    assert adapter.requests_made == github_api.calls == 3


def test_secondary_rate_limit_honours_retry_after(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory, fake_time: FakeTime
) -> None:
    github_api.rest(
        "GET", issues_path(), status=403, json_body=SECONDARY, headers={"Retry-After": "90"}
    )
    github_api.rest("GET", issues_path(), status=403, json_body=SECONDARY)
    github_api.rest("GET", issues_path(), json_body=[bodies.issue(1, "A")])
    mock_milestones(github_api)
    make_adapter(project_v2=None).fetch()
    assert fake_time.sleeps == [90, 120]  # then at least 60 s, doubling


def test_429_with_retry_after_is_waited_out(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory, fake_time: FakeTime
) -> None:
    github_api.rest(
        "GET",
        issues_path(),
        status=429,
        headers={"Retry-After": "7"},
        json_body={"message": "Too many requests", "documentation_url": DOCS},
    )
    github_api.rest("GET", issues_path(), json_body=[bodies.issue(1, "A")])
    mock_milestones(github_api)
    make_adapter(project_v2=None).fetch()
    assert fake_time.sleeps == [7]


def test_primary_limit_waits_until_the_reset(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory, fake_time: FakeTime
) -> None:
    reset = int(fake_time.now) + 120
    github_api.rest(
        "GET",
        issues_path(),
        status=403,
        json_body=PRIMARY,
        headers={
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-used": "5000",
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-resource": "core",
        },
    )
    github_api.rest("GET", issues_path(), json_body=[bodies.issue(1, "A")])
    mock_milestones(github_api)
    make_adapter(project_v2=None).fetch()
    assert fake_time.sleeps == [121]
    assert fake_time.now >= reset


def test_a_wait_beyond_the_cap_raises_rate_limited(
    github_api: GitHubMock, make_adapter: AdapterFactory, fake_time: FakeTime
) -> None:
    reset = int(fake_time.now) + 3600
    github_api.rest(
        "GET",
        issues_path(),
        status=403,
        json_body=PRIMARY,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
    )
    adapter = make_adapter(project_v2=None, max_rate_limit_wait_seconds=600)
    with pytest.raises(errors.RateLimitedError) as caught:
        adapter.fetch()
    message = str(caught.value)
    assert "3601 s" in message and "max_rate_limit_wait_seconds = 600" in message
    assert "GET /repos/acme/web/issues -> 403" in message
    assert "API rate limit exceeded" in message
    assert fake_time.sleeps == []


def test_rate_limit_retries_are_bounded(
    github_api: GitHubMock, make_adapter: AdapterFactory, fake_time: FakeTime
) -> None:
    github_api.rest(
        "GET",
        issues_path(),
        status=429,
        headers={"Retry-After": "1"},
        json_body={"message": "Too many requests"},
        times=3,
    )
    with pytest.raises(errors.RateLimitedError, match="after 2 retries"):
        make_adapter(project_v2=None, max_retries=2).fetch()
    assert fake_time.sleeps == [1, 1]


def test_transient_5xx_is_retried_with_backoff(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory, fake_time: FakeTime
) -> None:
    github_api.rest("GET", issues_path(), status=502, json_body={"message": "Server Error"})
    github_api.rest("GET", issues_path(), status=503, json_body={"message": "Service Unavailable"})
    github_api.rest("GET", issues_path(), json_body=[bodies.issue(1, "A")])
    mock_milestones(github_api)
    adapter = make_adapter(project_v2=None)
    adapter.fetch()
    assert fake_time.sleeps == [2, 4]
    assert adapter.requests_made == 4


def test_5xx_gives_up_after_max_retries(
    github_api: GitHubMock, make_adapter: AdapterFactory, fake_time: FakeTime
) -> None:
    github_api.rest(
        "GET", issues_path(), status=500, json_body={"message": "Server Error"}, times=2
    )
    with pytest.raises(errors.TrackerError) as caught:
        make_adapter(project_v2=None, max_retries=1).fetch()
    assert caught.value.status == 500 and "Server Error" in str(caught.value)
    assert fake_time.sleeps == [2]


def test_401_is_a_clear_auth_error_without_the_token(
    github_api: GitHubMock, make_adapter: AdapterFactory
) -> None:
    github_api.rest(
        "GET",
        issues_path(),
        status=401,
        json_body={
            "message": "Bad credentials",
            "documentation_url": "https://docs.github.com/rest",
            "status": "401",
        },
    )
    with pytest.raises(errors.AuthError) as caught:
        make_adapter(project_v2=None).fetch()
    message = str(caught.value)
    assert "GITHUB_TOKEN" in message and "401" in message and "Bad credentials" in message
    assert TOKEN not in message and TOKEN[4:] not in message
    assert caught.value.status == 401 and caught.value.method == "GET"


def test_missing_repository_is_named(github_api: GitHubMock, make_adapter: AdapterFactory) -> None:
    github_api.rest(
        "GET",
        issues_path(),
        status=404,
        json_body={"message": "Not Found", "documentation_url": "https://docs.github.com/rest"},
    )
    with pytest.raises(errors.NotFoundError, match="repository acme/web not found"):
        make_adapter(project_v2=None).fetch()


def test_graphql_error_inside_a_200_raises(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory
) -> None:
    github_api.rest("GET", issues_path(), json_body=[bodies.issue(1, "A")])
    mock_milestones(github_api)
    github_api.graphql(
        "TrackerBridgeProject",
        errors=[
            {
                "message": "Something went wrong while executing your query. Please include "
                "`ABCD:1234` when reporting this issue."
            }
        ],
    )
    with pytest.raises(errors.TrackerError) as caught:
        make_adapter().fetch()
    assert caught.value.status == 200
    assert "GraphQL" in str(caught.value) and "Something went wrong" in str(caught.value)


def test_graphql_not_found_names_the_board(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory
) -> None:
    github_api.rest("GET", issues_path(), json_body=[bodies.issue(1, "A")])
    mock_milestones(github_api)
    github_api.graphql(
        "TrackerBridgeProject",
        data={"owner": {"projectV2": None}},
        errors=[
            {
                "type": "NOT_FOUND",
                "path": ["owner", "projectV2"],
                "locations": [{"line": 4, "column": 5}],
                "message": "Could not resolve to a ProjectV2 with the number 7.",
            }
        ],
    )
    with pytest.raises(errors.NotFoundError, match="Projects board org:acme/7 not found"):
        make_adapter().fetch()


def test_graphql_rate_limit_inside_a_200_waits_for_the_reset(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory, fake_time: FakeTime
) -> None:
    github_api.rest("GET", issues_path(), json_body=[bodies.issue(1, "A")])
    mock_milestones(github_api)
    reset = int(fake_time.now) + 30
    github_api.graphql(
        "TrackerBridgeProject",
        errors=[{"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}],
        headers={
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-resource": "graphql",
        },
    )
    github_api.graphql("TrackerBridgeProject", data=board_data([]))
    make_adapter().fetch()
    assert fake_time.sleeps == [31]


def test_graphql_rate_limit_gives_rate_limited_error(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory, fake_time: FakeTime
) -> None:
    github_api.rest("GET", issues_path(), json_body=[bodies.issue(1, "A")])
    mock_milestones(github_api)
    github_api.graphql(
        "TrackerBridgeProject",
        errors=[{"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}],
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(fake_time.now) + 7200)},
    )
    with pytest.raises(errors.RateLimitedError, match="GraphQL rate limit"):
        make_adapter().fetch()


def test_graphql_secondary_limit_is_a_403(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory, fake_time: FakeTime
) -> None:
    github_api.rest("GET", issues_path(), json_body=[bodies.issue(1, "A")])
    mock_milestones(github_api)
    github_api.graphql("TrackerBridgeProject", status=403, json_body=SECONDARY)
    github_api.graphql("TrackerBridgeProject", data=board_data([]))
    make_adapter().fetch()
    assert fake_time.sleeps == [60]


def _board_fetch(api: GitHubMock, bodies: Bodies) -> None:
    api.rest("GET", issues_path(), json_body=[bodies.issue(1, "A"), bodies.issue(2, "B")])
    mock_milestones(api)
    api.graphql(
        "TrackerBridgeProject",
        data=board_data([board_item("PVTI_1", 1, "A"), board_item("PVTI_2", 2, "B")]),
    )


def _set(query: str, variables: dict[str, Any]) -> dict[str, Any]:
    assert variables["project"] == BOARD_ID
    return {"f0": {"projectV2Item": {"id": variables["item"]}}}


def test_writes_are_paced(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory, fake_time: FakeTime
) -> None:
    _board_fetch(github_api, bodies)
    github_api.graphql("TrackerBridgeSetFields", handler=_set, times=2)
    adapter = make_adapter(write_interval_seconds=1.5)
    adapter.fetch()
    changes = ChangeSet(
        fields=[
            FieldChange(item=f"github:{REPO}#1", field="total_float", old=None, new="3"),
            FieldChange(item=f"github:{REPO}#2", field="total_float", old=None, new="-1"),
        ]
    )
    report = adapter.apply(changes)
    assert report.issues_updated == 2 and report.requests == 2
    assert fake_time.sleeps == [1.5]  # the first write is not delayed, the second is
    values = [v for name, v in github_api.graphql_log if name == "TrackerBridgeSetFields"]
    assert [v["f0Value"] for v in values] == [{"number": 3.0}, {"number": -1.0}]


def test_a_5xx_on_a_write_is_retried_when_idempotent(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory, fake_time: FakeTime
) -> None:
    _board_fetch(github_api, bodies)
    github_api.graphql("TrackerBridgeSetFields", status=502, json_body={"message": "Server Error"})
    github_api.graphql("TrackerBridgeSetFields", handler=_set)
    adapter = make_adapter()
    adapter.fetch()
    adapter.apply(
        ChangeSet(
            fields=[
                FieldChange(
                    item=f"github:{REPO}#1", field="early_start", old=None, new="2026-02-02"
                )
            ]
        )
    )
    assert fake_time.sleeps == [2]
    ((_, variables),) = [x for x in github_api.graphql_log if x[0] == "TrackerBridgeSetFields"][1:]
    assert variables["f0Value"] == {"date": "2026-02-02"}


def test_clearing_a_value_uses_clear_mutation(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory
) -> None:
    _board_fetch(github_api, bodies)
    github_api.graphql(
        "TrackerBridgeSetFields",
        handler=lambda q, v: (
            {"f0": {"projectV2Item": {"id": v["item"]}}, "f1": {"projectV2Item": {"id": v["item"]}}}
        ),
    )
    adapter = make_adapter()
    adapter.fetch()
    adapter.apply(
        ChangeSet(
            fields=[
                FieldChange(item=f"github:{REPO}#2", field="late_finish", old="2026-01-01", new=""),
                FieldChange(item=f"github:{REPO}#2", field="critical", old=None, new="Yes"),
            ]
        )
    )
    ((_, variables),) = [x for x in github_api.graphql_log if x[0] == "TrackerBridgeSetFields"]
    assert "f0Value" not in variables and variables["f0Field"] == "PVTF_lf"
    assert variables["f1Value"] == {"singleSelectOptionId": "opt_yes"}


def test_apply_without_fetch_reads_the_ids_first(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory
) -> None:
    _board_fetch(github_api, bodies)
    github_api.graphql("TrackerBridgeSetFields", handler=_set)
    report = make_adapter().apply(
        ChangeSet(
            fields=[FieldChange(item=f"github:{REPO}#1", field="total_float", old=None, new="5")]
        )
    )
    assert report.fields_written == 1 and report.requests == 4


def test_pacific_due_dates_in_the_model(bodies: Bodies) -> None:
    from tracker_bridge.adapters.github import pacific_date

    assert pacific_date("2026-03-01T08:00:00Z") == dt.date(2026, 3, 1)  # PST
    assert pacific_date("2026-06-30T07:00:00Z") == dt.date(2026, 6, 30)  # PDT
    assert pacific_date("2026-03-02T07:59:59Z") == dt.date(2026, 3, 1)  # UTC says the 2nd
    assert pacific_date(None) is None
