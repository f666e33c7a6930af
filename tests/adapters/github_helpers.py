"""Helpers shared by the GitHub adapter tests: the token and repository they use, an
injected clock, REST bodies from GitHub's OpenAPI examples, Projects (v2) board data and a
local git repository standing in for a wiki.

A module of its own (not conftest.py) so that any subset of the test folders collects:
``from conftest import ...`` resolves to whichever folder's conftest was imported first.
"""

from __future__ import annotations

import copy
import itertools
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from github_contract import API_URL, Contract

from tracker_bridge.adapters.github import GitHubAdapter

TOKEN = "ghp_TESTTOKEN1234567890abcdefghijklmnopqr"


REPO = "acme/web"


BOARD_ID = "PVT_kwDOACME7"


@dataclass
class FakeTime:
    """An injected clock: ``sleep`` records the wait and moves the clock on."""

    now: float = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Bodies:
    """REST bodies built from the examples in GitHub's OpenAPI description."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        openapi = contract.openapi
        self._issue = openapi.example("/repos/{owner}/{repo}/issues", "get")[0]
        self._milestone = openapi.example("/repos/{owner}/{repo}/milestones", "get")[0]
        self._user = openapi.example("/user", "get")
        self._repository = openapi.example("/repos/{owner}/{repo}", "get")
        self._ids = itertools.count(1_000_001)

    @staticmethod
    def _retarget(node: Any, repo: str) -> Any:
        text = str(node)
        return text.replace("octocat/Hello-World", repo)

    def user(self, login: str) -> dict[str, Any]:
        user: dict[str, Any] = copy.deepcopy(self._issue["user"])
        for key, value in list(user.items()):
            if isinstance(value, str):
                user[key] = value.replace("octocat", login)
        user["login"] = login
        user["id"] = next(self._ids)
        return user

    def label(self, name: str, repo: str = REPO) -> dict[str, Any]:
        label: dict[str, Any] = copy.deepcopy(self._issue["labels"][0])
        label.update(
            id=next(self._ids),
            name=name,
            url=f"{API_URL}/repos/{repo}/labels/{name.replace(' ', '%20')}",
            default=False,
        )
        return label

    def milestone(
        self,
        number: int,
        title: str,
        due_on: str | None,
        *,
        repo: str = REPO,
        state: str = "open",
    ) -> dict[str, Any]:
        m: dict[str, Any] = copy.deepcopy(self._milestone)
        m.update(
            url=f"{API_URL}/repos/{repo}/milestones/{number}",
            html_url=f"https://github.com/{repo}/milestone/{number}",
            labels_url=f"{API_URL}/repos/{repo}/milestones/{number}/labels",
            id=next(self._ids),
            node_id=f"MI_kwDO{number:04d}",
            number=number,
            title=title,
            state=state,
            due_on=due_on,
            closed_at="2026-02-01T10:00:00Z" if state == "closed" else None,
        )
        return m

    def issue(
        self,
        number: int,
        title: str,
        *,
        repo: str = REPO,
        body: str | None = None,
        state: str = "open",
        labels: tuple[str, ...] = (),
        milestone: dict[str, Any] | None = None,
        assignee: str | None = None,
        blocked_by: int = 0,
        sub_issues: int = 0,
        parent: int | None = None,
        parent_repo: str | None = None,
        created: str = "2026-01-05T09:00:00Z",
        pull_request: bool = False,
        node_id: str | None = None,
    ) -> dict[str, Any]:
        issue: dict[str, Any] = copy.deepcopy(self._issue)
        base = f"{API_URL}/repos/{repo}/issues/{number}"
        kind = "pull" if pull_request else "issues"
        issue.update(
            id=next(self._ids),
            node_id=node_id or (f"PR_kw{number:04d}" if pull_request else f"I_kw{number:04d}"),
            url=base,
            repository_url=f"{API_URL}/repos/{repo}",
            labels_url=base + "/labels{/name}",
            comments_url=base + "/comments",
            events_url=base + "/events",
            html_url=f"https://github.com/{repo}/{kind}/{number}",
            number=number,
            title=title,
            body=body,
            state=state,
            state_reason="completed" if state == "closed" else None,
            closed_at="2026-01-20T16:30:00Z" if state == "closed" else None,
            closed_by=self.user("carol") if state == "closed" else None,
            created_at=created,
            updated_at="2026-01-21T08:00:00Z",
            labels=[self.label(name, repo) for name in labels],
            milestone=milestone,
            assignee=self.user(assignee) if assignee else None,
            assignees=[self.user(assignee)] if assignee else [],
            comments=0,
            issue_dependencies_summary={
                "blocked_by": blocked_by,
                "blocking": 0,
                "total_blocked_by": blocked_by,
                "total_blocking": 0,
            },
            sub_issues_summary={"total": sub_issues, "completed": 0, "percent_completed": 0},
        )
        if parent is not None:
            issue["parent_issue_url"] = f"{API_URL}/repos/{parent_repo or repo}/issues/{parent}"
        if pull_request:
            issue["pull_request"] = {
                "url": f"{API_URL}/repos/{repo}/pulls/{number}",
                "html_url": f"https://github.com/{repo}/pull/{number}",
                "diff_url": f"https://github.com/{repo}/pull/{number}.diff",
                "patch_url": f"https://github.com/{repo}/pull/{number}.patch",
                "merged_at": None,
            }
        else:
            issue.pop("pull_request", None)
        return issue

    def authenticated_user(self, login: str) -> dict[str, Any]:
        user: dict[str, Any] = copy.deepcopy(self._user)
        user["login"] = login
        return user

    def repository(self, repo: str, *, has_wiki: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = copy.deepcopy(self._repository)
        owner, name = repo.split("/")
        data.update(
            name=name,
            full_name=repo,
            has_wiki=has_wiki,
            url=f"{API_URL}/repos/{repo}",
            html_url=f"https://github.com/{repo}",
        )
        data["owner"]["login"] = owner
        # GitHub's own example of this operation does not fit its schema: it and its
        # "source" and "parent" lack the required "language"; a non-fork has neither.
        data["language"] = "Python"
        data.pop("source", None)
        data.pop("parent", None)
        return data


DEFAULT_FIELDS: list[dict[str, Any]] = [
    {"__typename": "ProjectV2Field", "id": "PVTF_title", "name": "Title", "dataType": "TITLE"},
    {
        "__typename": "ProjectV2SingleSelectField",
        "id": "PVTSSF_status",
        "name": "Status",
        "dataType": "SINGLE_SELECT",
        "options": [{"id": "st1", "name": "Todo"}, {"id": "st2", "name": "Done"}],
    },
    {
        "__typename": "ProjectV2SingleSelectField",
        "id": "PVTSSF_crit",
        "name": "Critical",
        "dataType": "SINGLE_SELECT",
        "options": [{"id": "opt_yes", "name": "Yes"}, {"id": "opt_no", "name": "No"}],
    },
    {
        "__typename": "ProjectV2Field",
        "id": "PVTF_float",
        "name": "Total float (d)",
        "dataType": "NUMBER",
    },
    {"__typename": "ProjectV2Field", "id": "PVTF_es", "name": "Early start", "dataType": "DATE"},
    {"__typename": "ProjectV2Field", "id": "PVTF_ef", "name": "Early finish", "dataType": "DATE"},
    {"__typename": "ProjectV2Field", "id": "PVTF_lf", "name": "Late finish", "dataType": "DATE"},
    {
        "__typename": "ProjectV2Field",
        "id": "PVTF_est",
        "name": "Estimate (h)",
        "dataType": "NUMBER",
    },
]


FIELD_BY_ID = {f["id"]: f for f in DEFAULT_FIELDS}


OPTION_NAMES = {"opt_yes": "Yes", "opt_no": "No", "st1": "Todo", "st2": "Done"}


def field_value(field_id: str, value: Any) -> dict[str, Any]:
    """One fieldValues node as GitHub returns it for our query."""
    f = FIELD_BY_ID[field_id]
    ref = {"__typename": f["__typename"], "id": f["id"], "name": f["name"]}
    if f["dataType"] == "DATE":
        return {"__typename": "ProjectV2ItemFieldDateValue", "date": value, "field": ref}
    if f["dataType"] == "NUMBER":
        return {"__typename": "ProjectV2ItemFieldNumberValue", "number": float(value), "field": ref}
    if f["dataType"] == "SINGLE_SELECT":
        option = next(o for o in f["options"] if o["name"] == value)
        return {
            "__typename": "ProjectV2ItemFieldSingleSelectValue",
            "name": value,
            "optionId": option["id"],
            "field": ref,
        }
    return {"__typename": "ProjectV2ItemFieldTextValue", "text": value, "field": ref}


def board_item(
    item_id: str, number: int, title: str, values: dict[str, Any] | None = None, *, repo: str = REPO
) -> dict[str, Any]:
    nodes = [field_value("PVTF_title", title)]
    nodes += [field_value(fid, v) for fid, v in (values or {}).items()]
    return {
        "id": item_id,
        "content": {
            "__typename": "Issue",
            "id": f"I_kw{number:04d}",
            "number": number,
            "repository": {"nameWithOwner": repo},
        },
        "fieldValues": {"nodes": nodes},
    }


def board_data(
    items: list[dict[str, Any]] | None,
    *,
    fields: list[dict[str, Any]] | None = None,
    has_next: bool = False,
    cursor: str | None = None,
) -> dict[str, Any]:
    """``data`` of the TrackerBridgeProject query (``items`` None: withItems false)."""
    project: dict[str, Any] = {
        "id": BOARD_ID,
        "title": "Roadmap",
        "url": "https://github.com/orgs/acme/projects/7",
        "fields": {"nodes": copy.deepcopy(fields if fields is not None else DEFAULT_FIELDS)},
    }
    if items is not None:
        project["items"] = {
            "pageInfo": {"hasNextPage": has_next, "endCursor": cursor},
            "nodes": items,
        }
    return {"owner": {"projectV2": project}}


def git(*args: str, cwd: Path | None = None) -> str:
    env = {
        "GIT_AUTHOR_NAME": "Pat",
        "GIT_AUTHOR_EMAIL": "pat@example.com",
        "GIT_COMMITTER_NAME": "Pat",
        "GIT_COMMITTER_EMAIL": "pat@example.com",
        "HOME": "/nonexistent",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True, env=env)
    return result.stdout.decode("utf-8")  # bytes as stored: no newline translation


@dataclass
class WikiRepo:
    """A bare repository standing in for OWNER/REPO.wiki.git, and a way to edit it."""

    bare: Path
    work: Path

    def write(self, files: dict[str, str], message: str = "edit") -> None:
        git("pull", "--quiet", "origin", "master", cwd=self.work)
        for name, text in files.items():
            (self.work / name).write_bytes(text.encode("utf-8"))
        git("add", "--", *files, cwd=self.work)
        git("commit", "--quiet", "-m", message, cwd=self.work)
        git("push", "--quiet", "origin", "HEAD:refs/heads/master", cwd=self.work)

    def read(self, name: str) -> str | None:
        try:
            return git("show", f"master:{name}", cwd=self.bare)
        except subprocess.CalledProcessError:
            return None

    def log(self) -> list[str]:
        return git("log", "--format=%an <%ae> %s", "master", cwd=self.bare).splitlines()


AdapterFactory = Callable[..., GitHubAdapter]
