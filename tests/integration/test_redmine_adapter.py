"""RedmineAdapter against a real Redmine 5.0.4 (no mocks).

Data is seeded as the admin (python-redmine, or one ``rails runner`` call for bulk data); the
adapter always runs as the non-admin ``planbot``, a Planner member of the test project.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import secrets
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from redminelib import Redmine

from tracker_bridge.adapters.redmine import RedmineAdapter, format_value, values_equal
from tracker_bridge.demo.instance import LocalRedmine
from tracker_bridge.demo.prepare import BOT_LOGIN, add_member
from tracker_bridge.errors import AuthError, ConfigError, InputError, NotFoundError
from tracker_bridge.managed_block import begin_marker, end_marker, merge_block
from tracker_bridge.model import (
    Attachment,
    DependencyType,
    DesiredPage,
    DesiredState,
    Status,
)
from tracker_bridge.settings import FieldNames, ProjectSettings, TrackerSettings

TIMEOUT = 30
TODAY_UTC = dt.datetime.now(dt.UTC).date()


# ----------------------------------------------------------------------------- helpers


def _h(key: str) -> dict[str, str]:
    return {"X-Redmine-API-Key": key}


def make_adapter(
    redmine: LocalRedmine,
    identifier: str,
    *,
    key: str | None = None,
    field_names: FieldNames | None = None,
    progress: Any = None,
    **project: Any,
) -> RedmineAdapter:
    return RedmineAdapter(
        TrackerSettings(kind="redmine", url=redmine.url, api_key_env="TB_TEST_REDMINE_KEY"),
        ProjectSettings(tracker="redmine", project=identifier, **project),
        field_names or FieldNames(),
        SecretStr(key if key is not None else redmine.bot_key),
        progress=progress,
    )


@pytest.fixture
def admin(redmine: LocalRedmine) -> Iterator[Redmine]:
    rm = Redmine(redmine.url, key=redmine.admin_key)
    yield rm
    rm.engine.session.close()


@pytest.fixture
def adapter(redmine: LocalRedmine, redmine_project: Any) -> Iterator[RedmineAdapter]:
    with make_adapter(redmine, redmine_project.identifier) as a:
        yield a


def create_project(
    redmine: LocalRedmine,
    *,
    modules: list[str],
    parent_id: int | None = None,
    name: str = "Extra",
    public: bool = False,
) -> dict[str, Any]:
    identifier = f"tb-x-{secrets.token_hex(4)}"
    trackers = requests.get(
        f"{redmine.url}/trackers.json", headers=_h(redmine.admin_key), timeout=TIMEOUT
    ).json()["trackers"]
    body: dict[str, Any] = {
        "name": f"{name} {identifier}",
        "identifier": identifier,
        "is_public": public,
        "enabled_module_names": modules,
        "tracker_ids": [t["id"] for t in trackers],
    }
    if parent_id is not None:
        body.update(parent_id=parent_id, inherit_members=True)
    resp = requests.post(
        f"{redmine.url}/projects.json",
        headers=_h(redmine.admin_key),
        json={"project": body},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 201, resp.text
    project: dict[str, Any] = resp.json()["project"]
    return project


def bot_user_id(redmine: LocalRedmine) -> int:
    user = requests.get(
        f"{redmine.url}/users/current.json", headers=_h(redmine.bot_key), timeout=TIMEOUT
    ).json()["user"]
    return int(user["id"])


def wiki_text(redmine: LocalRedmine, identifier: str, title: str) -> dict[str, Any]:
    resp = requests.get(
        f"{redmine.url}/projects/{identifier}/wiki/{title}.json",
        headers=_h(redmine.admin_key),
        params={"include": "attachments"},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 200, resp.text
    page: dict[str, Any] = resp.json()["wiki_page"]
    return page


def human_edit(redmine: LocalRedmine, identifier: str, title: str, text: str) -> None:
    """A person saving the page in the browser (textareas send CRLF)."""
    resp = requests.put(
        f"{redmine.url}/projects/{identifier}/wiki/{title}.json",
        headers=_h(redmine.admin_key),
        json={"wiki_page": {"text": text, "comments": "by hand"}},
        timeout=TIMEOUT,
    )
    assert resp.status_code in (201, 204), resp.text


def png(color: tuple[int, int, int]) -> bytes:
    """A valid 1x1 RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"\x00" + bytes(color)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def budget(n_issues: int, n_time_entries: int) -> int:
    return math.ceil(n_issues / 100) + 6 + max(1, math.ceil(n_time_entries / 100))


# ------------------------------------------------------------------------------- fetch


