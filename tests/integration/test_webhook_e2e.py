"""Webhook -> queue -> worker -> a real pass against a real Redmine 5.0.4 on loopback.

Redmine 5 has neither core webhooks nor the plugin here, so the test posts what the
redmine_webhook plugin would post (built from the issue as the REST API shows it), and for
the echo the Redmine 7 core payload built from the real journal of our own write. The app
runs in-process (starlette's TestClient); the worker runs the real pass
(``pipeline.run_pass``) as the non-admin ``planbot``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from starlette.testclient import TestClient

from tracker_bridge.demo.instance import LocalRedmine
from tracker_bridge.demo.prepare import BOT_LOGIN
from tracker_bridge.settings import Settings, settings_from_dict
from tracker_bridge.store import Store
from tracker_bridge.webhook import create_app, sign
from tracker_bridge.worker import Worker

TIMEOUT = 30
TOKEN = "plugin-token-e2e"
SECRET = "redmine7-secret-e2e"


def _admin(redmine: LocalRedmine) -> dict[str, str]:
    return {"X-Redmine-API-Key": redmine.admin_key}


def _issue(redmine: LocalRedmine, issue_id: int, *, journals: bool = False) -> dict[str, Any]:
    resp = requests.get(
        f"{redmine.url}/issues/{issue_id}.json",
        headers=_admin(redmine),
        params={"include": "journals"} if journals else None,
        timeout=TIMEOUT,
    )
    resp.raise_for_status()
    issue: dict[str, Any] = resp.json()["issue"]
    return issue


def _field(issue: dict[str, Any], name: str) -> str | None:
    for cf in issue.get("custom_fields", []):
        if cf["name"] == name:
            return str(cf["value"]) if cf.get("value") not in (None, "") else None
    raise AssertionError(f"issue #{issue['id']} has no custom field {name!r}")


def _create(redmine: LocalRedmine, project_id: int, subject: str, hours: float) -> int:
    resp = requests.post(
        f"{redmine.url}/issues.json",
        headers=_admin(redmine),
        json={"issue": {"project_id": project_id, "subject": subject, "estimated_hours": hours}},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["issue"]["id"])


def _plugin_payload(issue: dict[str, Any], identifier: str, *, action: str) -> dict[str, Any]:
    """What redmine_webhook posts, from the issue as REST shows it (fact sheet 1.14)."""
    payload: dict[str, Any] = {
        "action": action,
        "url": f"/issues/{issue['id']}",
        "issue": {
            "id": issue["id"],
            "subject": issue["subject"],
            "estimated_hours": issue.get("estimated_hours"),
            "updated_on": issue["updated_on"],
            "project": {
                "id": issue["project"]["id"],
                "identifier": identifier,
                "name": issue["project"]["name"],
            },
            "custom_field_values": [
                {"custom_field_id": cf["id"], "custom_field_name": cf["name"], "value": cf["value"]}
                for cf in issue.get("custom_fields", [])
            ],
        },
    }
    journals = issue.get("journals") or []
    if action == "updated" and journals:
        last = journals[-1]
        payload["journal"] = {
            "id": last["id"],
            "notes": last.get("notes") or "",
            "author": {"id": last["user"]["id"], "login": "admin"},
            "details": [
                {
                    "property": d["property"],
                    "prop_key": d["name"],
                    "old_value": d.get("old_value"),
                    "value": d.get("new_value"),
                }
                for d in last.get("details", [])
            ],
        }
    return {"payload": payload}


def _redmine7_payload(issue: dict[str, Any]) -> dict[str, Any]:
    """What Redmine 7 would post for the issue's last journal (app/models/webhook_payload.rb)."""
    last = issue["journals"][-1]
    body = {k: v for k, v in issue.items() if k != "journals"}
    return {
        "type": "issue.updated",
        "timestamp": last["created_on"],
        "data": {
            "issue": body,
            "journal": {
                "id": last["id"],
                "created_on": last["created_on"],
                "notes": last.get("notes") or "",
                "user": last["user"],
                "details": [
                    {
                        "property": d["property"],
                        "prop_key": d["name"],
                        "old_value": d.get("old_value"),
                        "value": d.get("new_value"),
                    }
                    for d in last.get("details", [])
                ],
            },
        },
    }


