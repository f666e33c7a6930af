"""Write-back cadence: which of the changed values a pass writes onto the issues today.

The plan is recomputed every pass and the wiki page shows it exactly. On the issues, every
write is a journal entry that the tracker may mail to the author, the assignee and the
watchers (Redmine does; its REST API has no "don't notify" switch). With nobody editing, a
moving status date shifts the dates of open work every working day, so writing every change
would mail every open issue's people every working day.

:func:`hold_drift` filters the change set the adapter computed, tracker-neutrally, by the
``[write_back]`` settings. With the weekly cadence (the default):

- on ``refresh_weekday`` (of the status date) every changed value is written;
- on other days an issue is written only when one of its changes cannot wait: a value
  appears where there was none, or is cleared, or — with ``urgent_days`` > 0 — Critical
  flips or a date or day count moved by at least ``urgent_days`` working days. Then all its
  changed values are written: it is one journal either way;
- every other change is held back until the refresh day.

So with ``urgent_days = 0`` an issue nobody edits gets at most one journal a week. Held-back
values are measured against what the issue shows, so drift adds up until it is written.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from tracker_bridge.model import ChangeSet, FieldChange
from tracker_bridge.settings import WEEKDAYS, CalendarSettings, WriteBackSettings

__all__ = ["DAY_COUNTS", "DAY_DATES", "hold_drift"]

#: Date fields: how far they moved is the number of working days between old and new.
DAY_DATES = frozenset({"early_start", "early_finish", "late_finish", "p80_finish"})
#: Fields counting working days: how far they moved is the difference.
DAY_COUNTS = frozenset({"total_float", "slip_days"})


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _days_moved(change: FieldChange, old: str, new: str, calendar: CalendarSettings) -> float:
    """Working days a date or day count moved; 0 for other fields, inf when unreadable."""
    if change.field in DAY_DATES:
        a, b = _date(old), _date(new)
        if a is None or b is None:
            return float("inf")
        lo, hi = min(a, b), max(a, b)
        return float(
            np.busday_count(lo, hi, weekmask=calendar.weekmask, holidays=list(calendar.holidays))
        )
    if change.field in DAY_COUNTS:
        x, y = _number(old), _number(new)
        return float("inf") if x is None or y is None else abs(x - y)
    return 0.0


def _urgent(change: FieldChange, write_back: WriteBackSettings, calendar: CalendarSettings) -> bool:
    """True for a change that is written even between refresh days."""
    old, new = (change.old or "").strip(), change.new.strip()
    if not old or not new:
        return True  # a value appears or is cleared
    if write_back.urgent_days == 0:
        return False
    if change.field == "critical":
        return True
    return _days_moved(change, old, new, calendar) >= write_back.urgent_days


def hold_drift(
    changes: ChangeSet,
    as_of: dt.date,
    write_back: WriteBackSettings,
    calendar: CalendarSettings,
) -> tuple[ChangeSet, list[FieldChange]]:
    """The changes to write today and the ones held back (see the module docstring)."""
    if write_back.cadence == "daily" or WEEKDAYS[as_of.weekday()] == write_back.refresh_weekday:
        return changes, []
    by_item: dict[str, list[FieldChange]] = {}
    for change in changes.fields:
        by_item.setdefault(change.item, []).append(change)
    write: list[FieldChange] = []
    held: list[FieldChange] = []
    for item_changes in by_item.values():
        if any(_urgent(c, write_back, calendar) for c in item_changes):
            write.extend(item_changes)
        else:
            held.extend(item_changes)
    return changes.model_copy(update={"fields": write}), held