def test_fetch_maps_issues_relations_versions_and_time(
    redmine: LocalRedmine, redmine_project: Any, admin: Redmine
) -> None:
    pid = redmine_project.id
    ident = redmine_project.identifier
    bot_id = bot_user_id(redmine)
    cf = redmine.custom_field_ids

    # a subproject (members inherited) and an unrelated project sharing a version system-wide
    sub = create_project(
        redmine, modules=["issue_tracking", "time_tracking"], parent_id=pid, name="Sub"
    )
    other = create_project(redmine, modules=["issue_tracking"], name="Other")

    v1 = admin.version.create(project_id=pid, name="M1", due_date=dt.date(2027, 1, 15))
    v2 = admin.version.create(project_id=pid, name="M2", status="locked")
    vs = admin.version.create(
        project_id=other["id"], name="Shared", sharing="system", due_date=dt.date(2027, 2, 1)
    )
    vsub = admin.version.create(
        project_id=sub["id"], name="Sub release", due_date=dt.date(2027, 3, 1)
    )

    t: list[int] = []
    for i in range(40):
        fields: dict[str, Any] = {
            "project_id": pid,
            "subject": f"Task {i}",
            "estimated_hours": i % 5 + 1,
            "start_date": dt.date(2026, 12, 1) + dt.timedelta(days=i % 7),
        }
        if i == 0:
            fields["start_date"] = dt.date(2026, 10, 1)
        if i % 4 == 0:
            fields["assigned_to_id"] = bot_id
        if i == 6:
            fields["fixed_version_id"] = v1.id
        if i == 7:
            fields["fixed_version_id"] = vs.id
        if i == 30:
            fields["custom_fields"] = [
                {"id": cf["Total float (d)"], "value": "4"},
                {"id": cf["Risk score"], "value": "9"},
            ]
        t.append(admin.issue.create(**fields).id)
    phase = admin.issue.create(project_id=pid, subject="Phase").id
    for child in t[:3]:
        admin.issue.update(child, parent_issue_id=phase)
    admin.issue.update(t[5], status_id=5, done_ratio=100)  # Closed
    sub_issue = admin.issue.create(
        project_id=sub["id"], subject="Sub task", fixed_version_id=vsub.id
    ).id
    orphan = admin.issue.create(
        project_id=pid, subject="Child of a subproject issue", parent_issue_id=sub_issue
    ).id

    def relate(a: int, b: int, kind: str, delay: int | None = None) -> None:
        extra = {"delay": delay} if delay is not None else {}
        admin.issue_relation.create(issue_id=a, issue_to_id=b, relation_type=kind, **extra)

    relate(t[10], t[11], "precedes", 2)
    relate(t[13], t[12], "follows", 1)  # stored as 12 precedes 13
    relate(t[14], t[15], "blocks")
    relate(t[17], t[16], "blocked")  # stored as 16 blocks 17
    relate(t[18], t[19], "relates")
    relate(t[20], t[21], "duplicates")
    relate(t[22], t[23], "copied_to")
    relate(t[24], t[25], "precedes", 3)
    # (a second relation of any type between the same two issues is refused by Redmine:
    # 422 "Related issue has already been taken")
    # a relation that leaves the project (cross-project relations are off by default: switch
    # them on just for this one, in the app, and back)
    redmine.runner(f"""
        old = Setting.cross_project_issue_relations
        Setting.cross_project_issue_relations = '1'
        IssueRelation.create!(issue_from: Issue.find({t[31]}), issue_to: Issue.find({sub_issue}),
                              relation_type: 'precedes')
        Setting.cross_project_issue_relations = old
    """)

    activity = admin.enumeration.filter(resource="time_entry_activities")[0].id
    admin.time_entry.create(
        issue_id=t[0],
        hours=1.5,
        activity_id=activity,
        user_id=bot_id,
        spent_on=dt.date(2026, 11, 2),
    )
    admin.time_entry.create(
        issue_id=t[5], hours=2, activity_id=activity, spent_on=dt.date(2026, 11, 3)
    )
    admin.time_entry.create(
        project_id=pid, hours=0.5, activity_id=activity, spent_on=dt.date(2026, 11, 4)
    )
    admin.time_entry.create(
        issue_id=sub_issue, hours=8, activity_id=activity, spent_on=dt.date(2026, 11, 5)
    )

    calls: list[tuple[int, int]] = []
    with make_adapter(redmine, ident, progress=lambda d, n: calls.append((d, n))) as a:
        snap = a.fetch().snapshot
        requests_made = a.requests_made
        notes = list(a.notes)

    key = {i: f"redmine:{i}" for i in [*t, phase, sub_issue, orphan]}
    items = snap.item_map()
    assert len(items) == 42
    assert key[sub_issue] not in items
    assert requests_made <= budget(42, 3), requests_made
    assert requests_made == 6  # user, project, versions, 1 issue page, 1 time-entry page,
    # the priority list
    assert calls == [(42, 42)]

    assert snap.source.kind == "redmine" and snap.source.project == ident
    assert snap.project.name == redmine_project.name
    assert snap.project.start == dt.date(2026, 10, 1)

    first = items[key[t[0]]]
    assert first.title == "Task 0"
    assert first.url == f"{redmine.url}/issues/{t[0]}"
    assert first.native_id == str(t[0])
    assert first.estimate_hours == 1.0
    assert first.start == dt.date(2026, 10, 1)
    assert first.assignee == "Plan Bot"
    assert first.tracker == "Bug"
    assert first.parent == key[phase]
    assert first.spent_hours == 1.5
    assert first.updated_on is not None and first.updated_on.tzinfo is not None
    assert items[key[t[1]]].assignee is None
    assert items[key[phase]].parent is None
    # Redmine 5.0 keeps a parent's own estimate (here none); the children's sum is only in
    # total_estimated_hours, which we do not use (the planner rolls summaries up itself)
    assert items[key[phase]].estimate_hours is None
    assert items[key[phase]].start == dt.date(2026, 10, 1)  # parent dates are derived
    assert items[key[orphan]].parent is None  # its parent lives in the subproject
    assert any(f"#{sub_issue}" in n and "parent" in n for n in notes)

    closed = items[key[t[5]]]
    assert closed.status is Status.CLOSED and closed.closed_on == TODAY_UTC
    assert closed.done_ratio == 100
    assert items[key[t[4]]].status is Status.OPEN and items[key[t[4]]].closed_on is None

    milestones = {m.key: m for m in snap.milestones}
    assert set(milestones) == {f"redmine:version:{v.id}" for v in (v1, v2, vs)}
    assert milestones[f"redmine:version:{v1.id}"].due == dt.date(2027, 1, 15)
    assert milestones[f"redmine:version:{v2.id}"].status == "locked"
    assert milestones[f"redmine:version:{vs.id}"].name == f"{other['name']} - Shared"
    assert items[key[t[6]]].milestone == f"redmine:version:{v1.id}"
    assert items[key[t[7]]].milestone == f"redmine:version:{vs.id}"

    deps = {(d.predecessor, d.successor): (d.type, d.lag_days, d.origin) for d in snap.dependencies}
    assert deps == {
        (key[t[10]], key[t[11]]): (DependencyType.FS, 2, "precedes"),
        (key[t[12]], key[t[13]]): (DependencyType.FS, 1, "precedes"),
        (key[t[14]], key[t[15]]): (DependencyType.FS, 0, "blocks"),
        (key[t[16]], key[t[17]]): (DependencyType.FS, 0, "blocks"),
        (key[t[24]], key[t[25]]): (DependencyType.FS, 3, "precedes"),
    }
    assert len(snap.dependencies) == 5
    assert any("outside the fetched set" in n for n in notes)

    with_value = items[key[t[30]]]
    assert with_value.fields["total_float"] == "4"
    assert with_value.fields["critical"] is None
    assert set(with_value.fields) == set(FieldNames().logical_names())
    assert snap.custom_fields["Risk score"] == str(cf["Risk score"])
    assert snap.custom_fields["Total float (d)"] == str(cf["Total float (d)"])

    entries = sorted(snap.time_entries, key=lambda e: e.date)
    assert [(e.item, e.hours, e.date) for e in entries] == [
        (key[t[0]], 1.5, dt.date(2026, 11, 2)),
        (key[t[5]], 2.0, dt.date(2026, 11, 3)),
        (None, 0.5, dt.date(2026, 11, 4)),
    ]
    assert entries[0].person == "Plan Bot" and entries[1].person == "Redmine Admin"
    assert entries[0].activity

    # the same project with its subproject
    with make_adapter(redmine, ident, include_subprojects=True) as a:
        full = a.fetch().snapshot
        full_requests = a.requests_made
    items = full.item_map()
    assert len(items) == 43
    assert items[key[orphan]].parent == key[sub_issue]
    assert items[key[sub_issue]].milestone == f"redmine:version:{vsub.id}"
    sub_release = {m.key: m for m in full.milestones}[f"redmine:version:{vsub.id}"]
    assert sub_release.due == dt.date(2027, 3, 1)
    assert (key[t[31]], key[sub_issue]) in {(d.predecessor, d.successor) for d in full.dependencies}
    assert len(full.time_entries) == 4
    # + one /versions/:id.json for the subproject's own version
    assert full_requests == 7


