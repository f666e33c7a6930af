"""Redmine's own dates against a textbook network, on a real Redmine 5.0.4.

A team seeds a network the ordinary way: issues created through the REST API with
Redmine's defaults (no dates given: Redmine sets the start date to the creation day), then
``precedes`` relations added (Redmine reschedules every follower: its start moves to the
day after its predecessor's due or start date, and it gets a due date equal to that
start). Those dates are Redmine's bookkeeping, not commitments: the plan must still equal
the textbook's critical-path figures. Deadlines given on purpose (a version due date, a
``Deadline`` date field, ``due_dates = "deadline"``) must still bind.

The network is the Milwaukee Paper Manufacturing example of Heizer, Render & Munson,
*Operations Management* (ch. 3 "Project Management", Tables 3.2-3.3): activities A-H in
weeks, critical path A-C-E-G-H, 15 weeks; ES/EF/LS/LF and slack printed. One week is one
working day here. The table is also recomputed below by a plain forward/backward pass.
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
from click.testing import CliRunner
from pydantic import SecretStr
from redmine_helpers import write_config

from tracker_bridge.adapters.redmine import RedmineAdapter
from tracker_bridge.cli import main
from tracker_bridge.demo.instance import LocalRedmine
from tracker_bridge.model import Plan, Snapshot
from tracker_bridge.planner import plan as make_plan
from tracker_bridge.settings import FieldNames, ProjectSettings, Settings, TrackerSettings

TIMEOUT = 30

# activity: (duration, predecessors) - Heizer & Render, Table 3.2
NETWORK: dict[str, tuple[int, list[str]]] = {
    "A": (2, []),
    "B": (3, []),
    "C": (2, ["A"]),
    "D": (4, ["A", "B"]),
    "E": (4, ["C"]),
    "F": (3, ["C"]),
    "G": (5, ["D", "E"]),
    "H": (2, ["F", "G"]),
}
# activity: (ES, EF, LS, LF, slack) as printed - Heizer & Render, Table 3.3
TEXTBOOK: dict[str, tuple[int, int, int, int, int]] = {
    "A": (0, 2, 0, 2, 0),
    "B": (0, 3, 1, 4, 1),
    "C": (2, 4, 2, 4, 0),
    "D": (3, 7, 4, 8, 1),
    "E": (4, 8, 4, 8, 0),
    "F": (4, 7, 10, 13, 6),
    "G": (8, 13, 8, 13, 0),
    "H": (13, 15, 13, 15, 0),
}


def textbook_pass(deadlines: dict[str, int] | None = None) -> dict[str, tuple[int, ...]]:
    """Forward and backward pass over NETWORK (exclusive finishes, day numbers from 0);
    ``deadlines`` bound an activity's late finish (exclusive), giving negative slack."""
    bounds = deadlines or {}
    es: dict[str, int] = {}
    ef: dict[str, int] = {}
    for key, (d, preds) in NETWORK.items():  # listed in precedence order
        es[key] = max((ef[p] for p in preds), default=0)
        ef[key] = es[key] + d
    finish = max(ef.values())
    lf: dict[str, int] = {}
    ls: dict[str, int] = {}
    for key in reversed(NETWORK):
        succs = [s for s, (_d, preds) in NETWORK.items() if key in preds]
        lf[key] = min([finish, *(ls[s] for s in succs), *([bounds[key]] if key in bounds else [])])
        ls[key] = lf[key] - NETWORK[key][0]
    return {k: (es[k], ef[k], ls[k], lf[k], ls[k] - es[k]) for k in NETWORK}


def test_the_recomputation_reproduces_the_printed_table() -> None:
    assert textbook_pass() == TEXTBOOK


# ------------------------------------------------------------------------------ helpers


def _h(key: str) -> dict[str, str]:
    return {"X-Redmine-API-Key": key}


def call(redmine: LocalRedmine, method: str, path: str, payload: Any = None) -> Any:
    resp = requests.request(
        method, f"{redmine.url}{path}", json=payload, headers=_h(redmine.admin_key), timeout=TIMEOUT
    )
    assert resp.status_code < 300, f"{method} {path} -> {resp.status_code}: {resp.text}"
    return resp.json() if resp.content else None


def working_day(today: dt.date) -> Any:
    """Day number -> date: day 0 is the first working day (Mon-Fri) on or after today."""
    day0 = np.busday_offset(np.datetime64(today, "D"), 0, roll="forward")
    return lambda n: np.busday_offset(day0, n).astype(dt.date)


