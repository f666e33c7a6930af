"""The GitHub wiki as a git repository, against a LOCAL bare repository (``wiki_remote``)."""

from __future__ import annotations

import base64
import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import pytest
from github_helpers import TOKEN, AdapterFactory, WikiRepo

from tracker_bridge import errors
from tracker_bridge.adapters.github import GitHubAdapter, _GitError, wiki_filename
from tracker_bridge.model import Attachment, DesiredPage, DesiredState, Project, Snapshot

SNAPSHOT = Snapshot(project=Project(name="acme/web", start=dt.date(2026, 1, 5)))
CRLF_PAGE = "Intro by Pat\r\n\r\nKeep this table:\r\n| a | b |\r\n"
AFTER = "\r\n\r\nFooter by Pat\r\n"


def desired(body: str, *attachments: Attachment) -> DesiredState:
    return DesiredState(
        pages=[DesiredPage(title="Project Plan", body=body, attachments=list(attachments))]
    )


def run(adapter: GitHubAdapter, state: DesiredState) -> Any:
    changes = adapter.diff(SNAPSHOT, state)
    return changes, adapter.apply(changes)


def test_wiki_round_trip_keeps_human_text_byte_for_byte(
    make_adapter: AdapterFactory, wiki_repo: WikiRepo
) -> None:
    adapter = make_adapter(project_v2=None)
    changes, report = run(adapter, desired("first plan"))
    assert [p.action for p in changes.pages] == ["create"] and report.pages_written == 1
    page = wiki_repo.read("Project-Plan.md")
    assert page is not None and "first plan" in page

    # a person writes around our block (CRLF, as browsers send it)
    wiki_repo.write({"Project-Plan.md": CRLF_PAGE + page.replace("\n", "\r\n") + AFTER})
    changes, report = run(make_adapter(project_v2=None), desired("second plan\nline 2"))
    assert [p.action for p in changes.pages] == ["update"] and report.pages_written == 1
    page = wiki_repo.read("Project-Plan.md")
    assert page is not None
    assert page.startswith(CRLF_PAGE) and page.endswith(AFTER)
    assert "second plan\r\nline 2" in page and "first plan" not in page
    assert wiki_repo.read("Home.md") == "Welcome to the web wiki.\n"
    assert wiki_repo.log()[0].startswith("tracker-bridge <tracker-bridge@users.noreply")

    # nothing changed: no page change, no commit
    again = make_adapter(project_v2=None)
    changes, report = run(again, desired("second plan\nline 2"))
    assert changes.empty and report.pages_written == 0
    assert len(wiki_repo.log()) == 4


def test_configured_author_and_attachments(
    make_adapter: AdapterFactory, wiki_repo: WikiRepo
) -> None:
    chart = Attachment(filename="plan-gantt.png", data=b"\x89PNG fake")
    adapter = make_adapter(
        project_v2=None, wiki_author_name="Plan Bot", wiki_author_email="planbot@example.com"
    )
    changes, report = run(adapter, desired("![Gantt](plan-gantt.png)", chart))
    assert report.attachments_uploaded == 1
    assert wiki_repo.log()[0] == (
        "Plan Bot <planbot@example.com> tracker-bridge: update Project Plan"
    )
    out = subprocess.run(
        ["git", "show", "master:plan-gantt.png"],
        cwd=wiki_repo.bare,
        capture_output=True,
        check=True,
    ).stdout
    assert out == chart.data
    changes, _ = run(make_adapter(project_v2=None), desired("![Gantt](plan-gantt.png)", chart))
    assert changes.empty


def test_page_in_a_subdirectory_is_found(make_adapter: AdapterFactory, wiki_repo: WikiRepo) -> None:
    wiki_repo.work.joinpath("plans").mkdir()
    wiki_repo.write({"plans/Project-Plan.md": "Our plans.\n"})
    run(make_adapter(project_v2=None), desired("the plan"))
    page = wiki_repo.read("plans/Project-Plan.md")
    assert page is not None and page.startswith("Our plans.\n") and "the plan" in page
    assert wiki_repo.read("Project-Plan.md") is None