def test_fetch_pages_issues_and_time_entries_within_budget(
    redmine: LocalRedmine, redmine_project: Any
) -> None:
    n_issues, n_entries = 230, 120
    # one transaction: one SQLite write lock instead of ~400 (and much faster)
    redmine.runner(f"""
      ActiveRecord::Base.transaction do
        p = Project.find({redmine_project.id})
        u = User.find_by(login: 'admin')
        User.current = u
        act = TimeEntryActivity.active.first
        issues = {n_issues}.times.map do |i|
          Issue.create!(project: p, tracker: p.trackers.first, author: u,
                        subject: "Bulk #{{i}}",
                        priority: IssuePriority.default || IssuePriority.first,
                        estimated_hours: 2)
        end
        issues.each_cons(2).first(50).each do |a, b|
          IssueRelation.create!(issue_from: a, issue_to: b, relation_type: 'precedes')
        end
        {n_entries}.times do |i|
          TimeEntry.create!(project: p, issue: issues[i % 10], user: u, author: u, hours: 1,
                            spent_on: Date.new(2026, 11, 1), activity: act)
        end
      end
    """)
    calls: list[tuple[int, int]] = []
    with make_adapter(
        redmine, redmine_project.identifier, progress=lambda d, n: calls.append((d, n))
    ) as a:
        snap = a.fetch().snapshot
        made = a.requests_made
    assert len(snap.items) == n_issues
    assert len({i.key for i in snap.items}) == n_issues
    assert len(snap.dependencies) == 50
    assert len(snap.time_entries) == n_entries
    assert math.isclose(sum(e.hours for e in snap.time_entries), n_entries)
    assert calls == [(100, n_issues), (200, n_issues), (n_issues, n_issues)]
    # 3 issue pages + 2 time-entry pages + user, project, versions, priorities
    assert made == 9
    assert made <= budget(n_issues, n_entries)


