"""What binds the schedule and what is only compared (README: "How dates are computed").

An item's ``start`` and ``due`` are the tracker's current dates: compared with the forecast,
never binding. ``start_no_earlier_than``, ``deadline`` and milestone due dates bind. The
networks are the published examples of ``test_cpm_worked_examples``; the expected figures
follow from their tables by hand (noted per test).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from test_cpm_worked_examples import (
    DAY0,
    JACOBS,
    JACOBS_DEPS,
    _assert_late_by_two,
    assert_table,
    run,
    seven_day,
    snapshot,
)

from tracker_bridge.adapters.dates import item_dates
from tracker_bridge.adapters.redmine.style import RedminePageStyle
from tracker_bridge.errors import ConfigError
from tracker_bridge.planner.dates import dates_finding
from tracker_bridge.publish.document import Heading, IssueRef, Table
from tracker_bridge.publish.report import build_report
from tracker_bridge.settings import ProjectSettings, settings_from_dict

DAY = seven_day()


def test_a_due_date_is_compared_not_binding() -> None:
    """Jacobs & Chase with I due on day 19: the schedule is the book's (I still finishes on
    day 21, inclusive), and I is forecast 2 working days after its due date."""
    result = run(JACOBS, JACOBS_DEPS, items={"I": {"due": DAY(19)}})
    assert_table(result, JACOBS)
    i = result.items["I"]
    assert (i.due, i.deadline, i.finish_vs_due, i.total_float) == (DAY(19), None, 2, 0)
    assert not result.project.negative_float
    (late,) = [w for w in result.warnings if w.code == "due.forecast_late"]
    assert late.keys == ["I"]
    assert "worst +2 working days" in late.message


def test_an_early_finish_compares_negative_and_is_not_warned() -> None:
    """A (one day, EF 1: shown finishing on day 0) due on day 3: 3 working days early."""
    result = run(JACOBS, JACOBS_DEPS, items={"A": {"due": DAY(3)}})
    assert result.items["A"].finish_vs_due == -3
    assert not [w for w in result.warnings if w.code == "due.forecast_late"]


def test_closed_items_keep_their_dates_and_are_not_compared() -> None:
    result = run(
        JACOBS,
        JACOBS_DEPS,
        as_of=DAY(3),
        items={"A": {"status": "closed", "start": DAY0, "closed_on": DAY0, "due": DAY0}},
    )
    a = result.items["A"]
    assert (a.state, a.early_start, a.early_finish, a.due, a.finish_vs_due) == (
        "done",
        DAY0,
        DAY0,
        DAY0,
        None,
    )


def test_a_start_date_is_compared_but_start_no_earlier_than_binds() -> None:
    """C (3 days, float 5) may not start before day 6: by hand ES_C = 6, EF_C = 9, and F
    (after C and D) starts on day 9 instead of 8; both lose all float (LS_C = 6, LS_F = 9)."""
    assert_table(run(JACOBS, JACOBS_DEPS, items={"C": {"start": DAY(6)}}), JACOBS)
    result = run(JACOBS, JACOBS_DEPS, items={"C": {"start_no_earlier_than": DAY(6)}})
    c, f = result.items["C"], result.items["F"]
    assert (c.early_start, c.early_finish, c.total_float) == (DAY(6), DAY(8), 0)
    assert (f.early_start, f.total_float, f.critical) == (DAY(9), 0, True)
    assert result.project.finish == DAY(21)


def test_a_summary_passes_its_deadline_down_but_not_its_due_date() -> None:
    """A parent over I with a deadline on day 19 gives the book's negative float of -2;
    with only a due date on that day nothing changes."""
    parent_deadline = run(
        JACOBS,
        JACOBS_DEPS,
        extra_items=[{"key": "P", "deadline": DAY(19)}],
        items={"I": {"parent": "P"}},
    )
    _assert_late_by_two(parent_deadline)
    parent_due = run(
        JACOBS,
        JACOBS_DEPS,
        extra_items=[{"key": "P", "due": DAY(19)}],
        items={"I": {"parent": "P"}},
    )
    assert_table(parent_due, JACOBS)


def test_the_report_lists_items_forecast_after_their_due_date() -> None:
    dues = {"I": {"due": DAY(19)}, "A": {"due": DAY(3)}}
    result = run(JACOBS, JACOBS_DEPS, items=dues)
    snap = snapshot(JACOBS, JACOBS_DEPS, items=dues)
    doc = build_report(result, snap, style=RedminePageStyle())
    blocks = doc.blocks
    at = next(
        i
        for i, b in enumerate(blocks)
        if isinstance(b, Heading) and b.text == "Forecast later than due date"
    )
    table = next(b for b in blocks[at:] if isinstance(b, Table))
    assert table.header[2:5] == ["Due date", "Forecast finish", "vs due (d)"]
    assert [(r[0].label if isinstance(r[0], IssueRef) else r[0], *r[2:6]) for r in table.rows] == [
        ("I", str(DAY(19)), str(DAY(21)), "+2", "0")
    ]


# ------------------------------------------------------------------ adapters' shared rule


def dates(
    notes: list[str] | None = None,
    *,
    start: dt.date | None,
    due: dt.date | None,
    fields: dict[str, Any],
    **project_keys: Any,
) -> dict[str, Any]:
    project = ProjectSettings(tracker="t", project="p", **project_keys)
    sink = notes if notes is not None else []
    return dict(
        item_dates(project, start=start, due=due, fields=fields, where="issue #7", note=sink.append)
    )


def test_issue_dates_are_compared_by_default() -> None:
    got = dates(start=DAY(1), due=DAY(5), fields={})
    assert got == {"start": DAY(1), "due": DAY(5), "start_no_earlier_than": None, "deadline": None}


def test_the_settings_make_issue_dates_bind() -> None:
    got = dates(start=DAY(1), due=DAY(5), fields={}, due_dates="deadline", start_dates="constraint")
    assert (got["start_no_earlier_than"], got["deadline"]) == (DAY(1), DAY(5))


def test_date_fields_bind_and_the_tighter_date_wins() -> None:
    fields = {"Deadline": DAY(4).isoformat(), "Start no earlier than": DAY(2).isoformat()}
    assert dates(start=DAY(1), due=DAY(5), fields=fields)["deadline"] == DAY(4)
    got = dates(
        start=DAY(3), due=DAY(3), fields=fields, due_dates="deadline", start_dates="constraint"
    )
    assert (got["start_no_earlier_than"], got["deadline"]) == (DAY(3), DAY(3))
    renamed = {"Due by": DAY(4).isoformat()}
    assert dates(start=None, due=None, fields=renamed, deadline_field="Due by")["deadline"] == (
        DAY(4)
    )
    assert dates(start=None, due=None, fields=fields, deadline_field="")["deadline"] is None


@pytest.mark.parametrize("value", ["next week", "2025-13-01", "2025-01-06T10:00"])
def test_a_field_value_that_is_no_date_is_noted_and_ignored(value: str) -> None:
    notes: list[str] = []
    assert dates(notes, start=None, due=None, fields={"Deadline": value})["deadline"] is None
    assert notes == [f"issue #7: field 'Deadline' = {value!r} is not a date (YYYY-MM-DD); ignored"]


def test_unset_field_values_are_no_dates_and_no_notes() -> None:
    notes: list[str] = []
    for value in (None, "", "  "):
        assert dates(notes, start=None, due=None, fields={"Deadline": value})["deadline"] is None
    assert notes == []


def test_an_unknown_date_meaning_is_a_config_error() -> None:
    data = {
        "trackers": {"main": {"kind": "redmine", "url": "https://r.example"}},
        "projects": {"web": {"tracker": "main", "project": "web", "due_dates": "binding"}},
    }
    with pytest.raises(ConfigError) as err:
        settings_from_dict(data, "config.toml")
    assert "config.toml: projects.web.due_dates <- Input should be 'compare' or 'deadline'" in (
        str(err.value)
    )


def test_snapshot_dates_round_trip_as_dates() -> None:
    snap = snapshot(JACOBS, JACOBS_DEPS, items={"C": {"deadline": DAY(9), "due": DAY(8)}})
    c = snap.item_map()["C"]
    assert (c.deadline, c.due, c.start_no_earlier_than) == (DAY(9), DAY(8), None)
    assert isinstance(c.deadline, dt.date)


def test_doctor_names_what_binds() -> None:
    default = dates_finding(ProjectSettings(tracker="t", project="p"))
    assert default.ok and default.fix is None
    assert default.message == (
        "deadlines: milestone due dates, field 'Deadline'; start no earlier than: field "
        "'Start no earlier than'; issue due and start dates are compared, not binding"
    )
    binding = dates_finding(
        ProjectSettings(tracker="t", project="p", due_dates="deadline", deadline_field="")
    )
    assert binding.ok and binding.fix is not None and "creation day" in binding.fix
    assert binding.message.startswith(
        'deadlines: milestone due dates, issue due dates (due_dates = "deadline");'
    )
    assert binding.message.endswith("issue start dates are compared, not binding")