def expected(figures: dict[str, tuple[int, ...]], day: Any) -> dict[str, tuple[Any, ...]]:
    """The plan's view of day-number figures: inclusive finish dates, critical = no float."""
    return {
        k: (day(es), day(ef - 1), day(ls), day(lf - 1), tf, tf <= 0)
        for k, (es, ef, ls, lf, tf) in figures.items()
    }


def planned(result: Plan, ids: dict[str, int]) -> dict[str, tuple[Any, ...]]:
    got = {}
    for key, iid in ids.items():
        s = result.items[f"redmine:{iid}"]
        got[key] = (
            s.early_start,
            s.early_finish,
            s.late_start,
            s.late_finish,
            s.total_float,
            s.critical,
        )
    return got


@pytest.fixture
def seeded(redmine: LocalRedmine, redmine_project: Any) -> Iterator[dict[str, int]]:
    """The network seeded the way a user does it: issues with an estimate and nothing else,
    then ``precedes`` relations. Returns activity -> issue id."""
    tracker = call(redmine, "GET", "/trackers.json")["trackers"][0]["id"]
    ids: dict[str, int] = {}
    for key, (d, _preds) in NETWORK.items():
        issue = call(
            redmine,
            "POST",
            "/issues.json",
            {
                "issue": {
                    "project_id": redmine_project.id,
                    "tracker_id": tracker,
                    "subject": f"Activity {key}",
                    "estimated_hours": d * 8,
                }
            },
        )["issue"]
        ids[key] = int(issue["id"])
    for key, (_d, preds) in NETWORK.items():
        for pred in preds:
            call(
                redmine,
                "POST",
                f"/issues/{ids[pred]}/relations.json",
                {"relation": {"issue_to_id": ids[key], "relation_type": "precedes"}},
            )
    yield ids


def fetch(redmine: LocalRedmine, identifier: str, **project: Any) -> Snapshot:
    with RedmineAdapter(
        TrackerSettings(kind="redmine", url=redmine.url, api_key_env="TB_TEST_REDMINE_KEY"),
        ProjectSettings(tracker="redmine", project=identifier, **project),
        FieldNames(),
        SecretStr(redmine.bot_key),
    ) as adapter:
        return adapter.fetch().snapshot


def redmine_dates(redmine: LocalRedmine, ids: dict[str, int]) -> dict[str, tuple[Any, Any]]:
    """(start_date, due_date) Redmine holds for each activity."""
    out = {}
    for key, iid in ids.items():
        issue = call(redmine, "GET", f"/issues/{iid}.json")["issue"]
        out[key] = (issue.get("start_date"), issue.get("due_date"))
    return out


# -------------------------------------------------------------------------------- tests