# ------------------------------------------------------------------------ diff / apply


def _seed(admin: Redmine, project_id: int, n: int) -> list[int]:
    return [
        admin.issue.create(
            project_id=project_id, subject=f"Item {i}", start_date=dt.date(2026, 12, 1)
        ).id
        for i in range(n)
    ]


def test_diff_apply_writes_only_changes_and_second_pass_is_empty(
    redmine: LocalRedmine, redmine_project: Any, admin: Redmine, adapter: RedmineAdapter
) -> None:
    cf = redmine.custom_field_ids
    ids = _seed(admin, redmine_project.id, 4)
    # somebody else's field and our field with a value already right
    admin.issue.update(
        ids[0],
        custom_fields=[
            {"id": cf["Risk score"], "value": "7"},
            {"id": cf["Total float (d)"], "value": "3"},
        ],
    )
    desired = DesiredState(
        fields={
            f"redmine:{i}": {
                "critical": n % 2 == 0,
                "total_float": 3 if n == 0 else -n,
                "early_start": dt.date(2026, 12, 1 + n),
                "early_finish": dt.date(2026, 12, 10 + n),
                "late_finish": None if n == 3 else dt.date(2026, 12, 20),
            }
            for n, i in enumerate(ids)
        }
    )
    snap = adapter.fetch().snapshot
    before = adapter.requests_made
    changes = adapter.diff(snap, desired)
    assert adapter.requests_made == before  # fields only: no request
    by_item: dict[str, dict[str, tuple[str | None, str]]] = {}
    for c in changes.fields:
        by_item.setdefault(c.item, {})[c.field] = (c.old, c.new)
    # item 0: total_float already "3"; item 3: late_finish None == unset
    assert "total_float" not in by_item[f"redmine:{ids[0]}"]
    assert "late_finish" not in by_item[f"redmine:{ids[3]}"]
    assert by_item[f"redmine:{ids[1]}"]["critical"] == (None, "0")
    assert by_item[f"redmine:{ids[1]}"]["total_float"] == (None, "-1")
    assert by_item[f"redmine:{ids[2]}"]["early_start"] == (None, "2026-12-03")
    assert len(changes.fields) == 4 * 5 - 2

    sent: list[requests.PreparedRequest] = []
    adapter._session.hooks["response"].append(lambda r, *a, **k: sent.append(r.request))
    report = adapter.apply(changes)
    assert report.issues_updated == 4
    assert [r.method for r in sent] == ["PUT"] * 4
    for r in sent:  # the key travels in a header only; our writes skip webhooks
        assert r.headers["X-Skip-Webhooks"] == "1"
        assert redmine.bot_key not in (r.url or "")
    assert report.fields_written == len(changes.fields)
    assert report.requests == 4  # one PUT per issue

    raw = requests.get(
        f"{redmine.url}/issues/{ids[0]}.json",
        headers=_h(redmine.admin_key),
        params={"include": "journals"},
        timeout=TIMEOUT,
    ).json()["issue"]
    values = {c["id"]: c.get("value") for c in raw["custom_fields"]}
    assert values[cf["Risk score"]] == "7"  # not ours: untouched
    assert values[cf["Critical"]] == "1"
    assert values[cf["Early start"]] == "2026-12-01"
    assert raw["subject"] == "Item 0" and raw["start_date"] == "2026-12-01"
    ours = {
        cf[n] for n in ("Critical", "Total float (d)", "Early start", "Early finish", "Late finish")
    }
    bot_journals = [j for j in raw["journals"] if j["user"]["name"] == "Plan Bot"]
    assert len(bot_journals) == 1
    assert {int(d["name"]) for d in bot_journals[0]["details"]} <= ours
    assert all(d["property"] == "cf" for d in bot_journals[0]["details"])

    # a fresh fetch: nothing left to write, and applying nothing costs nothing
    again = adapter.diff(adapter.fetch().snapshot, desired)
    assert again.empty
    before = adapter.requests_made
    assert adapter.apply(again).requests == 0
    assert adapter.requests_made == before


