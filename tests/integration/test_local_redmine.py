"""The local Redmine started by conftest.py is set up the way tracker-bridge needs it."""

from __future__ import annotations

import requests

from tracker_bridge.demo.instance import LocalRedmine
from tracker_bridge.demo.prepare import BOT_LOGIN, OUR_CUSTOM_FIELDS

TIMEOUT = 30


def _h(key: str) -> dict[str, str]:
    return {"X-Redmine-API-Key": key}


def test_rest_api_answers_for_the_admin_key(redmine: LocalRedmine) -> None:
    resp = requests.get(
        f"{redmine.url}/users/current.json", headers=_h(redmine.admin_key), timeout=TIMEOUT
    )
    assert resp.status_code == 200
    user = resp.json()["user"]
    assert user["login"] == "admin"
    assert user["admin"] is True
    # the admin-only list works too (it would be 403 without admin rights, 401 without REST)
    users = requests.get(
        f"{redmine.url}/users.json", headers=_h(redmine.admin_key), timeout=TIMEOUT
    )
    assert users.status_code == 200
    assert BOT_LOGIN in {u["login"] for u in users.json()["users"]}


def test_an_unknown_key_is_anonymous(redmine: LocalRedmine) -> None:
    resp = requests.get(f"{redmine.url}/users/current.json", headers=_h("0" * 40), timeout=TIMEOUT)
    assert resp.status_code == 401


def test_bot_key_is_planbot_and_not_admin(redmine: LocalRedmine) -> None:
    resp = requests.get(
        f"{redmine.url}/users/current.json", headers=_h(redmine.bot_key), timeout=TIMEOUT
    )
    assert resp.status_code == 200
    user = resp.json()["user"]
    assert user["login"] == BOT_LOGIN
    assert user["admin"] is False
    assert redmine.bot_key != redmine.admin_key
    # admin-only endpoints are closed to it
    denied = requests.get(
        f"{redmine.url}/custom_fields.json", headers=_h(redmine.bot_key), timeout=TIMEOUT
    )
    assert denied.status_code == 403


def test_our_custom_fields_exist_with_the_right_formats(redmine: LocalRedmine) -> None:
    resp = requests.get(
        f"{redmine.url}/custom_fields.json", headers=_h(redmine.admin_key), timeout=TIMEOUT
    )
    assert resp.status_code == 200
    fields = {cf["name"]: cf for cf in resp.json()["custom_fields"]}
    trackers = requests.get(
        f"{redmine.url}/trackers.json", headers=_h(redmine.admin_key), timeout=TIMEOUT
    ).json()["trackers"]
    all_tracker_ids = {t["id"] for t in trackers}
    assert all_tracker_ids, "the Debian database should come with trackers"
    for name, field_format in OUR_CUSTOM_FIELDS:
        assert name in fields, f"custom field {name!r} missing"
        cf = fields[name]
        assert cf["field_format"] == field_format, name
        assert cf["customized_type"] == "issue", name
        assert cf["visible"] is True, name
        assert {t["id"] for t in cf["trackers"]} == all_tracker_ids, name
        assert redmine.custom_field_ids[name] == cf["id"]


def test_text_formatting_is_textile_and_runner_works(redmine: LocalRedmine) -> None:
    out = redmine.runner("print Setting.text_formatting + ' ' + Setting.rest_api_enabled")
    assert out.strip().splitlines()[-1] == "textile 1"


def test_bot_creates_an_issue_and_round_trips_custom_fields(redmine, redmine_project) -> None:
    bot = _h(redmine.bot_key)
    created = requests.post(
        f"{redmine.url}/issues.json",
        headers=bot,
        timeout=TIMEOUT,
        json={
            "issue": {
                "project_id": redmine_project.id,
                "subject": "Pour foundations",
                "start_date": "2026-12-01",
                "due_date": "2026-12-04",
            }
        },
    )
    assert created.status_code == 201, created.text
    issue_id = created.json()["issue"]["id"]
    assert created.json()["issue"]["author"]["name"] == "Plan Bot"

    ids = redmine.custom_field_ids
    values = {
        "Critical": "1",
        "Total float (d)": "-2",
        "Early start": "2026-12-01",
        "Planned cost": "1234.5",
        "Criticality (%)": "87",
    }
    put = requests.put(
        f"{redmine.url}/issues/{issue_id}.json",
        headers=bot,
        timeout=TIMEOUT,
        json={"issue": {"custom_fields": [{"id": ids[n], "value": v} for n, v in values.items()]}},
    )
    assert put.status_code == 204, put.text

    got = requests.get(f"{redmine.url}/issues/{issue_id}.json", headers=bot, timeout=TIMEOUT)
    assert got.status_code == 200
    by_id = {cf["id"]: cf.get("value") for cf in got.json()["issue"]["custom_fields"]}
    for name, value in values.items():
        assert by_id[ids[name]] == value, name
    # a field we did not touch is present (enabled for the project/tracker) but unset
    assert ids["P80 finish"] in by_id
    assert by_id[ids["P80 finish"]] in (None, "")

    bad = requests.put(
        f"{redmine.url}/issues/{issue_id}.json",
        headers=bot,
        timeout=TIMEOUT,
        json={"issue": {"custom_fields": [{"id": ids["Risk score"], "value": "high"}]}},
    )
    assert bad.status_code == 422


