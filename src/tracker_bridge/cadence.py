"""Write-back cadence: which of the changed values a pass writes onto the issues today.

The plan is recomputed every pass and the wiki page shows it exactly. On the issues, every
write is a journal entry that the tracker may mail to the author, the assignee and the
watchers (Redmine does; its REST API has no "don't notify" switch). With nobody editing, a
moving status date shifts the dates of open work by a working day a day, so writing every
change would mail every open issue's people every working day.

:func:`hold_drift` filters the change set the adapter computed, tracker-neutrally, by the
``[write_back]`` settings:

- An issue is written when one of its changes is *significant*: a value appears or is
  cleared, a field without a tolerance changes (``critical``, ``planned_cost``), or a value
  moved by at least its tolerance (``tolerance_days`` working days for dates and day counts,
  ``tolerance_percent`` points for risk score and criticality). Then *all* its changed values
  are written exactly: it is one journal either way.
- An issue whose changes are all drift within tolerance is left alone (held back).
- On ``refresh_weekday`` (of the status date) nothing is held back: once a week the issues
  show the exact plan.

Held-back values are measured against what the issue shows, not against yesterday's plan, so
slow drift adds up until it is written.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from tracker_bridge.model import ChangeSet, FieldChange
from tracker_bridge.settings import WEEKDAYS, CalendarSettings, WriteBackSettings

__all__ = ["DAY_COUNTS", "DAY_DATES", "PERCENTS", "hold_drift"]

#: Date fields: their drift is the number of working days between old and new value.
DAY_DATES = frozenset({"early_start", "early_finish", "late_finish", "p80_finish"})
#: Fields counting working days: their drift is the difference.
DAY_COUNTS = frozenset({"total_float", "slip_days"})
#: Fields in percent points (0-100): their drift is the difference.
PERCENTS = frozenset({"risk_score", "criticality"})


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _within_tolerance(
    change: FieldChange, write_back: WriteBackSettings, calendar: CalendarSettings
) -> bool:
    """True when ``change`` only moves a value already on the issue by less than its
    tolerance; False for anything that should be written now."""
    old, new = (change.old or "").strip(), change.new.strip()
    if not old or not new:
        return False  # a value appears or is cleared
    if change.field in DAY_DATES:
        a, b = _date(old), _date(new)
        if a is None or b is None:
            return False
        lo, hi = min(a, b), max(a, b)
        moved = int(
            np.busday_count(lo, hi, weekmask=calendar.weekmask, holidays=list(calendar.holidays))
        )
        return moved < write_back.tolerance_days
    if change.field in DAY_COUNTS or change.field in PERCENTS:
        x, y = _number(old), _number(new)
        if x is None or y is None:
            return False
        tolerance = (
            write_back.tolerance_days
            if change.field in DAY_COUNTS
            else write_back.tolerance_percent
        )
        return abs(x - y) < tolerance
    return False  # no tolerance for this field: every change counts


def hold_drift(
    changes: ChangeSet,
    as_of: dt.date,
    write_back: WriteBackSettings,
    calendar: CalendarSettings,
) -> tuple[ChangeSet, list[FieldChange]]:
    """The changes to write today and the ones held back (see the module docstring)."""
    if write_back.exact or WEEKDAYS[as_of.weekday()] == write_back.refresh_weekday:
        return changes, []
    by_item: dict[str, list[FieldChange]] = {}
    for change in changes.fields:
        by_item.setdefault(change.item, []).append(change)
    write: list[FieldChange] = []
    held: list[FieldChange] = []
    for item_changes in by_item.values():
        if all(_within_tolerance(c, write_back, calendar) for c in item_changes):
            held.extend(item_changes)
        else:
            write.extend(item_changes)
    return changes.model_copy(update={"fields": write}), held
