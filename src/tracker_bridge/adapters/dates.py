"""Which of a tracker's dates bind the schedule: one rule for every adapter.

A tracker's start and due dates are the team's current dates (Redmine even sets and moves
them by itself), so by default they are only compared with the forecast. They become
constraints when the project says so (``due_dates = "deadline"``, ``start_dates =
"constraint"``); a date field the team fills on purpose (``deadline_field``,
``start_no_earlier_than_field``) always binds. Where both give a date, the tighter one wins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypedDict

from tracker_bridge.adapters.values import parse_date
from tracker_bridge.settings import ProjectSettings

__all__ = ["ItemDates", "item_dates"]


class ItemDates(TypedDict):
    """The four dates of a WorkItem (keyword arguments of its constructor)."""

    start: dt.date | None
    due: dt.date | None
    start_no_earlier_than: dt.date | None
    deadline: dt.date | None


def _field_date(
    values: Mapping[str, Any], name: str | None, where: str, note: Callable[[str], None]
) -> dt.date | None:
    """The date in field ``name`` (None when unset); a value that is no date is noted."""
    if not name or name not in values:
        return None
    raw = values[name]
    if raw is None or str(raw).strip() == "":
        return None
    day = parse_date(str(raw).strip())
    if day is None or len(str(raw).strip()) != 10:
        note(f"{where}: field '{name}' = {str(raw)[:40]!r} is not a date (YYYY-MM-DD); ignored")
        return None
    return day


def item_dates(
    project: ProjectSettings,
    *,
    start: dt.date | None,
    due: dt.date | None,
    fields: Mapping[str, Any],
    where: str,
    note: Callable[[str], None],
) -> ItemDates:
    """``start``, ``due``, ``start_no_earlier_than`` and ``deadline`` of one WorkItem.

    ``fields`` maps the item's date field names to their raw values; ``where`` names the
    item in a note about a value that is not a date.
    """
    deadline = _field_date(fields, project.deadline_field, where, note)
    if project.due_dates == "deadline" and due is not None:
        deadline = due if deadline is None else min(deadline, due)
    not_before = _field_date(fields, project.start_no_earlier_than_field, where, note)
    if project.start_dates == "constraint" and start is not None:
        not_before = start if not_before is None else max(not_before, start)
    return ItemDates(start=start, due=due, start_no_earlier_than=not_before, deadline=deadline)