def test_float_values_compare_normalised(
    redmine: LocalRedmine, redmine_project: Any, admin: Redmine
) -> None:
    cf = redmine.custom_field_ids
    ids = _seed(admin, redmine_project.id, 3)
    for i in ids:
        admin.issue.update(i, custom_fields=[{"id": cf["Planned cost"], "value": "3.50"}])
    desired = DesiredState(
        fields={  # planned_cost is a float field ("Planned cost")
            f"redmine:{ids[0]}": {"planned_cost": 3.5},
            f"redmine:{ids[1]}": {"planned_cost": 3.25},
            f"redmine:{ids[2]}": {"planned_cost": 4.0},
        }
    )
    with make_adapter(redmine, redmine_project.identifier) as a:
        changes = a.diff(a.fetch().snapshot, desired)
        assert [(c.item, c.old, c.new) for c in changes.fields] == [
            (f"redmine:{ids[1]}", "3.50", "3.25"),
            (f"redmine:{ids[2]}", "3.50", "4"),
        ]
        a.apply(changes)
        assert a.diff(a.fetch().snapshot, desired).empty
    assert format_value(0.1 + 0.2) == "0.3"
    assert format_value(True) == "1" and format_value(False) == "0"
    # per Redmine format: floats keep at most 2 decimals, int fields get whole numbers
    assert format_value(1234.5678, "float") == "1234.57" and format_value(2.0, "float") == "2"
    assert format_value(72.5, "int") == "73" and format_value(-2.5, "int") == "-3"
    assert format_value(7, "int") == "7" and format_value(0.0, "bool") == "0"
    assert format_value(dt.date(2027, 1, 2), "date") == "2027-01-02"
    assert values_equal(" 7 ", "7") and values_equal(None, "") and not values_equal("1", "0")


def test_missing_custom_field_is_a_clear_config_error(
    redmine: LocalRedmine, redmine_project: Any, admin: Redmine
) -> None:
    ids = _seed(admin, redmine_project.id, 1)
    names = FieldNames(total_float="Float buffer (d)")
    with make_adapter(redmine, redmine_project.identifier, field_names=names) as a:
        snap = a.fetch().snapshot
        assert ids and "total_float" not in snap.items[0].fields
        with pytest.raises(ConfigError) as err:
            a.diff(snap, DesiredState(fields={f"redmine:{ids[0]}": {"total_float": 1}}))
        findings = {f.id: f for f in a.check()}
    message = str(err.value)
    assert "'Float buffer (d)'" in message and redmine_project.identifier in message
    assert "create it" in message
    missing = findings["redmine.custom_field.missing"]
    assert not missing.ok and "Float buffer (d)" in missing.message and missing.fix


# -------------------------------------------------------------------------------- wiki


