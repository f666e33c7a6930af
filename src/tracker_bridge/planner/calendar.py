"""Working calendar: calendar dates <-> working-day indices.

All scheduling happens on integer working-day indices counted from an origin date, so the
passes are plain integer arithmetic. Index ``k`` is the k-th working day on or after the
origin. Conversions are vectorised with numpy's business-day functions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from tracker_bridge.settings import CalendarSettings

IntArray = npt.NDArray[np.int64]
_ONE_DAY = np.timedelta64(1, "D")


class WorkCalendar:
    """Maps dates to working-day indices and back, for one origin date."""

    def __init__(self, settings: CalendarSettings, origin: dt.date) -> None:
        self.settings = settings
        self._weekmask = settings.weekmask
        holidays = np.array(sorted(settings.holidays), dtype="datetime64[D]")
        self._cal = np.busdaycalendar(weekmask=self._weekmask, holidays=holidays)
        self.origin = np.datetime64(origin, "D")

    def index_on_or_after(self, day: dt.date) -> int:
        """Index of the first working day on or after ``day`` (a start constraint)."""
        return int(np.busday_count(self.origin, np.datetime64(day, "D"), busdaycal=self._cal))

    def finish_bound(self, day: dt.date) -> int:
        """Exclusive finish index for work that must end on or before ``day`` (inclusive)."""
        end = np.datetime64(day, "D") + _ONE_DAY
        return int(np.busday_count(self.origin, end, busdaycal=self._cal))

    def indices_on_or_after(self, days: npt.NDArray[np.datetime64]) -> IntArray:
        """Vectorised :meth:`index_on_or_after` (NaT is not allowed)."""
        return np.busday_count(self.origin, days, busdaycal=self._cal).astype(np.int64)

    def finish_bounds(self, days: npt.NDArray[np.datetime64]) -> IntArray:
        """Vectorised :meth:`finish_bound`."""
        return np.busday_count(self.origin, days + _ONE_DAY, busdaycal=self._cal).astype(np.int64)

    def dates(self, indices: IntArray) -> list[dt.date]:
        """Calendar date of each working-day index."""
        out = np.busday_offset(self.origin, indices, roll="forward", busdaycal=self._cal)
        result: list[dt.date] = out.astype(object).tolist()
        return result

    def date(self, index: int) -> dt.date:
        """Calendar date of one working-day index."""
        out = np.busday_offset(self.origin, index, roll="forward", busdaycal=self._cal)
        value: dt.date = out.astype(object)
        return value

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in [start, end), negative if end < start."""
        return int(np.busday_count(start, end, busdaycal=self._cal))


def as_datetime64(days: Sequence[dt.date | None], fill: dt.date) -> npt.NDArray[np.datetime64]:
    """Dates as a datetime64[D] array, ``None`` replaced by ``fill``."""
    return np.array([fill if d is None else d for d in days], dtype="datetime64[D]")
