"""GitHub adapter against mocks held to GitHub's published contract: fetch, plan, render,
diff, apply, and a second pass that writes nothing."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from github_contract import API_URL, GitHubMock
from github_helpers import (
    BOARD_ID,
    FIELD_BY_ID,
    OPTION_NAMES,
    REPO,
    AdapterFactory,
    Bodies,
    FakeTime,
    WikiRepo,
    board_data,
    board_item,
)

from tracker_bridge import errors
from tracker_bridge.adapters.github import GitHubAdapter
from tracker_bridge.adapters.github.style import GitHubPageStyle
from tracker_bridge.model import DependencyType, DesiredState, Snapshot, Status
from tracker_bridge.pipeline import adapter_factory
from tracker_bridge.planner import plan
from tracker_bridge.publish import render_desired
from tracker_bridge.settings import FieldNames, Settings

AS_OF = dt.date(2026, 1, 12)
HUMAN_PAGE = "# Plan\n\nNotes by Pat: we ship in spring.\n"
ISSUES_QUERY = {"state": "all", "sort": "created", "direction": "asc", "per_page": "100"}


def scenario_issues(bodies: Bodies) -> list[dict[str, Any]]:
    m1 = bodies.milestone(1, "Beta", "2026-03-01T08:00:00Z")
    return [
        bodies.issue(
            1,
            "Design schema",
            body="Some text.\n\nEstimate: 2-3-6d\n",
            milestone=m1,
            assignee="alice",
        ),
        bodies.issue(
            2,
            "Build API",
            labels=("estimate: 5d", "backend"),
            blocked_by=1,
            milestone=m1,
            assignee="bob",
        ),
        bodies.issue(
            3, "Frontend", body="Depends on #2\r\nBlocked by redmine#77", labels=("size: M",)
        ),
        bodies.issue(4, "Fix typo", pull_request=True),
        bodies.issue(5, "Epic: launch", sub_issues=2),
        bodies.issue(6, "Docs", parent=5, labels=("estimate: 6h",)),
        bodies.issue(7, "Release notes", labels=("estimate: 4h",)),  # parent only via sub_issues
        bodies.issue(
            8, "Kickoff", state="closed", labels=("estimate: 1d",), created="2026-01-02T09:00:00Z"
        ),
    ]


def mock_fetch(
    api: GitHubMock, bodies: Bodies, issues: list[dict[str, Any]], board_items: list[dict[str, Any]]
) -> None:
    api.rest("GET", f"/repos/{REPO}/issues", json_body=issues, query=ISSUES_QUERY)
    api.rest(
        "GET",
        f"/repos/{REPO}/milestones",
        json_body=[
            bodies.milestone(1, "Beta", "2026-03-01T08:00:00Z"),
            bodies.milestone(2, "GA", "2026-06-30T07:00:00Z", state="closed"),
        ],
        query={"state": "all", "per_page": "100"},
    )
    by_number = {i["number"]: i for i in issues}
    api.rest(
        "GET",
        f"/repos/{REPO}/issues/2/dependencies/blocked_by",
        json_body=[by_number[1]],
        query={"per_page": "100"},
    )
    api.rest(
        "GET",
        f"/repos/{REPO}/issues/5/sub_issues",
        json_body=[by_number[6], by_number[7]],
        query={"per_page": "100"},
    )
    api.graphql("TrackerBridgeProject", data=board_data(board_items))


def initial_board() -> list[dict[str, Any]]:
    return [
        board_item("PVTI_1", 1, "Design schema", {"PVTSSF_crit": "No", "PVTF_es": "2025-12-01"}),
        board_item("PVTI_2", 2, "Build API", {"PVTF_est": 99}),
        board_item("PVTI_5", 5, "Epic: launch"),
        board_item("PVTI_6", 6, "Docs"),
        board_item("PVTI_7", 7, "Release notes"),
        board_item("PVTI_8", 8, "Kickoff", {"PVTSSF_status": "Done"}),
    ]


def desired_for(snapshot: Snapshot) -> DesiredState:
    settings = Settings()
    the_plan = plan(snapshot, settings, AS_OF)
    return render_desired(
        the_plan,
        snapshot,
        style=GitHubPageStyle(),
        page_title="Project Plan",
        field_names=FieldNames(),
    )


class BoardWriter:
    """Answers the adapter's mutations like GitHub and remembers what was written."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {}  # item id -> field id -> value
        self.added: list[str] = []
        self.documents = 0

    def set_fields(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        assert variables["project"] == BOARD_ID
        self.documents += 1
        item = variables["item"]
        answer = {}
        for alias in re.findall(r"(\w+): (?:update|clear)ProjectV2ItemFieldValue", query):
            field_id = variables[f"{alias}Field"]
            value = variables.get(f"{alias}Value")
            if value is None:
                self.values.setdefault(item, {}).pop(field_id, None)
            else:
                ((kind, raw),) = value.items()
                shown = OPTION_NAMES[raw] if kind == "singleSelectOptionId" else raw
                self.values.setdefault(item, {})[field_id] = shown
            answer[alias] = {"projectV2Item": {"id": item}}
        return answer

    def add_item(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        self.added.append(variables["content"])
        return {"addProjectV2ItemById": {"item": {"id": "PVTI_new3"}}}


def test_entry_point_finds_the_adapter() -> None:
    factory: object = adapter_factory("github")
    assert factory is GitHubAdapter


def test_round_trip_then_second_pass_writes_nothing(
    github_api: GitHubMock,
    bodies: Bodies,
    make_adapter: AdapterFactory,
    wiki_repo: WikiRepo,
    fake_time: FakeTime,
) -> None:
    wiki_repo.write({"Project-Plan.md": HUMAN_PAGE})
    issues = scenario_issues(bodies)
    mock_fetch(github_api, bodies, issues, initial_board())
    adapter = make_adapter(estimate_field="Estimate (h)", estimate_labels={"size: M": 16})

    fetched = adapter.fetch()
    snapshot = fetched.snapshot
    # budget: 1 issue page + 1 milestone page + 1 blocked_by (#2) + 1 sub_issues (#5)
    # + 1 GraphQL board query; the pull request #4 cost nothing
    assert adapter.requests_made == github_api.calls == 5
    items = snapshot.item_map()
    assert sorted(items) == [f"github:{REPO}#{n}" for n in (1, 2, 3, 5, 6, 7, 8)]
    one, two, three = (items[f"github:{REPO}#{n}"] for n in (1, 2, 3))
    assert one.estimate_hours == 24 and one.estimate_range is not None
    assert (one.estimate_range.optimistic, one.estimate_range.pessimistic) == (16, 48)
    assert two.estimate_hours == 99  # the board's number field beats the label
    assert three.estimate_hours == 16  # size label
    assert items[f"github:{REPO}#6"].estimate_hours == 6
    assert one.assignee == "alice" and one.native_id == "I_kw0001"
    assert one.milestone == f"github:{REPO}:milestone:1"
    assert one.fields["critical"] == "No" and one.fields["early_start"] == "2025-12-01"
    assert one.fields["late_finish"] is None
    assert three.fields == {}  # not on the board
    kickoff = items[f"github:{REPO}#8"]
    assert kickoff.status is Status.CLOSED and kickoff.closed_on == dt.date(2026, 1, 20)
    assert items[f"github:{REPO}#6"].parent == f"github:{REPO}#5"
    assert items[f"github:{REPO}#7"].parent == f"github:{REPO}#5"
    deps = {(d.predecessor, d.successor): d for d in snapshot.dependencies}
    assert deps[(f"github:{REPO}#1", f"github:{REPO}#2")].origin == "blocked_by"
    assert deps[(f"github:{REPO}#2", f"github:{REPO}#3")].origin == "body"
    assert all(d.type is DependencyType.FS for d in deps.values())
    assert [(d.predecessor, d.origin) for d in fetched.external_dependencies] == [
        ("redmine:77", "body")
    ]
    milestones = {m.key: m for m in snapshot.milestones}
    assert milestones[f"github:{REPO}:milestone:1"].due == dt.date(2026, 3, 1)
    assert milestones[f"github:{REPO}:milestone:2"].due == dt.date(2026, 6, 30)
    assert milestones[f"github:{REPO}:milestone:2"].status == "closed"
    assert snapshot.source.kind == "github" and snapshot.project.start == dt.date(2026, 1, 2)

    desired = desired_for(snapshot)
    changes = adapter.diff(snapshot, desired)
    assert adapter.requests_made == 5  # diff reads the wiki with git, not the API
    assert changes.fields and [p.action for p in changes.pages] == ["update"]
    new_three = [c for c in changes.fields if c.item == f"github:{REPO}#3"]
    assert new_three and all(c.old is None for c in new_three)
    assert not [
        c
        for c in changes.fields
        if c.item == f"github:{REPO}#1"
        and c.field == "critical"
        and desired.fields[c.item]["critical"] is False
    ]

    writer = BoardWriter()
    touched = changes.items_touched()
    github_api.graphql("TrackerBridgeAddItem", handler=writer.add_item)
    github_api.graphql("TrackerBridgeSetFields", handler=writer.set_fields, times=touched)
    report = adapter.apply(changes)
    assert writer.added == ["I_kw0003"] and adapter.items_added == [f"github:{REPO}#3"]
    assert report.issues_updated == touched == writer.documents
    assert report.fields_written == len(changes.fields)
    assert report.pages_written == 1 and report.requests == touched + 1
    assert adapter.requests_made == github_api.calls
    assert fake_time.sleeps == []  # write_interval_seconds = 0 in tests
    page = wiki_repo.read("Project-Plan.md")
    assert page is not None and page.startswith(HUMAN_PAGE)
    assert "tracker-bridge:begin" in page
    assert wiki_repo.log()[0] == (
        "tracker-bridge <tracker-bridge@users.noreply.github.com> "
        "tracker-bridge: update Project Plan"
    )

    # second pass: GitHub now returns what we wrote
    item_ids = {
        1: "PVTI_1",
        2: "PVTI_2",
        3: "PVTI_new3",
        5: "PVTI_5",
        6: "PVTI_6",
        7: "PVTI_7",
        8: "PVTI_8",
    }
    before = {
        i["id"]: {f["field"]["id"]: _shown(f) for f in i["fieldValues"]["nodes"]}
        for i in initial_board()
    }
    board = []
    for number, item_id in item_ids.items():
        values = {**before.get(item_id, {}), **writer.values.get(item_id, {})}
        values.pop("PVTF_title", None)
        title = next(i["title"] for i in issues if i["number"] == number)
        board.append(board_item(item_id, number, title, values))
    mock_fetch(github_api, bodies, issues, board)
    again = make_adapter(estimate_field="Estimate (h)", estimate_labels={"size: M": 16})
    snapshot2 = again.fetch().snapshot
    changes2 = again.diff(snapshot2, desired_for(snapshot2))
    assert changes2.empty, changes2.fields
    report2 = again.apply(changes2)
    assert report2.requests == 0 and report2.fields_written == 0 and report2.pages_written == 0
    assert again.requests_made == 5


def _shown(node: dict[str, Any]) -> Any:
    for key in ("date", "number", "name", "text"):
        if key in node:
            return node[key]
    raise AssertionError(node)


def test_pull_requests_are_skipped_without_a_request_per_item(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory
) -> None:
    prs = [bodies.issue(n, f"PR {n}", pull_request=True) for n in range(10, 40)]
    github_api.rest("GET", f"/repos/{REPO}/issues", json_body=[bodies.issue(1, "Only"), *prs])
    github_api.rest("GET", f"/repos/{REPO}/milestones", json_body=[])
    snapshot = make_adapter(project_v2=None).fetch().snapshot
    assert [i.key for i in snapshot.items] == [f"github:{REPO}#1"]
    assert github_api.calls == 2


def test_priority_labels_give_the_issue_priority(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory
) -> None:
    """``priority_labels`` maps labels to a rank (names as for size labels: case and spaces
    do not matter); the highest wins; an issue without such a label has no priority."""
    issues = [
        bodies.issue(1, "Urgent", labels=("P0", "bug")),
        bodies.issue(2, "Both", labels=(" p1", "P2")),
        bodies.issue(3, "None", labels=("bug",)),
    ]
    github_api.rest("GET", f"/repos/{REPO}/issues", json_body=issues)
    github_api.rest("GET", f"/repos/{REPO}/milestones", json_body=[])
    adapter = make_adapter(project_v2=None, priority_labels={"P0": 3, "P1": 2, "P2": 1})
    items = adapter.fetch().snapshot.item_map()
    assert [items[f"github:{REPO}#{n}"].priority for n in (1, 2, 3)] == [3, 2, None]


def test_issue_list_follows_the_link_header(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory
) -> None:
    next_url = (
        f"{API_URL}/repos/{REPO}/issues?state=all&sort=created&direction=asc&per_page=100&page=2"
    )
    github_api.rest(
        "GET",
        f"/repos/{REPO}/issues",
        query=ISSUES_QUERY,
        json_body=[bodies.issue(n, f"Issue {n}") for n in range(1, 101)],
        headers={"Link": f'<{next_url}>; rel="next", <{next_url}>; rel="last"'},
    )
    github_api.rest(
        "GET",
        f"/repos/{REPO}/issues",
        query={**ISSUES_QUERY, "page": "2"},
        json_body=[bodies.issue(100, "Issue 100"), bodies.issue(101, "Issue 101")],
    )
    github_api.rest("GET", f"/repos/{REPO}/milestones", json_body=[])
    progress: list[tuple[int, int]] = []
    adapter = make_adapter(project_v2=None)
    adapter.progress = lambda done, total: progress.append((done, total))
    snapshot = adapter.fetch().snapshot
    assert len(snapshot.items) == 101  # #100 moved between pages: read once
    assert progress[-1] == (101, 101)
    assert adapter.requests_made == 3


def test_board_items_are_paged_by_100(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory
) -> None:
    github_api.rest(
        "GET", f"/repos/{REPO}/issues", json_body=[bodies.issue(1, "A"), bodies.issue(2, "B")]
    )
    github_api.rest("GET", f"/repos/{REPO}/milestones", json_body=[])
    github_api.graphql(
        "TrackerBridgeProject",
        data=board_data(
            [board_item("PVTI_1", 1, "A", {"PVTF_float": 3})], has_next=True, cursor="Y3Vyc29yOjE="
        ),
    )
    other_repo = board_item("PVTI_9", 9, "Elsewhere", repo="acme/other")

    def second_page(query: str, variables: dict[str, Any]) -> dict[str, Any]:
        assert variables == {"project": BOARD_ID, "after": "Y3Vyc29yOjE="}
        return {
            "node": {
                "__typename": "ProjectV2",
                "items": {
                    "pageInfo": {"hasNextPage": False, "endCursor": "Y3Vyc29yOjM="},
                    "nodes": [
                        board_item("PVTI_2", 2, "B", {"PVTF_lf": "2026-02-27"}),
                        other_repo,
                        {
                            "id": "PVTI_draft",
                            "content": {"__typename": "DraftIssue"},
                            "fieldValues": {"nodes": []},
                        },
                    ],
                },
            }
        }

    github_api.graphql("TrackerBridgeProjectItems", handler=second_page)
    snapshot = make_adapter().fetch().snapshot
    items = snapshot.item_map()
    assert items[f"github:{REPO}#1"].fields["total_float"] == "3"
    assert items[f"github:{REPO}#2"].fields["late_finish"] == "2026-02-27"
    assert snapshot.custom_fields["Critical"] == "PVTSSF_crit"
    assert github_api.calls == 4


def test_dependencies_and_sub_issues_across_repositories(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory
) -> None:
    other = "acme/api"
    web = [
        bodies.issue(1, "Page", blocked_by=2, body="Depends on acme/api#4 and #9"),
        bodies.issue(2, "Epic", sub_issues=1),
    ]
    api_issues = [
        bodies.issue(4, "Endpoint", repo=other, parent=2, parent_repo=REPO),
        bodies.issue(5, "Auth", repo=other),
    ]
    foreign = bodies.issue(11, "Vendor fix", repo="vendor/lib")
    github_api.rest("GET", f"/repos/{REPO}/issues", json_body=web)
    github_api.rest("GET", f"/repos/{REPO}/milestones", json_body=[])
    github_api.rest("GET", f"/repos/{other}/issues", json_body=api_issues)
    github_api.rest("GET", f"/repos/{other}/milestones", json_body=[])
    github_api.rest(
        "GET", f"/repos/{REPO}/issues/1/dependencies/blocked_by", json_body=[api_issues[1], foreign]
    )
    adapter = make_adapter(repositories=[REPO, other], project_v2=None)
    fetched = adapter.fetch()
    snapshot = fetched.snapshot
    items = snapshot.item_map()
    # the parent is in acme/web, its child in acme/api: named by parent_issue_url, no request
    assert items["github:acme/api#4"].parent == "github:acme/web#2"
    pairs = {(d.predecessor, d.successor, d.origin) for d in snapshot.dependencies}
    assert pairs == {
        ("github:acme/api#5", "github:acme/web#1", "blocked_by"),
        ("github:acme/api#4", "github:acme/web#1", "body"),
    }
    external = {(d.predecessor, d.origin) for d in fetched.external_dependencies}
    assert external == {("github:vendor/lib#11", "blocked_by"), ("github:acme/web#9", "body")}
    assert adapter.requests_made == 5


def test_webhook_issue_payloads_parse_like_list_items(
    contract: Any, make_adapter: AdapterFactory
) -> None:
    """Real ``issues`` webhook payloads (@octokit/webhooks-examples) carry the same issue
    object: the adapter keys and reads them the same way."""
    adapter = make_adapter(project_v2=None)
    examples = contract.webhooks["issues"]
    parsed = 0
    for payload in examples:
        issue = payload["issue"]
        if "/pull/" in issue["html_url"]:
            continue  # the issues webhook also reports pull requests, like the list does
        owner, repo = issue["html_url"].split("/")[3:5]
        key = adapter._ctx.keys.issue_key(issue)
        assert key == f"github:{owner}/{repo}#{issue['number']}"
        item = adapter._fetcher.item(key, f"{owner}/{repo}", issue, None, False)
        assert item.title == issue["title"]
        # some examples ("pinned") carry no state at all
        assert item.status is (Status.CLOSED if issue.get("state") == "closed" else Status.OPEN)
        parsed += 1
    assert parsed >= 20


def test_a_missing_board_field_names_the_setup_command(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory
) -> None:
    github_api.rest("GET", f"/repos/{REPO}/issues", json_body=[bodies.issue(1, "A")])
    github_api.rest("GET", f"/repos/{REPO}/milestones", json_body=[])
    fields = [f for f in FIELD_BY_ID.values() if f["name"] != "Late finish"]
    github_api.graphql("TrackerBridgeProject", data=board_data([], fields=fields))
    adapter = make_adapter()
    snapshot = adapter.fetch().snapshot
    desired = DesiredState(fields={f"github:{REPO}#1": {"late_finish": dt.date(2026, 2, 2)}})
    with pytest.raises(errors.ConfigError, match="setup github"):
        adapter.diff(snapshot, desired)


def test_unchanged_values_compare_normalised(
    github_api: GitHubMock, bodies: Bodies, make_adapter: AdapterFactory
) -> None:
    github_api.rest("GET", f"/repos/{REPO}/issues", json_body=[bodies.issue(1, "A")])
    github_api.rest("GET", f"/repos/{REPO}/milestones", json_body=[])
    github_api.graphql(
        "TrackerBridgeProject",
        data=board_data(
            [
                board_item(
                    "PVTI_1",
                    1,
                    "A",
                    {"PVTSSF_crit": "Yes", "PVTF_float": 0, "PVTF_es": "2026-01-05"},
                )
            ]
        ),
    )
    adapter = make_adapter()
    snapshot = adapter.fetch().snapshot
    desired = DesiredState(
        fields={
            f"github:{REPO}#1": {
                "critical": True,
                "total_float": 0,
                "early_start": dt.date(2026, 1, 5),
                "early_finish": None,
            }
        }
    )
    assert adapter.diff(snapshot, desired).fields == []
    desired.fields[f"github:{REPO}#1"]["total_float"] = -2
    (change,) = adapter.diff(snapshot, desired).fields
    assert (change.field, change.old, change.new) == ("total_float", "0", "-2")