def test_wiki_block_keeps_human_text_byte_for_byte(
    redmine: LocalRedmine, redmine_project: Any, adapter: RedmineAdapter
) -> None:
    ident = redmine_project.identifier
    snap = adapter.fetch().snapshot
    page = DesiredPage(title="Plan", body="h2. Schedule\n\n|_. Item |_. Float |\n| A | 0 |")
    changes = adapter.diff(snap, DesiredState(pages=[page]))
    assert [(p.action, p.base_version) for p in changes.pages] == [("create", None)]
    report = adapter.apply(changes)
    assert report.pages_written == 1
    stored = wiki_text(redmine, ident, "Plan")
    assert stored["text"] == merge_block(None, page.body, "textile")

    # a person writes above and below our block in the browser (CRLF line endings)
    above = "h1. Plan of record\r\n\r\nWritten by a person.  Trailing spaces kept.  \r\n\r\n"
    below = "\r\n\r\nh2. Notes\r\n\r\n* keep me\r\n* and me\r\n"
    block = stored["text"].replace("\n", "\r\n")
    human_edit(redmine, ident, "Plan", above + block + below)
    snapshot = adapter.fetch().snapshot
    assert adapter.diff(snapshot, DesiredState(pages=[page])).empty  # CRLF respected

    new_page = DesiredPage(title="Plan", body="h2. Schedule\n\n|_. Item |_. Float |\n| A | 2 |")
    changes = adapter.diff(adapter.fetch().snapshot, DesiredState(pages=[new_page]))
    assert [(p.action, p.lines_changed) for p in changes.pages] == [("update", 1)]
    adapter.apply(changes)
    text = wiki_text(redmine, ident, "Plan")["text"]
    assert text.startswith(above) and text.endswith(below)
    assert "| A | 2 |" in text and "| A | 0 |" not in text
    version = wiki_text(redmine, ident, "Plan")["version"]

    # unchanged: no write, no new version
    again = adapter.diff(adapter.fetch().snapshot, DesiredState(pages=[new_page]))
    assert again.empty
    assert wiki_text(redmine, ident, "Plan")["version"] == version

    # the markers do not show in the rendered page
    html = requests.get(
        f"{redmine.url}/projects/{ident}/wiki/Plan",
        params={"key": redmine.bot_key},
        timeout=TIMEOUT,
    ).text
    assert "Written by a person." in html and "keep me" in html and "Schedule" in html
    assert "tracker-bridge" not in html


def test_markers_are_invisible_in_every_redmine_formatter(redmine: LocalRedmine) -> None:
    texts = {
        "textile": merge_block("Human above", "h2. Ours\n\nbody", "textile") + "\r\n\r\nBelow",
        "markdown": merge_block("Human above", "## Ours\n\nbody", "markdown") + "\n\nBelow",
        "common_mark": merge_block("Human above", "## Ours\n\nbody", "common_mark") + "\n\nBelow",
    }
    payload = base64.b64encode(json.dumps(texts).encode()).decode()
    out = redmine.runner(f"""
        require 'json'; require 'base64'
        texts = JSON.parse(Base64.decode64('{payload}'))
        html = texts.to_h do |fmt, t|
          [fmt, Redmine::WikiFormatting.formatter_for(fmt).new(t).to_html]
        end
        puts 'HTML:' + html.to_json
    """)
    line = next(x for x in out.splitlines() if x.startswith("HTML:"))
    rendered = json.loads(line[5:])
    for fmt, html in rendered.items():
        assert "Human above" in html and "Below" in html and "Ours" in html, fmt
        assert "tracker-bridge" not in html, (fmt, html)
        assert "&lt;!--" not in html, (fmt, html)
    # and the other style would show: why each markup has its own markers
    assert begin_marker("textile").startswith("<!--")
    assert end_marker("markdown").startswith("[//]:")


def test_concurrent_wiki_edit_is_merged_and_retried(
    redmine: LocalRedmine, redmine_project: Any, adapter: RedmineAdapter
) -> None:
    ident = redmine_project.identifier
    adapter.apply(
        adapter.diff(
            adapter.fetch().snapshot, DesiredState(pages=[DesiredPage(title="Plan", body="v1")])
        )
    )
    desired = DesiredState(pages=[DesiredPage(title="Plan", body="v2 of our block")])
    changes = adapter.diff(adapter.fetch().snapshot, desired)
    assert changes.pages[0].base_version == 1

    # a person edits the page between our diff and our apply
    current = wiki_text(redmine, ident, "Plan")["text"]
    human_edit(
        redmine,
        ident,
        "Plan",
        "Added by a person meanwhile.\r\n\r\n" + current.replace("\n", "\r\n"),
    )

    report = adapter.apply(changes)
    assert report.conflicts_retried == 1
    assert report.pages_written == 1
    page = wiki_text(redmine, ident, "Plan")
    assert page["version"] == 3
    assert page["text"].startswith("Added by a person meanwhile.\r\n\r\n")
    assert "v2 of our block" in page["text"] and "v1" not in page["text"]


def test_page_created_meanwhile_is_not_overwritten(
    redmine: LocalRedmine, redmine_project: Any, adapter: RedmineAdapter
) -> None:
    ident = redmine_project.identifier
    desired = DesiredState(pages=[DesiredPage(title="Plan", body="ours")])
    changes = adapter.diff(adapter.fetch().snapshot, desired)
    assert changes.pages[0].action == "create"
    human_edit(redmine, ident, "Plan", "A person created this page first.")
    adapter.apply(changes)
    text = wiki_text(redmine, ident, "Plan")["text"]
    assert text.startswith("A person created this page first.\n\n")
    assert "ours" in text