def test_redmine_default_dates_do_not_bend_the_textbook_schedule(
    redmine: LocalRedmine, redmine_project: Any, seeded: dict[str, int]
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    day = working_day(today)
    # Redmine did give dates of its own: every issue starts, every follower is due, somewhere
    dates = redmine_dates(redmine, seeded)
    assert all(start is not None for start, _due in dates.values())
    followers = [k for k, (_d, preds) in NETWORK.items() if preds]
    assert all(dates[k][1] is not None for k in followers), dates
    # ... and read as deadlines they would have bent the schedule (the trap)
    as_deadlines = {k: _index(day, due) + 1 for k, (_s, due) in dates.items() if due}
    assert textbook_pass(as_deadlines) != TEXTBOOK

    result = make_plan(fetch(redmine, redmine_project.identifier), Settings(), today)
    assert planned(result, seeded) == expected(TEXTBOOK, day)
    # the earlier reading (issue dates as constraints) gets no item right: all reach H,
    # whose Redmine due date lies days before its textbook finish
    as_constraints = fetch(
        redmine, redmine_project.identifier, due_dates="deadline", start_dates="constraint"
    )
    old = planned(make_plan(as_constraints, Settings(), today), seeded)
    assert [k for k, v in expected(TEXTBOOK, day).items() if old[k] == v] == []
    assert result.project.critical_paths == [[f"redmine:{seeded[k]}" for k in "ACEGH"]]
    assert not result.project.negative_float
    # the due dates are compared instead: forecast finish vs due date in working days
    for key, (_start, due) in dates.items():
        item = result.items[f"redmine:{seeded[key]}"]
        want = None if due is None else TEXTBOOK[key][1] - 1 - _index(day, due)
        assert (item.due, item.finish_vs_due) == (_date(due), want), key
    late = next(w for w in result.warnings if w.code == "due.forecast_late")
    assert sorted(late.keys) == sorted(
        f"redmine:{seeded[k]}"
        for k, (_s, due) in dates.items()
        if due is not None and TEXTBOOK[k][1] - 1 > _index(day, due)
    )


def test_deadlines_given_on_purpose_still_bind(
    redmine: LocalRedmine, redmine_project: Any, seeded: dict[str, int]
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    day = working_day(today)
    ident = redmine_project.identifier

    # 1. a version due two working days before H's forecast finish: all but F lose 2 days
    version = call(
        redmine,
        "POST",
        f"/projects/{ident}/versions.json",
        {"version": {"name": "Handover", "due_date": day(12).isoformat()}},
    )["version"]
    call(
        redmine,
        "PUT",
        f"/issues/{seeded['H']}.json",
        {"issue": {"fixed_version_id": version["id"]}},
    )
    want = textbook_pass({"H": 13})
    assert [want[k][4] for k in NETWORK] == [-2, -1, -2, -1, -2, 4, -2, -2]
    result = make_plan(fetch(redmine, ident), Settings(), today)
    assert planned(result, seeded) == expected(want, day)
    assert result.project.min_total_float == -2

    # 2. plus a 'Deadline' date field (enabled for this project only) on G, at day 9
    field_id = int(
        redmine.runner(
            f"p = Project.find_by!(identifier: '{ident}'); "
            "cf = IssueCustomField.find_or_initialize_by(name: 'Deadline'); "
            "cf.field_format = 'date'; cf.is_for_all = false; cf.visible = true; "
            "cf.trackers = Tracker.all; cf.projects << p unless cf.projects.include?(p); cf.save!; "
            "puts cf.id"
        )
        .strip()
        .splitlines()[-1]
    )
    call(
        redmine,
        "PUT",
        f"/issues/{seeded['G']}.json",
        {"issue": {"custom_fields": [{"id": field_id, "value": day(9).isoformat()}]}},
    )
    want = textbook_pass({"H": 13, "G": 10})
    assert min(want[k][4] for k in NETWORK) == -3
    result = make_plan(fetch(redmine, ident), Settings(), today)
    assert planned(result, seeded) == expected(want, day)
    assert result.items[f"redmine:{seeded['G']}"].deadline == day(9)

    # 3. a project that says its issue due dates are deadlines: Redmine's own ones bind too
    dates = redmine_dates(redmine, seeded)
    bounds = {"H": 13, "G": 10}
    for key, (_start, due) in dates.items():
        if due is not None:
            bounds[key] = min(bounds.get(key, 10**6), _index(day, due) + 1)
    want = textbook_pass(bounds)
    result = make_plan(fetch(redmine, ident, due_dates="deadline"), Settings(), today)
    assert planned(result, seeded) == expected(want, day)
    assert result.project.min_total_float < -3  # Redmine's bookkeeping read as commitments


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _index(day: Any, text: str) -> int:
    """Day number of an ISO date that is a working day on or after day 0."""
    target = dt.date.fromisoformat(text)
    n = 0
    while day(n) < target:
        n += 1
    assert day(n) == target, f"{text} is not a working day"
    return n


def test_run_summary_and_doctor_say_what_binds(
    redmine: LocalRedmine, redmine_project: Any, seeded: dict[str, int], tmp_path: Path
) -> None:
    config = write_config(redmine, tmp_path, {"net": redmine_project.identifier})
    today = dt.datetime.now(dt.UTC).date()
    late = sum(
        1
        for k, (_s, due) in redmine_dates(redmine, seeded).items()
        if due is not None and TEXTBOOK[k][1] - 1 > _index(working_day(today), due)
    )
    assert late  # Redmine's rescheduled due dates lie before the textbook finishes
    runner = CliRunner()
    result = runner.invoke(
        main, ["run", "--config", str(config), "--all", "--dry-run", "--as-of", str(today)]
    )
    assert result.exit_code == 0, result.output + result.stderr
    assert f"{late} open item(s) are forecast to finish after their due date" in result.stdout
    assert "cannot meet their deadline" not in result.stdout

    doctor = runner.invoke(main, ["doctor", "--config", str(config), "--json"])
    finding = next(f for f in json.loads(doctor.stdout)["net"] if f["id"] == "dates.binding")
    assert (
        finding["ok"]
        and "issue due and start dates are compared, not binding" in (finding["message"])
    )