def test_bot_can_relate_issues_log_time_and_manage_versions(redmine, redmine_project) -> None:
    bot = _h(redmine.bot_key)
    issue_ids = []
    for subject in ("Design", "Build"):
        r = requests.post(
            f"{redmine.url}/issues.json",
            headers=bot,
            timeout=TIMEOUT,
            json={"issue": {"project_id": redmine_project.id, "subject": subject}},
        )
        assert r.status_code == 201, r.text
        issue_ids.append(r.json()["issue"]["id"])

    rel = requests.post(
        f"{redmine.url}/issues/{issue_ids[0]}/relations.json",
        headers=bot,
        timeout=TIMEOUT,
        json={"relation": {"issue_to_id": issue_ids[1], "relation_type": "precedes"}},
    )
    assert rel.status_code == 201, rel.text

    activities = requests.get(
        f"{redmine.url}/enumerations/time_entry_activities.json", headers=bot, timeout=TIMEOUT
    ).json()["time_entry_activities"]
    te = requests.post(
        f"{redmine.url}/time_entries.json",
        headers=bot,
        timeout=TIMEOUT,
        json={
            "time_entry": {
                "issue_id": issue_ids[0],
                "hours": 1.5,
                "activity_id": activities[0]["id"],
            }
        },
    )
    assert te.status_code == 201, te.text
    listed = requests.get(
        f"{redmine.url}/time_entries.json",
        headers=bot,
        timeout=TIMEOUT,
        params={"project_id": redmine_project.identifier},
    )
    assert listed.status_code == 200
    assert listed.json()["total_count"] == 1

    version = requests.post(
        f"{redmine.url}/projects/{redmine_project.identifier}/versions.json",
        headers=bot,
        timeout=TIMEOUT,
        json={"version": {"name": "M1", "due_date": "2026-12-31"}},
    )
    assert version.status_code == 201, version.text


def test_bot_creates_and_updates_a_wiki_page(redmine, redmine_project) -> None:
    bot = _h(redmine.bot_key)
    page_url = f"{redmine.url}/projects/{redmine_project.identifier}/wiki/Schedule.json"

    created = requests.put(
        page_url,
        headers=bot,
        timeout=TIMEOUT,
        json={"wiki_page": {"text": "h2. Schedule\n\nfirst", "comments": "c1"}},
    )
    assert created.status_code == 201, created.text

    updated = requests.put(
        page_url,
        headers=bot,
        timeout=TIMEOUT,
        json={"wiki_page": {"text": "h2. Schedule\n\nsecond", "version": 1}},
    )
    assert updated.status_code == 204, updated.text

    stale = requests.put(
        page_url,
        headers=bot,
        timeout=TIMEOUT,
        json={"wiki_page": {"text": "h2. Schedule\n\nthird", "version": 1}},
    )
    assert stale.status_code == 409

    got = requests.get(page_url, headers=bot, timeout=TIMEOUT)
    assert got.status_code == 200
    page = got.json()["wiki_page"]
    assert page["text"] == "h2. Schedule\n\nsecond"
    assert page["version"] == 2
    assert page["author"]["name"] == "Plan Bot"


def test_bot_uploads_an_attachment_to_a_wiki_page(redmine, redmine_project) -> None:
    bot = _h(redmine.bot_key)
    up = requests.post(
        f"{redmine.url}/uploads.json",
        params={"filename": "gantt.png"},
        headers={**bot, "Content-Type": "application/octet-stream"},
        data=b"\x89PNG\r\n\x1a\nnot really",
        timeout=TIMEOUT,
    )
    assert up.status_code == 201, up.text
    token = up.json()["upload"]["token"]
    page_url = f"{redmine.url}/projects/{redmine_project.identifier}/wiki/Gantt.json"
    put = requests.put(
        page_url,
        headers=bot,
        timeout=TIMEOUT,
        json={
            "wiki_page": {
                "text": "!gantt.png!",
                "uploads": [{"token": token, "filename": "gantt.png", "content_type": "image/png"}],
            }
        },
    )
    assert put.status_code == 201, put.text
    got = requests.get(page_url, headers=bot, params={"include": "attachments"}, timeout=TIMEOUT)
    attachments = got.json()["wiki_page"]["attachments"]
    assert [a["filename"] for a in attachments] == ["gantt.png"]
    deleted = requests.delete(
        f"{redmine.url}/attachments/{attachments[0]['id']}.json", headers=bot, timeout=TIMEOUT
    )
    assert deleted.status_code == 204


def test_projects_are_private_to_their_members(redmine, redmine_project) -> None:
    # a project planbot is not a member of stays invisible to it
    ident = redmine_project.identifier + "-other"
    r = requests.post(
        f"{redmine.url}/projects.json",
        headers=_h(redmine.admin_key),
        timeout=TIMEOUT,
        json={"project": {"name": ident, "identifier": ident, "is_public": False}},
    )
    assert r.status_code == 201, r.text
    hidden = requests.get(
        f"{redmine.url}/projects/{ident}.json", headers=_h(redmine.bot_key), timeout=TIMEOUT
    )
    assert hidden.status_code == 403
    mine = requests.get(f"{redmine_project.url}.json", headers=_h(redmine.bot_key), timeout=TIMEOUT)
    assert mine.status_code == 200
    assert mine.json()["project"]["id"] == redmine_project.id
