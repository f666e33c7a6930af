"""Working calendar: calendar dates <-> working-day indices.

All scheduling happens on integer working-day indices counted from an origin date, so the
passes are plain integer arithmetic. Index ``k`` is the k-th working day on or after the
origin. Conversions are vectorised with numpy's business-day functions.

Dates stop at 9999-12-31 (``datetime.date.max``): numpy counts further, but a later date
cannot be a ``datetime.date``; a schedule that would need one raises PlanError.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from tracker_bridge.errors import PlanError
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
        #: Index of the last working day on or before 9999-12-31: no later date exists.
        self.last_index = self.finish_bound(dt.date.max) - 1

    def _signed_count(self, days: npt.NDArray[np.datetime64]) -> IntArray:
        """Working days in ``[origin, day)``, or minus those in ``[day, origin)`` if earlier.

        That is the index of the first working day on or after ``day``. numpy's
        ``busday_count(later, earlier)`` counts ``(earlier, later]`` instead, which is one
        off whenever exactly one of the two ends is a working day, so both directions are
        counted forwards here.
        """
        lo = np.minimum(days, self.origin)
        hi = np.maximum(days, self.origin)
        count = np.busday_count(lo, hi, busdaycal=self._cal).astype(np.int64)
        signed: IntArray = np.where(days < self.origin, -count, count)
        return signed

    def _signed_count_one(self, day: np.datetime64) -> int:
        """Scalar :meth:`_signed_count` (called per item, so kept free of array set-up)."""
        if day >= self.origin:
            return int(np.busday_count(self.origin, day, busdaycal=self._cal))
        return -int(np.busday_count(day, self.origin, busdaycal=self._cal))

    def index_on_or_after(self, day: dt.date) -> int:
        """Index of the first working day on or after ``day`` (a start constraint)."""
        return self._signed_count_one(np.datetime64(day, "D"))

    def finish_bound(self, day: dt.date) -> int:
        """Exclusive finish index for work that must end on or before ``day`` (inclusive)."""
        return self._signed_count_one(np.datetime64(day, "D") + _ONE_DAY)

    def indices_on_or_after(self, days: npt.NDArray[np.datetime64]) -> IntArray:
        """Vectorised :meth:`index_on_or_after` (NaT is not allowed)."""
        return self._signed_count(days.astype("datetime64[D]"))

    def finish_bounds(self, days: npt.NDArray[np.datetime64]) -> IntArray:
        """Vectorised :meth:`finish_bound`."""
        next_days: npt.NDArray[np.datetime64] = (days + _ONE_DAY).astype("datetime64[D]")
        return self._signed_count(next_days)

    def _check_range(self, last: int) -> None:
        if last > self.last_index:
            raise PlanError(
                f"the schedule would run past {dt.date.max}, the last date there is (working "
                f"day {last:,} from {self.origin}); check estimates, lags and the status date"
            )

    def dates(self, indices: IntArray) -> list[dt.date]:
        """Calendar date of each working-day index."""
        if indices.size:
            self._check_range(int(indices.max()))
        out = np.busday_offset(self.origin, indices, roll="forward", busdaycal=self._cal)
        result: list[dt.date] = out.astype(object).tolist()
        return result

    def date(self, index: int) -> dt.date:
        """Calendar date of one working-day index."""
        self._check_range(index)
        out = np.busday_offset(self.origin, index, roll="forward", busdaycal=self._cal)
        value: dt.date = out.astype(object)
        return value

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in [start, end); minus those in [end, start) if end < start."""
        if end < start:
            return -int(np.busday_count(end, start, busdaycal=self._cal))
        return int(np.busday_count(start, end, busdaycal=self._cal))


def as_datetime64(days: Sequence[dt.date | None], fill: dt.date) -> npt.NDArray[np.datetime64]:
    """Dates as a datetime64[D] array, ``None`` replaced by ``fill``."""
    return np.array([fill if d is None else d for d in days], dtype="datetime64[D]")
