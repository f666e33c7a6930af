"""Write-back cadence: which status date the values on the issues are computed for.

The plan is recomputed every pass and the wiki page shows it for the pass's status date. On
the issues, every write is a journal entry that the tracker may mail to the author, the
assignee and the watchers (Redmine does; its REST API has no "don't notify" switch). With
nobody editing, a moving status date shifts the dates of open work every working day, so
values computed for each day's status date would be written, and mailed, every day.

With the weekly cadence (``[write_back]``, the default) the values on the issues are the plan
*as of the last refresh day* (the latest ``refresh_weekday`` on or before the status date),
computed from the tracker's current data. So between refresh days an issue is written only
when the data changed (an estimate, a relation, progress... moved its values), never because
the clock moved; on the refresh day every issue catches up with the calendar. An issue
nobody edits gets at most one journal a week, and a pass that missed the refresh day is
caught up by the next one (its values are older than the refresh day's). The rule needs no
memory: the same status date and data give the same writes, in a dry run too.
"""

from __future__ import annotations

import datetime as dt

from tracker_bridge.settings import WEEKDAYS, WriteBackSettings

__all__ = ["fields_as_of"]


def fields_as_of(as_of: dt.date, write_back: WriteBackSettings) -> dt.date:
    """The status date the issues' field values are computed for (see the module docstring)."""
    if write_back.cadence == "daily":
        return as_of
    back = (as_of.weekday() - WEEKDAYS.index(write_back.refresh_weekday)) % 7
    return as_of - dt.timedelta(days=back)