@pytest.fixture
def setup(
    redmine: LocalRedmine, redmine_project: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Settings, TestClient, Worker]]:
    key_file = tmp_path / "planbot.key"
    key_file.write_text(redmine.bot_key + "\n", encoding="utf-8")
    monkeypatch.setenv("TB_E2E_TOKEN", TOKEN)
    monkeypatch.setenv("TB_E2E_SECRET", SECRET)
    settings = settings_from_dict(
        {
            "store": {"path": str(tmp_path / "state.sqlite3")},
            "trackers": {
                "local": {
                    "kind": "redmine",
                    "url": redmine.url,
                    "api_key_file": str(key_file),
                    "markup": "textile",
                }
            },
            "projects": {"e2e": {"tracker": "local", "project": redmine_project.identifier}},
            "webhooks": {
                "redmine_token_env": "TB_E2E_TOKEN",
                "redmine_secret_env": "TB_E2E_SECRET",
                # Redmine 7 payloads name the project by id; the bot is NOT listed by user
                # id, so the echo below must be recognised by the values we wrote
                "redmine_project_ids": {"e2e": redmine_project.id},
                "debounce_seconds": 0,
                "max_wait_seconds": 0,
            },
        }
    )
    with TestClient(create_app(settings)) as client:
        worker = Worker(settings)
        try:
            yield settings, client, worker
        finally:
            worker.close()


def test_an_estimate_edit_reaches_the_early_finish_and_our_echo_is_ignored(
    redmine: LocalRedmine, redmine_project: Any, setup: tuple[Settings, TestClient, Worker]
) -> None:
    settings, client, worker = setup
    pid, ident = redmine_project.id, redmine_project.identifier
    design = _create(redmine, pid, "Design", 8)
    build = _create(redmine, pid, "Build", 16)
    resp = requests.post(
        f"{redmine.url}/issues/{design}/relations.json",
        headers=_admin(redmine),
        json={"relation": {"issue_to_id": build, "relation_type": "precedes"}},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 201, resp.text

    # 1. an "opened" delivery: the first pass fills our fields
    opened = _plugin_payload(_issue(redmine, build), ident, action="opened")
    first = client.post(f"/hooks/redmine?token={TOKEN}", json=opened)
    assert first.status_code == 202 and first.json()["status"] == "queued", first.text
    runs = worker.run_until_idle()
    assert [(r.job.project, r.outcome) for r in runs] == [("e2e", "done")], runs
    before = _field(_issue(redmine, build), "Early finish")
    assert before is not None

    # 2. a person raises Design's estimate 8 h -> 40 h (four more working days)
    resp = requests.put(
        f"{redmine.url}/issues/{design}.json",
        headers=_admin(redmine),
        json={"issue": {"estimated_hours": 40}},
        timeout=TIMEOUT,
    )
    assert resp.status_code in (200, 204), resp.text
    edited = _plugin_payload(_issue(redmine, design, journals=True), ident, action="updated")
    assert edited["payload"]["journal"]["details"][0]["prop_key"] == "estimated_hours"
    second = client.post(f"/hooks/redmine?token={TOKEN}", json=edited)
    assert second.status_code == 202 and second.json()["status"] == "queued", second.text
    runs = worker.run_until_idle()
    assert [r.outcome for r in runs] == ["done"], runs
    after = _field(_issue(redmine, build), "Early finish")
    expected = np.busday_offset(np.datetime64(before), 4, roll="forward", weekmask="1111100")
    assert after == str(expected), (before, after)

    # the values the pass wrote are in the store
    with Store.open(settings.store.path) as store:
        assert store.written_value("e2e", f"redmine:{build}", "early_finish") == after

    # 3. the echo of our own write: Redmine 7 would post the journal planbot just made
    build_now = _issue(redmine, build, journals=True)
    echo = _redmine7_payload(build_now)
    journal = echo["data"]["journal"]
    assert journal["user"]["name"] != "Redmine Admin"  # written by the bot
    assert any(d["property"] == "cf" for d in journal["details"])
    raw = json.dumps(echo).encode()
    answer = client.post(
        "/hooks/redmine",
        content=raw,
        headers={"X-Redmine-Signature-256": sign(SECRET.encode(), raw), "User-Agent": "Redmine"},
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "own change ignored"
    # and as the plugin would post it (it names the author by login)
    plugin_echo = _plugin_payload(build_now, ident, action="updated")
    plugin_echo["payload"]["journal"]["author"]["login"] = BOT_LOGIN
    settings.webhooks.bot_logins.append(BOT_LOGIN)
    answer = client.post(f"/hooks/redmine?token={TOKEN}", json=plugin_echo)
    assert answer.json()["status"] == "own change ignored"
    assert worker.run_until_idle() == []  # nothing was queued by the echoes

    # a second look at the queue: two passes, both done, no dead letters
    with Store.open(settings.store.path) as store:
        counts = store.queue_counts()
    assert counts == {"queued": 0, "running": 0, "done": 2, "dead": 0}
    assert dt.date.fromisoformat(after) > dt.date.fromisoformat(before)
