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
URGENT_2 = WriteBackSettings(urgent_days=2)


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


def test_between_refresh_days_changes_wait() -> None:
    drift = [
        change("r:1", "early_start", "2026-12-07", "2026-12-08"),
        change("r:1", "total_float", "3", "-9"),
        change("r:1", "critical", "0", "1"),
        change("r:1", "risk_score", "10", "90"),
        change("r:2", "planned_cost", "800", "950.5"),
    ]
    assert split(drift) == ([], drift)


def test_the_refresh_day_writes_everything() -> None:
    drift = [change("r:1", "early_start", "2026-12-04", "2026-12-07")]
    assert split(drift, as_of=MONDAY) == (drift, [])
    on_friday = WriteBackSettings(refresh_weekday="fri")
    assert split(drift, as_of=MONDAY, write_back=on_friday) == ([], drift)
    assert split(drift, as_of=dt.date(2026, 12, 11), write_back=on_friday) == (drift, [])


def test_daily_cadence_writes_every_change() -> None:
    drift = [change("r:1", "early_start", "2026-12-07", "2026-12-08")]
    assert split(drift, write_back=WriteBackSettings(cadence="daily")) == (drift, [])


def test_new_and_cleared_values_are_written_at_once_with_the_issues_other_changes() -> None:
    first = change("r:1", "early_start", None, "2026-12-08")
    drift = change("r:1", "late_finish", "2026-12-09", "2026-12-10")
    cleared = change("r:2", "p80_finish", "2026-12-10", "")
    waits = change("r:3", "early_start", "2026-12-07", "2026-12-08")
    assert split([first, drift, cleared, waits]) == ([first, drift, cleared], [waits])


def test_urgent_days_count_working_days() -> None:
    # Friday -> Monday is one working day, not three calendar days
    weekend = change("r:1", "early_start", "2026-12-04", "2026-12-07")
    # 12-07 -> 12-09 is two working days
    two = change("r:2", "early_finish", "2026-12-07", "2026-12-09")
    assert split([weekend, two], write_back=URGENT_2) == ([two], [weekend])


def test_holidays_are_not_working_days() -> None:
    two = [change("r:1", "early_start", "2026-12-07", "2026-12-09")]
    holiday = CalendarSettings(holidays=[dt.date(2026, 12, 8)])
    assert split(two, write_back=URGENT_2, calendar=holiday) == ([], two)


def test_urgent_day_counts_and_critical_flips() -> None:
    float_1 = change("r:1", "total_float", "3", "2")
    float_2 = change("r:2", "total_float", "1", "-1")
    flip = change("r:3", "critical", "0", "1")
    risk = change("r:4", "risk_score", "10", "90")  # no urgency for scores
    garbage = change("r:5", "late_finish", "soon", "2026-12-08")
    assert split([float_1, float_2, flip, risk, garbage], write_back=URGENT_2) == (
        [float_2, flip, garbage],
        [float_1, risk],
    )
