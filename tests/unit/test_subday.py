"""Sub-day resolution: work is scheduled in working hours, dates are the days it touches.

Every figure is worked out by hand at 8 h a day from Monday 2025-01-06 (hour h of the
schedule lies in working day h // 8; an item's shown finish is the day of its last hour,
(F - 1) // 8). Whole-day networks are covered by the textbook cases of
test_cpm_worked_examples.py, which give the same dates as before.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from tracker_bridge.model import Plan, Snapshot
from tracker_bridge.planner import plan
from tracker_bridge.planner.network import ticks_per_day
from tracker_bridge.publish.fields import desired_fields
from tracker_bridge.settings import CalendarSettings, FieldNames, Settings

MON = dt.date(2025, 1, 6)
TUE, WED, THU = (MON + dt.timedelta(days=d) for d in (1, 2, 3))
FRI_BEFORE = dt.date(2025, 1, 3)
SETTINGS = Settings(calendar=CalendarSettings(hours_per_day=8))


def run(items: list[dict[str, Any]], deps: list[Any] = (), as_of: dt.date = MON) -> Plan:
    """Items and ``(pred, succ[, type[, lag]])`` relations, planned at ``as_of``."""
    data = {
        "project": {"name": "t", "start": MON.isoformat()},
        "items": items,
        "dependencies": [
            {
                "predecessor": d[0],
                "successor": d[1],
                "type": d[2] if len(d) > 2 else "FS",
                "lag_days": d[3] if len(d) > 3 else 0,
            }
            for d in deps
        ],
    }
    return plan(Snapshot.model_validate(data), SETTINGS, as_of, overlays=False)


def dates(result: Plan, key: str) -> tuple[dt.date, dt.date]:
    item = result.items[key]
    return item.early_start, item.early_finish


def test_two_four_hour_issues_in_a_row_take_one_day() -> None:
    """A = hours [0, 4), B = [4, 8): both in day 0."""
    result = run(
        [{"key": "A", "estimate_hours": 4}, {"key": "B", "estimate_hours": 4}], [("A", "B")]
    )
    assert dates(result, "A") == dates(result, "B") == (MON, MON)
    assert result.project.finish == MON
    assert result.items["B"].duration_days == 0.5
    assert result.project.critical_paths == [["A", "B"]]


def test_twenty_hours_span_three_days_and_four_more_end_on_the_third() -> None:
    """A = [0, 20): days 0..2; B = [20, 24): day 2 (its last hour, 23, is in day 2)."""
    result = run(
        [{"key": "A", "estimate_hours": 20}, {"key": "B", "estimate_hours": 4}], [("A", "B")]
    )
    assert dates(result, "A") == (MON, WED)
    assert dates(result, "B") == (WED, WED)
    assert result.project.finish == WED
    assert result.items["A"].duration_days == 2.5


def test_float_is_fractional_in_working_days() -> None:
    """A 20 h and B 8 h both precede C 4 h: C starts at hour 20, so B (ends at 8) has 12 h
    = 1.5 days of total and free float; A and C are critical."""
    result = run(
        [
            {"key": "A", "estimate_hours": 20},
            {"key": "B", "estimate_hours": 8},
            {"key": "C", "estimate_hours": 4},
        ],
        [("A", "C"), ("B", "C")],
    )
    b = result.items["B"]
    assert (b.total_float, b.free_float, b.critical) == (1.5, 1.5, False)
    assert (b.late_start, b.late_finish) == (TUE, WED)  # LS = hour 12, LF = 20 (last hour 19)
    assert result.items["A"].critical and result.items["C"].critical
    assert result.items["A"].total_float == 0 and result.project.min_total_float == 0


def test_a_milestone_after_a_mid_day_finish_and_its_follower() -> None:
    """A [0, 4) -> M (0 h, at hour 4: shown on A's last day) -> B [4, 12): days 0..1."""
    result = run(
        [
            {"key": "A", "estimate_hours": 4},
            {"key": "M", "estimate_hours": 0},
            {"key": "B", "estimate_hours": 8},
        ],
        [("A", "M"), ("M", "B")],
    )
    assert dates(result, "M") == (MON, MON)
    assert dates(result, "B") == (MON, TUE)


def test_lags_stay_whole_working_days_and_every_relation_type() -> None:
    """A is 12 h: [0, 12). FS lag 1: B [20, 28) -> days 2..3. SS: C [0, 4) -> day 0.
    FF: F_D >= 12, D [8, 12) -> day 1. SF lag 1: F_E >= S_A + 8 = 8, E [4, 8) -> day 0."""
    result = run(
        [
            {"key": "A", "estimate_hours": 12},
            {"key": "B", "estimate_hours": 8},
            {"key": "C", "estimate_hours": 4},
            {"key": "D", "estimate_hours": 4},
            {"key": "E", "estimate_hours": 4},
        ],
        [("A", "B", "FS", 1), ("A", "C", "SS"), ("A", "D", "FF"), ("A", "E", "SF", 1)],
    )
    assert dates(result, "B") == (WED, THU)
    assert dates(result, "C") == (MON, MON)
    assert dates(result, "D") == (TUE, TUE)
    assert dates(result, "E") == (MON, MON)


def test_negative_float_against_a_deadline_is_fractional() -> None:
    """A 20 h due Tuesday (hour 16): LF = 16, LS = -4, float -4 h = -0.5 days; the
    tracker's whole-day field rounds it down to -1."""
    result = run([{"key": "A", "estimate_hours": 20, "deadline": TUE.isoformat()}])
    a = result.items["A"]
    assert a.total_float == -0.5 and result.project.min_total_float == -0.5
    assert result.project.negative_float
    assert (a.late_start, a.late_finish) == (FRI_BEFORE, TUE)  # hour -4 is in day -1
    fields = desired_fields(result, FieldNames())
    assert fields["A"]["total_float"] == -1


def test_in_progress_work_schedules_its_remaining_hours() -> None:
    """24 h at 50 % done: 12 h left from the status date Tuesday (hour 8): [8, 20)."""
    result = run([{"key": "A", "estimate_hours": 24, "done_ratio": 50}], as_of=TUE)
    a = result.items["A"]
    assert (a.duration_days, a.remaining_days) == (3, 1.5)
    assert dates(result, "A") == (TUE, WED)


def test_whole_day_figures_keep_their_integer_shape_in_json() -> None:
    result = run([{"key": "A", "estimate_hours": 16}, {"key": "B", "estimate_hours": 12}])
    data = json.loads(result.model_dump_json())
    assert data["items"]["A"]["duration_days"] == 2
    assert isinstance(data["items"]["A"]["total_float"], int)
    assert data["items"]["B"]["total_float"] == 0.5
    assert data["items"]["B"]["duration_days"] == 1.5


def test_ticks_are_the_coarsest_whole_fraction_of_an_hour_in_the_day() -> None:
    assert [ticks_per_day(h) for h in (8, 24, 7.5, 7.25, 7.4, 0.5)] == [8, 24, 15, 29, 37, 1]


def test_a_day_of_seven_and_a_half_hours_is_counted_in_half_hours() -> None:
    """3.5 h + 4 h = 7.5 h: one day; 3.6 h rounds up to 4 h, so 4 h + 4 h spill over."""
    cfg = Settings(calendar=CalendarSettings(hours_per_day=7.5))
    for first, finish in ((3.5, MON), (3.6, TUE)):
        data = {
            "project": {"name": "t", "start": MON.isoformat()},
            "items": [{"key": "A", "estimate_hours": first}, {"key": "B", "estimate_hours": 4}],
            "dependencies": [{"predecessor": "A", "successor": "B"}],
        }
        result = plan(Snapshot.model_validate(data), cfg, MON, overlays=False)
        assert result.items["B"].early_finish == finish, first
