"""Write-back cadence: which changed values a pass writes today (tracker_bridge.cadence).

Working days are counted by hand on the December 2026 calendar: 2026-12-04 is a Friday,
2026-12-07 a Monday, 2026-12-08 a Tuesday.
"""

from __future__ import annotations

import datetime as dt

from tracker_bridge.cadence import hold_drift
from tracker_bridge.model import ChangeSet, FieldChange
from tracker_bridge.settings import CalendarSettings, WriteBackSettings

TUESDAY = dt.date(2026, 12, 8)
MONDAY = dt.date(2026, 12, 7)


def change(item: str, field: str, old: str | None, new: str) -> FieldChange:
    return FieldChange(item=item, field=field, old=old, new=new)


def split(
    changes: list[FieldChange],
    as_of: dt.date = TUESDAY,
    write_back: WriteBackSettings | None = None,
    calendar: CalendarSettings | None = None,
) -> tuple[list[FieldChange], list[FieldChange]]:
    kept, held = hold_drift(
        ChangeSet(fields=changes),
        as_of,
        write_back or WriteBackSettings(),
        calendar or CalendarSettings(),
    )
    return kept.fields, held


def test_one_working_day_of_drift_is_held_back() -> None:
    drift = [
        change("r:1", "early_start", "2026-12-07", "2026-12-08"),
        change("r:1", "early_finish", "2026-12-09", "2026-12-10"),
        change("r:1", "late_finish", "2026-12-09", "2026-12-10"),
    ]
    assert split(drift) == ([], drift)


def test_a_weekend_is_not_drift() -> None:
    # Friday -> Monday is one working day, not three calendar days
    drift = [change("r:1", "early_start", "2026-12-04", "2026-12-07")]
    tolerance_2 = WriteBackSettings(tolerance_days=2)
    assert split(drift, write_back=tolerance_2) == ([], drift)


def test_holidays_are_not_working_days() -> None:
    # 12-07 -> 12-10 is 3 working days; with 12-08 and 12-09 holidays it is 1
    moved = [change("r:1", "early_start", "2026-12-07", "2026-12-10")]
    tolerance_2 = WriteBackSettings(tolerance_days=2)
    assert split(moved, write_back=tolerance_2) == (moved, [])
    holidays = CalendarSettings(holidays=[dt.date(2026, 12, 8), dt.date(2026, 12, 9)])
    assert split(moved, write_back=tolerance_2, calendar=holidays) == ([], moved)


def test_drift_of_the_tolerance_is_written_with_the_issues_other_changes() -> None:
    # 12-01 (Tue) -> 12-08 (Tue): five working days = the default tolerance
    big = change("r:1", "early_finish", "2026-12-01", "2026-12-08")
    small = change("r:1", "early_start", "2026-12-07", "2026-12-08")
    other = change("r:2", "early_start", "2026-12-07", "2026-12-08")
    assert split([big, small, other]) == ([big, small], [other])


def test_four_days_of_drift_stay_held() -> None:
    four = change("r:1", "early_finish", "2026-12-02", "2026-12-08")
    assert split([four]) == ([], [four])


def test_day_counts_and_percent_points_have_their_own_tolerance() -> None:
    float_4 = change("r:1", "total_float", "7", "3")
    float_5 = change("r:2", "total_float", "-2", "3")
    risk_9 = change("r:3", "risk_score", "40", "49")
    risk_10 = change("r:4", "criticality", "40", "50")
    assert split([float_4, float_5, risk_9, risk_10]) == ([float_5, risk_10], [float_4, risk_9])


def test_significant_changes_are_always_written() -> None:
    flip = change("r:1", "critical", "0", "1")
    drift = change("r:1", "early_start", "2026-12-07", "2026-12-08")
    first = change("r:2", "early_start", None, "2026-12-08")
    cleared = change("r:3", "p80_finish", "2026-12-10", "")
    cost = change("r:4", "planned_cost", "800", "800.5")
    garbage = change("r:5", "late_finish", "soon", "2026-12-08")
    everything = [flip, drift, first, cleared, cost, garbage]
    assert split(everything) == (everything, [])


def test_the_refresh_day_writes_everything() -> None:
    drift = [change("r:1", "early_start", "2026-12-04", "2026-12-07")]
    assert split(drift, as_of=MONDAY) == (drift, [])
    never = WriteBackSettings(refresh_weekday="never")
    assert split(drift, as_of=MONDAY, write_back=never) == ([], drift)


def test_tolerance_zero_writes_every_change() -> None:
    drift = [
        change("r:1", "early_start", "2026-12-07", "2026-12-08"),
        change("r:1", "risk_score", "40", "41"),
    ]
    exact = WriteBackSettings(tolerance_days=0, tolerance_percent=0, refresh_weekday="never")
    assert split(drift, write_back=exact) == (drift, [])
