"""A bot with exactly the documented permissions, one without 'Delete attachments', and the
chart files a pass leaves behind, against the real Redmine.

The role is created with exactly ``NEEDED_PERMISSIONS`` (the list doctor checks), and the
README's bot set-up is checked to list the same permissions, so "what the README says" and
"what a pass uses" cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import secrets
from pathlib import Path
from typing import Any

import requests
from click.testing import CliRunner, Result

from tracker_bridge.adapters.redmine import ATTACHMENT_TAG, NEEDED_PERMISSIONS
from tracker_bridge.cli import main
from tracker_bridge.demo.instance import LocalRedmine
from tracker_bridge.demo.prepare import add_member, add_role_user

RedmineProject = Any  # tests/integration/conftest.py's RedmineProject

ROOT = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2026, 12, 1)  # a Tuesday


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def admin(redmine: LocalRedmine, method: str, path: str, **kwargs: Any) -> Any:
    resp = requests.request(
        method,
        redmine.url + path,
        headers={"X-Redmine-API-Key": redmine.admin_key, **kwargs.pop("headers", {})},
        timeout=30,
        **kwargs,
    )
    assert resp.status_code < 400, f"{method} {path} -> {resp.status_code}: {resp.text[:300]}"
    return resp.json() if resp.content else None


def seed_network(redmine: LocalRedmine, project: RedmineProject) -> None:
    """Design (16 h) precedes Build (24 h) precedes Test (8 h); no dates of their own."""
    ids = []
    for subject, hours in (("Design", 16), ("Build", 24), ("Test", 8)):
        issue = admin(
            redmine,
            "POST",
            "/issues.json",
            json={
                "issue": {
                    "project_id": project.id,
                    "subject": subject,
                    "estimated_hours": hours,
                    "start_date": None,
                }
            },
        )["issue"]
        ids.append(issue["id"])
    for a, b in itertools.pairwise(ids):
        admin(
            redmine,
            "POST",
            f"/issues/{a}/relations.json",
            json={"relation": {"issue_to_id": b, "relation_type": "precedes"}},
        )


def config_for(tmp_path: Path, redmine: LocalRedmine, project: RedmineProject, key: str) -> Path:
    key_file = tmp_path / f"{secrets.token_hex(3)}.key"
    key_file.write_text(key, encoding="utf-8")
    path = tmp_path / f"tb-{secrets.token_hex(3)}.toml"
    path.write_text(
        f'[trackers.local]\nkind = "redmine"\nurl = "{redmine.url}"\n'
        f'api_key_file = "{key_file}"\n\n'
        f'[projects.p]\ntracker = "local"\nproject = "{project.identifier}"\n\n'
        "[risk]\ntrials = 500\n\n"
        f'[store]\npath = "{tmp_path / "state.sqlite3"}"\n',
        encoding="utf-8",
    )
    return path


def page_files(redmine: LocalRedmine, project: RedmineProject) -> list[dict[str, Any]]:
    page = admin(
        redmine,
        "GET",
        f"/projects/{project.identifier}/wiki/Plan.json",
        params={"include": "attachments"},
    )["wiki_page"]
    return list(page.get("attachments") or [])


def run(config: Path, as_of: dt.date) -> dict[str, Any]:
    result = cli("run", "--config", str(config), "--as-of", str(as_of), "--json")
    assert result.exit_code == 0, result.output + result.stderr
    data: dict[str, Any] = json.loads(result.stdout)[0]
    return data


def test_the_readme_lists_every_permission_a_pass_uses() -> None:
    text = (ROOT / "adapters" / "redmine" / "README.md").read_text(encoding="utf-8")
    section = text.split("### The bot user's role", 1)[1].split("\n### ", 1)[0]
    listed = set(re.findall(r"^\s+- \*\*(.+?)\*\*", section, flags=re.MULTILINE))
    assert listed == {label for label, _why in NEEDED_PERMISSIONS.values()}


def test_a_bot_with_exactly_the_readme_permissions_passes_doctor_and_run(
    redmine: LocalRedmine, redmine_project: RedmineProject, tmp_path: Path
) -> None:
    key = add_role_user(redmine, "readme-bot", "README bot", list(NEEDED_PERMISSIONS))
    add_member(redmine, redmine_project.identifier, login="readme-bot", role="README bot")
    seed_network(redmine, redmine_project)
    config = config_for(tmp_path, redmine, redmine_project, key)

    doctor = cli("doctor", "--config", str(config), "--json")
    assert doctor.exit_code == 0, doctor.stdout
    assert "redmine.permissions.ok" in {f["id"] for f in json.loads(doctor.stdout)["p"]}

    first = run(config, AS_OF)
    charts = {f["filename"] for f in page_files(redmine, redmine_project)}
    assert first["written"]["attachments_uploaded"] == len(charts) >= 2
    # the next day the charts differ (the status-date line moves): new files replace the old
    second = run(config, AS_OF + dt.timedelta(days=1))
    assert second["written"]["attachments_uploaded"] >= 1
    assert second["written"]["attachments_deleted"] == second["written"]["attachments_uploaded"]
    files = page_files(redmine, redmine_project)
    assert sorted(f["filename"] for f in files) == sorted(charts)  # one of each, no leftovers


def test_a_bot_that_may_not_delete_attachments_is_caught_by_doctor(
    redmine: LocalRedmine, redmine_project: RedmineProject, tmp_path: Path
) -> None:
    permissions = [p for p in NEEDED_PERMISSIONS if p != "delete_wiki_pages_attachments"]
    key = add_role_user(redmine, "nodelete-bot", "No delete bot", permissions)
    add_member(redmine, redmine_project.identifier, login="nodelete-bot", role="No delete bot")
    seed_network(redmine, redmine_project)
    config = config_for(tmp_path, redmine, redmine_project, key)

    doctor = cli("doctor", "--config", str(config), "--json")
    assert doctor.exit_code == 1
    findings = {f["id"]: f for f in json.loads(doctor.stdout)["p"]}
    missing = findings["redmine.permissions.missing"]
    assert "'Wiki: Delete attachments' (delete_wiki_pages_attachments" in missing["message"]
    assert "Edit issues" not in missing["message"]  # only what is missing is named
    assert missing["fix"] == (
        "Administration -> Roles and permissions -> No delete bot (the bot's role in "
        f"'{redmine_project.identifier}'): tick 'Wiki: Delete attachments', then Save."
    )


def test_chart_files_an_interrupted_pass_left_behind_are_deleted(
    redmine: LocalRedmine, redmine_project: RedmineProject, tmp_path: Path
) -> None:
    seed_network(redmine, redmine_project)
    config = config_for(tmp_path, redmine, redmine_project, redmine.bot_key)
    run(config, AS_OF)
    ours = page_files(redmine, redmine_project)
    # An interrupted pass: the same charts uploaded again and put on the page, but the pass
    # died before it deleted the files they replaced.
    uploads = []
    for f in ours:
        data = requests.get(
            f["content_url"], headers={"X-Redmine-API-Key": redmine.admin_key}, timeout=30
        ).content
        token = admin(
            redmine,
            "POST",
            "/uploads.json",
            params={"filename": f["filename"]},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )["upload"]["token"]
        uploads.append(
            {
                "token": token,
                "filename": f["filename"],
                "description": f["description"],
                "content_type": f["content_type"],
            }
        )
    text = admin(redmine, "GET", f"/projects/{redmine_project.identifier}/wiki/Plan.json")[
        "wiki_page"
    ]["text"]
    admin(
        redmine,
        "PUT",
        f"/projects/{redmine_project.identifier}/wiki/Plan.json",
        json={"wiki_page": {"text": text, "uploads": uploads}},
    )
    # a file a person attached under another name stays
    token = admin(
        redmine,
        "POST",
        "/uploads.json",
        params={"filename": "notes.txt"},
        data=b"my notes",
        headers={"Content-Type": "application/octet-stream"},
    )["upload"]["token"]
    admin(
        redmine,
        "PUT",
        f"/projects/{redmine_project.identifier}/wiki/Plan.json",
        json={"wiki_page": {"text": text, "uploads": [{"token": token, "filename": "notes.txt"}]}},
    )
    assert len(page_files(redmine, redmine_project)) == 2 * len(ours) + 1

    dry = cli("run", "--config", str(config), "--as-of", str(AS_OF), "--dry-run")
    assert dry.exit_code == 0
    assert f"delete {len(ours)} replaced chart file(s) still on 'Plan'" in dry.stdout

    cleanup = run(config, AS_OF)
    assert cleanup["changes"]["fields"] == []
    assert sorted(cleanup["changes"]["pages"][0]["obsolete_attachments"]) == sorted(
        f["id"] for f in ours
    )
    assert cleanup["written"]["attachments_uploaded"] == 0
    assert cleanup["written"]["pages_written"] == 0  # the text was right: not rewritten
    assert cleanup["written"]["attachments_deleted"] == len(ours)
    left = page_files(redmine, redmine_project)
    assert sorted(f["filename"] for f in left) == sorted(
        [f["filename"] for f in ours] + ["notes.txt"]
    )
    assert all(
        f["description"].startswith(ATTACHMENT_TAG) for f in left if f["filename"] != "notes.txt"
    )
    assert run(config, AS_OF)["changes"] == {"fields": [], "pages": []}