def test_deleted_end_marker_stops_the_page_write(
    redmine: LocalRedmine, redmine_project: Any, adapter: RedmineAdapter
) -> None:
    ident = redmine_project.identifier
    broken = "Mine\r\n\r\n" + begin_marker("textile") + "\r\n\r\nold\r\n\r\nMy notes below\r\n"
    human_edit(redmine, ident, "Plan", broken)
    with pytest.raises(InputError, match="end marker was deleted") as err:
        adapter.diff(
            adapter.fetch().snapshot, DesiredState(pages=[DesiredPage(title="Plan", body="x")])
        )
    assert f"/projects/{ident}/wiki/Plan" in str(err.value)
    assert wiki_text(redmine, ident, "Plan")["text"] == broken


def test_attachments_are_uploaded_once_and_replaced(
    redmine: LocalRedmine, redmine_project: Any, adapter: RedmineAdapter
) -> None:
    ident = redmine_project.identifier
    red = Attachment(filename="gantt.png", data=png((255, 0, 0)))
    page = DesiredPage(title="Plan", body="!gantt.png!", attachments=[red])
    report = adapter.apply(adapter.diff(adapter.fetch().snapshot, DesiredState(pages=[page])))
    assert report.attachments_uploaded == 1 and report.pages_written == 1
    files = wiki_text(redmine, ident, "Plan")["attachments"]
    assert [(f["filename"], f["filesize"]) for f in files] == [("gantt.png", len(red.data))]

    assert adapter.diff(adapter.fetch().snapshot, DesiredState(pages=[page])).empty

    blue = Attachment(filename="gantt.png", data=png((0, 0, 255)) + b"\x00")
    page2 = DesiredPage(title="Plan", body="!gantt.png!", attachments=[blue])
    changes = adapter.diff(adapter.fetch().snapshot, DesiredState(pages=[page2]))
    assert len(changes.pages) == 1 and changes.pages[0].lines_changed == 0
    report = adapter.apply(changes)
    assert report.attachments_uploaded == 1
    files = wiki_text(redmine, ident, "Plan")["attachments"]
    assert [(f["filename"], f["filesize"]) for f in files] == [("gantt.png", len(blue.data))]
    got = requests.get(files[0]["content_url"], headers=_h(redmine.admin_key), timeout=TIMEOUT)
    assert got.content == blue.data
    assert adapter.diff(adapter.fetch().snapshot, DesiredState(pages=[page2])).empty


# ------------------------------------------------------------------------------ errors


def test_invalid_key_gives_auth_error_without_the_key(
    redmine: LocalRedmine, redmine_project: Any
) -> None:
    bad_key = "feedc0de" * 5
    with make_adapter(redmine, redmine_project.identifier, key=bad_key) as a:
        with pytest.raises(AuthError) as err:
            a.fetch()
        findings = a.check()
    message = str(err.value)
    assert bad_key not in message and bad_key not in repr(err.value)
    assert "Anonymous" in message and "API access key" in message
    assert "TB_TEST_REDMINE_KEY" in message
    assert err.value.status == 401
    assert [f.id for f in findings] == ["redmine.auth.invalid_key"]
    assert bad_key not in (findings[0].message + (findings[0].fix or ""))


def test_missing_project_gives_not_found(redmine: LocalRedmine) -> None:
    with make_adapter(redmine, "no-such-project") as a:
        with pytest.raises(NotFoundError) as err:
            a.fetch()
        findings = {f.id: f for f in a.check()}
    assert "'no-such-project'" in str(err.value) and redmine.url in str(err.value)
    assert err.value.status == 404
    assert not findings["redmine.project.missing"].ok


def test_unreachable_redmine_is_a_tracker_error(redmine: LocalRedmine) -> None:
    tracker = TrackerSettings(kind="redmine", url="http://127.0.0.1:9", timeout_seconds=2)
    a = RedmineAdapter(
        tracker, ProjectSettings(tracker="r", project="x"), FieldNames(), SecretStr(redmine.bot_key)
    )
    with a:
        findings = a.check()
    assert [f.id for f in findings] == ["redmine.connect.failed"]
    assert redmine.bot_key not in findings[0].message


# ------------------------------------------------------------------------------ doctor