@pytest.mark.parametrize("url", [False, True], ids=["path", "file-url"])
def test_rejected_push_is_fetched_remerged_and_retried(
    make_adapter: AdapterFactory, wiki_repo: WikiRepo, monkeypatch: pytest.MonkeyPatch, url: bool
) -> None:
    """``file://`` makes git honour ``--depth 1`` (shallow, as against GitHub)."""
    wiki_repo.write({"Project-Plan.md": "Pat's intro\n"})
    remote = wiki_repo.bare.as_uri() if url else str(wiki_repo.bare)
    adapter = make_adapter(project_v2=None, wiki_remote=remote)
    changes = adapter.diff(SNAPSHOT, desired("our plan"))
    real_git = adapter._wiki.git
    pushes: list[int] = []

    def git_with_a_concurrent_edit(args: list[str], *rest: Any, **kw: Any) -> Any:
        if args[0] == "push":
            pushes.append(1)
            if len(pushes) == 1:  # somebody saves the page between our clone and our push
                wiki_repo.write({"Project-Plan.md": "Pat's intro, edited meanwhile\n"})
        return real_git(args, *rest, **kw)

    monkeypatch.setattr(adapter._wiki, "git", git_with_a_concurrent_edit)
    report = adapter.apply(changes)
    assert report.conflicts_retried == 1 and report.pages_written == 1 and len(pushes) == 2
    page = wiki_repo.read("Project-Plan.md")
    assert page is not None and page.startswith("Pat's intro, edited meanwhile\n")
    assert "our plan" in page
    assert adapter.git_operations == 4  # clone, rejected push, fetch, push


def test_rejected_pushes_are_bounded(
    make_adapter: AdapterFactory, wiki_repo: WikiRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = make_adapter(project_v2=None, wiki_push_retries=1)
    changes = adapter.diff(SNAPSHOT, desired("our plan"))
    real_git = adapter._wiki.git
    edits = iter(range(100))

    def always_first(args: list[str], *rest: Any, **kw: Any) -> Any:
        if args[0] == "push":
            wiki_repo.write({"Other.md": f"edit {next(edits)}\n"})
        return real_git(args, *rest, **kw)

    monkeypatch.setattr(adapter._wiki, "git", always_first)
    with pytest.raises(errors.ConflictError, match="rejected 2 times"):
        adapter.apply(changes)


def test_missing_wiki_has_a_clear_message(make_adapter: AdapterFactory, tmp_path: Path) -> None:
    adapter = make_adapter(project_v2=None, wiki_remote=str(tmp_path / "absent.wiki.git"))
    with pytest.raises(errors.NotFoundError) as caught:
        adapter.diff(SNAPSHOT, desired("x"))
    assert str(caught.value).startswith(
        "the wiki of acme/web does not exist yet: create its first page in the web UI (GitHub "
        "only creates the wiki repository then)"
    )


def test_github_not_found_answer_gives_the_same_message(make_adapter: AdapterFactory) -> None:
    adapter = make_adapter(project_v2=None, wiki_remote=None)
    stderr = (
        "remote: Repository not found.\n"
        "fatal: repository 'https://github.com/acme/web.wiki.git/' not found\n"
    )
    error = adapter._wiki.error(_GitError(["clone"], 128, stderr), "clone")
    assert isinstance(error, errors.NotFoundError)
    assert "the wiki of acme/web does not exist yet" in str(error)


def test_token_goes_in_a_header_never_in_args_url_or_messages(
    make_adapter: AdapterFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = make_adapter(project_v2=None, wiki_remote=None)
    seen: list[tuple[list[str], dict[str, str]]] = []

    def fake_run(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        seen.append((args, kw["env"]))
        return subprocess.CompletedProcess(
            args,
            128,
            "",
            (
                f"fatal: unable to access 'https://x-access-token:{TOKEN}@github.com/acme/web.wiki"
                ".git/': The requested URL returned error: 403\n"
            ),
        )

    monkeypatch.setattr(subprocess, "run", fake_run)
    with pytest.raises(errors.AuthError) as caught:
        adapter.diff(SNAPSHOT, desired("x"))
    assert TOKEN not in str(caught.value)
    ((args, env),) = seen
    assert args[:2] == ["git", "clone"] and "https://github.com/acme/web.wiki.git" in args
    assert not any(TOKEN in a for a in args)
    header = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    config = {
        env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"]
        for i in range(int(env["GIT_CONFIG_COUNT"]))
    }
    assert config["http.https://github.com/.extraHeader"] == f"Authorization: Basic {header}"
    assert env["GIT_TERMINAL_PROMPT"] == "0"


def test_a_local_remote_gets_no_token(make_adapter: AdapterFactory) -> None:
    env = make_adapter(project_v2=None)._wiki.git_env()
    assert not any(TOKEN in v or "extraHeader" in v for v in env.values())


@pytest.mark.parametrize(
    ("title", "name"),
    [("Project Plan", "Project-Plan.md"), ("Plan", "Plan.md"), ("  Road  map ", "Road-map.md")],
)
def test_wiki_filenames(title: str, name: str) -> None:
    assert wiki_filename(title) == name


def test_wiki_filename_rejects_what_github_cannot_store() -> None:
    with pytest.raises(errors.ConfigError):
        wiki_filename("Plan: Q3?")
