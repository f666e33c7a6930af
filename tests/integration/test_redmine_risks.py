"""RedmineAdapter: three-point estimates, the risk register and optional overlay fields,
against a real Redmine 5.0.4 (no mocks).

The local Redmine provisions "Optimistic (h)", "Pessimistic (h)" and the overlay fields, but
not the risk register: the module fixture ``risk_register`` creates a "Risk" tracker and the
"Probability (%)", "Impact (d)" and "Impact cost" fields (only on that tracker) in one
``rails runner`` call, and removes them again (with every risk issue) when the module is
done, so tests of other modules see the stock set-up. Each test keeps its data in its own
``redmine_project``; the adapter runs as the non-admin ``planbot``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from redminelib import Redmine

from tracker_bridge.adapters.redmine import RedmineAdapter
from tracker_bridge.demo.instance import LocalRedmine
from tracker_bridge.model import DesiredState, EstimateRange, Snapshot, Status
from tracker_bridge.settings import FieldNames, ProjectSettings, RiskSettings, TrackerSettings

TIMEOUT = 30
RISK_FIELDS = {"Probability (%)": "int", "Impact (d)": "float", "Impact cost": "float"}
MARKER = "TB_RISK_SETUP:"


@dataclass(frozen=True)
class RiskRegister:
    tracker_id: int
    fields: dict[str, int]  # name -> custom field id


def _h(key: str) -> dict[str, str]:
    return {"X-Redmine-API-Key": key}


@pytest.fixture(scope="module")
def risk_register(redmine: LocalRedmine) -> Iterator[RiskRegister]:
    out = redmine.runner(f"""
        require 'json'
        ActiveRecord::Base.transaction do
          bug = Tracker.find_by(name: 'Bug') || Tracker.sorted.first
          t = Tracker.find_by(name: 'Risk') ||
              Tracker.create!(name: 'Risk', default_status: IssueStatus.sorted.first)
          t.copy_workflow_rules(bug) if WorkflowTransition.where(tracker_id: t.id).none?
          ids = {{}}
          JSON.parse('{json.dumps(RISK_FIELDS)}').each do |name, format|
            cf = IssueCustomField.find_by(name: name) || IssueCustomField.new(name: name)
            cf.field_format = format
            cf.is_for_all = true
            cf.visible = true
            cf.editable = true
            cf.trackers = [t]
            cf.save!
            ids[name] = cf.id
          end
          puts '{MARKER}' + {{'tracker_id' => t.id, 'fields' => ids}}.to_json
        end
    """)
    line = next(x for x in out.splitlines() if x.startswith(MARKER))
    data = json.loads(line[len(MARKER) :])
    yield RiskRegister(
        tracker_id=int(data["tracker_id"]), fields={k: int(v) for k, v in data["fields"].items()}
    )
    names = ", ".join(f"'{n}'" for n in RISK_FIELDS)
    redmine.runner(f"""
        t = Tracker.find_by(name: 'Risk')
        if t
          Issue.where(tracker_id: t.id).pluck(:id).each do |id|
            Issue.find_by(id: id)&.destroy
          end
          t.reload.destroy
        end
        IssueCustomField.where(name: [{names}]).destroy_all
    """)


@pytest.fixture
def admin(redmine: LocalRedmine) -> Iterator[Redmine]:
    rm = Redmine(redmine.url, key=redmine.admin_key)
    yield rm
    rm.engine.session.close()


def make_adapter(
    redmine: LocalRedmine,
    identifier: str,
    *,
    field_names: FieldNames | None = None,
    risk: RiskSettings | None = None,
) -> RedmineAdapter:
    return RedmineAdapter(
        TrackerSettings(kind="redmine", url=redmine.url, api_key_env="TB_TEST_REDMINE_KEY"),
        ProjectSettings(tracker="redmine", project=identifier),
        field_names or FieldNames(),
        SecretStr(redmine.bot_key),
        risk=risk,
    )


def three_point(
    redmine: LocalRedmine, optimistic: str | None, pessimistic: str | None
) -> list[dict[str, Any]]:
    cf = redmine.custom_field_ids
    values = []
    if optimistic is not None:
        values.append({"id": cf["Optimistic (h)"], "value": optimistic})
    if pessimistic is not None:
        values.append({"id": cf["Pessimistic (h)"], "value": pessimistic})
    return values


def issue_values(redmine: LocalRedmine, issue_id: int) -> dict[int, Any]:
    raw = requests.get(
        f"{redmine.url}/issues/{issue_id}.json", headers=_h(redmine.admin_key), timeout=TIMEOUT
    ).json()["issue"]
    return {int(c["id"]): c.get("value") for c in raw.get("custom_fields") or []}


def schedule_values(n: int) -> dict[str, Any]:
    return {
        "critical": n % 2 == 0,
        "total_float": n,
        "early_start": dt.date(2027, 1, 4),
        "early_finish": dt.date(2027, 1, 8 + n),
        "late_finish": dt.date(2027, 1, 15),
    }


# ------------------------------------------------------------------ three-point estimates


def test_three_point_fields_become_an_estimate_range(
    redmine: LocalRedmine, redmine_project: Any, admin: Redmine
) -> None:
    pid = redmine_project.id
    wide = admin.issue.create(
        project_id=pid,
        subject="Wide",
        estimated_hours=10,
        custom_fields=three_point(redmine, "6", "20.5"),
    ).id
    flat = admin.issue.create(
        project_id=pid,
        subject="Flat",
        estimated_hours=8,
        custom_fields=three_point(redmine, "8", "8"),
    ).id
    single = admin.issue.create(project_id=pid, subject="Single", estimated_hours=4).id

    with make_adapter(redmine, redmine_project.identifier) as a:
        snap = a.fetch().snapshot
        notes = list(a.notes)
    items = snap.item_map()
    assert items[f"redmine:{wide}"].estimate_range == EstimateRange(
        optimistic=6, likely=10, pessimistic=20.5
    )
    assert items[f"redmine:{wide}"].estimate_hours == 10
    assert items[f"redmine:{flat}"].estimate_range == EstimateRange(
        optimistic=8, likely=8, pessimistic=8
    )
    assert items[f"redmine:{single}"].estimate_range is None
    assert notes == []
    # the snapshot survives its own file format
    assert Snapshot.model_validate(snap.model_dump(mode="json")) == snap


def test_inconsistent_three_point_estimate_is_ignored_with_a_note(
    redmine: LocalRedmine, redmine_project: Any, admin: Redmine
) -> None:
    pid = redmine_project.id
    unordered = admin.issue.create(
        project_id=pid,
        subject="Unordered",
        estimated_hours=5,
        custom_fields=three_point(redmine, "8", "10"),
    ).id
    half = admin.issue.create(
        project_id=pid,
        subject="Half",
        estimated_hours=5,
        custom_fields=three_point(redmine, "3", None),
    ).id
    no_likely = admin.issue.create(
        project_id=pid, subject="No likely", custom_fields=three_point(redmine, "2", "4")
    ).id
    fine = admin.issue.create(
        project_id=pid,
        subject="Fine",
        estimated_hours=5,
        custom_fields=three_point(redmine, "4", "9"),
    ).id

    with make_adapter(redmine, redmine_project.identifier) as a:
        snap = a.fetch().snapshot
        notes = list(a.notes)
    items = snap.item_map()
    for iid, estimate in ((unordered, 5.0), (half, 5.0), (no_likely, None)):
        item = items[f"redmine:{iid}"]
        assert item.estimate_range is None
        assert item.estimate_hours == estimate  # the single estimate is kept

    def note_for(iid: int) -> str:
        found = [n for n in notes if f"issue #{iid}:" in n]
        assert len(found) == 1, notes
        return found[0]

    assert "8 / 5 / 10 h is not ordered" in note_for(unordered)
    assert "'Pessimistic (h)' is empty" in note_for(half)
    assert "no estimated time" in note_for(no_likely)
    assert not [n for n in notes if f"#{fine}" in n]
    assert items[f"redmine:{fine}"].estimate_range == EstimateRange(
        optimistic=4, likely=5, pessimistic=9
    )
    assert len(notes) == 3


# -------------------------------------------------------------------------- risk register


def test_risk_tracker_issues_become_risks(
    redmine: LocalRedmine, risk_register: RiskRegister, redmine_project: Any, admin: Redmine
) -> None:
    pid = redmine_project.id
    trackers = {
        t["name"]
        for t in requests.get(
            f"{redmine.url}/projects/{redmine_project.identifier}.json",
            params={"include": "trackers"},
            headers=_h(redmine.admin_key),
            timeout=TIMEOUT,
        ).json()["project"]["trackers"]
    }
    assert "Risk" in trackers
    rf = risk_register.fields

    t1, t2, t3, t4, t5 = (
        admin.issue.create(project_id=pid, subject=f"Task {n}", estimated_hours=8).id
        for n in range(1, 6)
    )

    def risk(subject: str, **values: str) -> int:
        fields = [
            {"id": rf[name], "value": value}
            for name, value in (
                ("Probability (%)", values.get("probability")),
                ("Impact (d)", values.get("days")),
                ("Impact cost", values.get("cost")),
            )
            if value is not None
        ]
        return int(
            admin.issue.create(
                project_id=pid,
                subject=subject,
                tracker_id=risk_register.tracker_id,
                custom_fields=fields,
            ).id
        )

    supplier = risk("Supplier late", probability="30", days="5", cost="1200.5")
    audit = risk("Audit finds gaps", probability="10")
    unknown = risk("Nobody rated this")
    nonsense = risk("Certain doom", probability="150", days="3")
    admin.issue.update(audit, status_id=5)  # Closed

    def relate(a: int, b: int, kind: str) -> None:
        admin.issue_relation.create(issue_id=a, issue_to_id=b, relation_type=kind)

    relate(supplier, t1, "relates")
    relate(supplier, t2, "blocks")
    relate(t3, supplier, "precedes")  # an item before the risk: still threatened
    relate(t4, audit, "follows")  # stored as audit precedes t4
    relate(supplier, audit, "relates")  # risk to risk: neither a dependency nor a threat
    relate(unknown, t5, "blocks")
    relate(t1, t4, "precedes")  # the one real dependency
    activity = admin.enumeration.filter(resource="time_entry_activities")[0].id
    admin.time_entry.create(
        issue_id=supplier, hours=2, activity_id=activity, spent_on=dt.date(2026, 11, 2)
    )

    with make_adapter(redmine, redmine_project.identifier) as a:
        snap = a.fetch().snapshot
        notes = list(a.notes)
        findings = a.check()
        changes = a.diff(
            snap,
            DesiredState(
                fields={
                    f"redmine:{supplier}": {"critical": True},
                    f"redmine:{t1}": schedule_values(0),
                }
            ),
        )

    items = snap.item_map()
    assert set(items) == {f"redmine:{i}" for i in (t1, t2, t3, t4, t5)}
    assert [(d.predecessor, d.successor, d.origin) for d in snap.dependencies] == [
        (f"redmine:{t1}", f"redmine:{t4}", "precedes")
    ]

    risks = {r.key: r for r in snap.risks}
    assert set(risks) == {f"redmine:{supplier}", f"redmine:{audit}"}
    first = risks[f"redmine:{supplier}"]
    assert first.title == "Supplier late"
    assert first.probability == pytest.approx(0.3)
    assert first.impact_days == 5 and first.impact_cost == 1200.5
    assert first.threatens == [f"redmine:{t}" for t in (t1, t2, t3)]
    assert first.status is Status.OPEN
    closed = risks[f"redmine:{audit}"]
    assert closed.status is Status.CLOSED
    assert closed.probability == pytest.approx(0.1)
    assert closed.impact_days == 0 and closed.impact_cost == 0
    assert closed.threatens == [f"redmine:{t4}"]

    assert any(f"risk #{unknown}" in n and "'Probability (%)'" in n for n in notes), notes
    assert any(f"risk #{nonsense}" in n and "between 0 and 100" in n for n in notes), notes
    assert any("logged on risks" in n for n in notes), notes
    # time on a risk counts for the project, not for an item
    assert [(e.item, e.hours) for e in snap.time_entries] == [(None, 2.0)]
    assert Snapshot.model_validate(snap.model_dump(mode="json")) == snap

    # risks are never written, and their tracker needs none of our fields
    assert {c.item for c in changes.fields} == {f"redmine:{t1}"}
    assert [f for f in findings if not f.ok] == []


# ----------------------------------------------------------------- optional overlay fields


def test_optional_field_disabled_in_the_project_is_skipped(
    redmine: LocalRedmine, redmine_project: Any, admin: Redmine
) -> None:
    cf = redmine.custom_field_ids
    pid = redmine_project.id
    ids = [admin.issue.create(project_id=pid, subject=f"Item {n}").id for n in range(2)]
    # "Risk score" stays for every other project, but is switched off in this one
    redmine.runner(f"""
        cf = IssueCustomField.find({cf["Risk score"]})
        cf.is_for_all = false
        cf.projects = Project.where.not(id: {pid}).to_a
        cf.save!
    """)
    try:
        desired = DesiredState(
            fields={
                f"redmine:{i}": {
                    **schedule_values(n),
                    "risk_score": 40 + n,
                    "p80_finish": dt.date(2027, 2, 1 + n),
                    "criticality": 72.4,
                    "planned_cost": 1234.5678,
                    "slip_days": -2,
                }
                for n, i in enumerate(ids)
            }
        )
        with make_adapter(redmine, redmine_project.identifier) as a:
            snap = a.fetch().snapshot
            assert "Risk score" not in snap.custom_fields
            assert "Planned cost" in snap.custom_fields
            changes = a.diff(snap, desired)
            notes = list(a.notes)
            report = a.apply(changes)
            findings = a.check()
            again = a.diff(a.fetch().snapshot, desired)
        values = issue_values(redmine, ids[1])
    finally:
        redmine.runner(f"""
            cf = IssueCustomField.find({cf["Risk score"]})
            cf.is_for_all = true
            cf.projects = []
            cf.save!
        """)
    # every field the desired state has values for (it has no levelled dates), but risk_score
    assert {c.field for c in changes.fields} == set(FieldNames().logical_names()) - {
        "risk_score",
        "levelled_start",
        "levelled_finish",
    }
    assert notes == []  # skipped silently
    assert report.issues_updated == 2 and report.fields_written == 2 * 9
    assert cf["Risk score"] not in values  # not enabled here: Redmine does not show it
    assert values[cf["P80 finish"]] == "2027-02-02"
    assert values[cf["Criticality (%)"]] == "72"
    assert values[cf["Planned cost"]] == "1234.57"
    assert values[cf["Slip (d)"]] == "-2"
    assert values[cf["Total float (d)"]] == "1"
    assert again.empty

    optional = [f for f in findings if f.id == "redmine.custom_field.optional_missing"]
    assert len(optional) == 1 and optional[0].ok
    assert "'Risk score'" in optional[0].message and "fields.risk_score" in optional[0].message
    assert [f for f in findings if not f.ok] == []


def test_check_lists_the_optional_missing_field(
    redmine: LocalRedmine, redmine_project: Any, admin: Redmine
) -> None:
    issue = admin.issue.create(project_id=redmine_project.id, subject="Only one").id
    names = FieldNames(slip_days="Slip vs baseline (d)", criticality="Criticality %")
    with make_adapter(redmine, redmine_project.identifier, field_names=names) as a:
        findings = a.check()
        changes = a.diff(
            a.fetch().snapshot,
            DesiredState(
                fields={
                    f"redmine:{issue}": {**schedule_values(0), "slip_days": 3, "criticality": 10}
                }
            ),
        )
    optional = {
        f.message.split("(fields.")[1].split(")")[0]: f
        for f in findings
        if f.id == "redmine.custom_field.optional_missing"
    }
    assert set(optional) == {"slip_days", "criticality"}
    slip = optional["slip_days"]
    assert slip.ok
    assert "'Slip vs baseline (d)'" in slip.message and redmine_project.identifier in slip.message
    assert "not written: create it to see" in slip.message
    assert slip.fix and "format int" in slip.fix
    assert [f for f in findings if not f.ok] == []
    assert (
        sum(f.id == "redmine.custom_field.ok" for f in findings)
        == len(FieldNames().logical_names()) - 2
    )
    assert {c.field for c in changes.fields} == set(FieldNames().required())