def test_check_healthy_project(
    redmine: LocalRedmine, redmine_project: Any, admin: Redmine, adapter: RedmineAdapter
) -> None:
    _seed(admin, redmine_project.id, 1)
    findings = adapter.check()
    bad = [f for f in findings if not f.ok]
    assert bad == []
    ids = [f.id for f in findings]
    for expected in (
        "redmine.auth.ok",
        "redmine.project.ok",
        "redmine.wiki.ok",
        "redmine.permissions.ok",
    ):
        assert expected in ids
    assert ids.count("redmine.custom_field.ok") == len(FieldNames().logical_names())
    assert f"'{BOT_LOGIN}'" in findings[0].message


def test_check_project_without_wiki_and_diff_refuses_pages(
    redmine: LocalRedmine, admin: Redmine
) -> None:
    project = create_project(redmine, modules=["issue_tracking", "time_tracking"], name="No wiki")
    add_member(redmine, project["identifier"])
    _seed(admin, project["id"], 1)
    with make_adapter(redmine, project["identifier"]) as a:
        findings = {f.id: f for f in a.check()}
        wiki = findings["redmine.wiki.disabled"]
        assert not wiki.ok and "settings/modules" in (wiki.fix or "")
        assert "redmine.wiki.ok" not in findings
        with pytest.raises(ConfigError, match="wiki module is disabled"):
            a.diff(a.fetch().snapshot, DesiredState(pages=[DesiredPage(title="Plan", body="x")]))


def test_check_reports_fields_missing_on_a_tracker(
    redmine: LocalRedmine, redmine_project: Any, admin: Redmine
) -> None:
    """A field not enabled for one tracker: issues of that tracker cannot carry our value."""
    fid = redmine.custom_field_ids["Late finish"]
    trackers = {t.name: t.id for t in admin.tracker.all()}
    for name, tid in trackers.items():
        admin.issue.create(project_id=redmine_project.id, subject=f"A {name}", tracker_id=tid)
    redmine.runner(
        f"cf = IssueCustomField.find({fid}); "
        f"cf.trackers = cf.trackers.reject {{ |t| t.name == 'Support' }}; cf.save!"
    )
    try:
        with make_adapter(redmine, redmine_project.identifier) as a:
            findings = [f for f in a.check() if f.id == "redmine.custom_field.not_writable"]
            snap = a.fetch().snapshot
            support = next(i for i in snap.items if i.tracker == "Support")
            changes = a.diff(
                snap,
                DesiredState(
                    fields={support.key: {"late_finish": dt.date(2027, 1, 1), "critical": True}}
                ),
            )
            notes = list(a.notes)
    finally:
        redmine.runner(f"cf = IssueCustomField.find({fid}); cf.trackers = Tracker.all; cf.save!")
    assert len(findings) == 1 and "Support" in findings[0].message
    assert "'Late finish'" in findings[0].message
    assert [c.field for c in changes.fields] == ["critical"]
    assert any("late_finish" in n for n in notes)


def test_rest_disabled_is_detected(redmine: LocalRedmine, redmine_project: Any) -> None:
    """Redmine 5.0 answers 403 on /users/current.json for any key when REST is off."""
    redmine.runner("Setting.rest_api_enabled = '0'")
    try:
        with make_adapter(redmine, redmine_project.identifier) as a:
            findings = a.check()
            with pytest.raises(AuthError, match=r"REST web service .* is disabled") as err:
                a.fetch()
    finally:
        redmine.runner("Setting.rest_api_enabled = '1'")
    assert [f.id for f in findings] == ["redmine.rest.disabled"]
    assert err.value.status == 403
    assert redmine.bot_key not in str(err.value)


def test_rejected_issue_does_not_stop_the_others(
    redmine: LocalRedmine, redmine_project: Any, admin: Redmine
) -> None:
    from tracker_bridge.errors import RejectedError

    ids = _seed(admin, redmine_project.id, 3)
    desired = DesiredState(
        fields={
            f"redmine:{ids[0]}": {"total_float": 1},
            f"redmine:{ids[1]}": {"total_float": "not a number"},  # Redmine says 422
            f"redmine:{ids[2]}": {"total_float": 3},
        }
    )
    with make_adapter(redmine, redmine_project.identifier) as a:
        changes = a.diff(a.fetch().snapshot, desired)
    # a fresh adapter (no diff of its own) resolves the field ids itself
    with make_adapter(redmine, redmine_project.identifier) as b:
        with pytest.raises(RejectedError) as err:
            b.apply(changes)
        assert b.diff(b.fetch().snapshot, desired).fields[0].item == f"redmine:{ids[1]}"
    message = str(err.value)
    assert f"#{ids[1]}" in message and "is not a number" in message and "422" in message
    report = err.value.report  # type: ignore[attr-defined]
    assert report.issues_updated == 2
