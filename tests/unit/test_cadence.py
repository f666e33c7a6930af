"""Write-back cadence: the status date the issue fields are computed for.

December 2026 by hand: the 7th and the 14th are Mondays, the 4th a Friday, the 11th a Friday.
The effect on a real Redmine (journals and mails over ten working days) is measured in
tests/integration/test_quiet_writeback.py.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tracker_bridge.cadence import fields_as_of
from tracker_bridge.settings import WriteBackSettings


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (dt.date(2026, 12, 7), dt.date(2026, 12, 7)),  # Monday: itself
        (dt.date(2026, 12, 8), dt.date(2026, 12, 7)),  # Tuesday: the day before
        (dt.date(2026, 12, 13), dt.date(2026, 12, 7)),  # Sunday: still that week's Monday
        (dt.date(2026, 12, 14), dt.date(2026, 12, 14)),
        (dt.date(2026, 12, 4), dt.date(2026, 11, 30)),  # across a month
    ],
)
def test_weekly_fields_are_the_plan_as_of_the_last_monday(
    as_of: dt.date, expected: dt.date
) -> None:
    assert fields_as_of(as_of, WriteBackSettings()) == expected


def test_another_refresh_weekday() -> None:
    friday = WriteBackSettings(refresh_weekday="fri")
    assert fields_as_of(dt.date(2026, 12, 11), friday) == dt.date(2026, 12, 11)
    assert fields_as_of(dt.date(2026, 12, 10), friday) == dt.date(2026, 12, 4)


def test_daily_fields_are_the_status_date() -> None:
    daily = WriteBackSettings(cadence="daily")
    assert fields_as_of(dt.date(2026, 12, 10), daily) == dt.date(2026, 12, 10)
