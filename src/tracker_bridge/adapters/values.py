"""Tracker-neutral value parsers shared by the adapters.

Trackers send dates, instants and numbers as text, or leave them out. These read them leniently:
None, empty text and garbage give None, never an exception. :func:`lines_changed` measures an
edit of a wiki page the same way for every tracker.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from typing import Any

__all__ = ["lines_changed", "parse_date", "parse_datetime", "parse_float", "same_shown_value"]


def parse_date(value: Any) -> dt.date | None:
    """``"2026-01-05"`` (or the date part of an ISO instant) as a date; None if it is not one."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def parse_datetime(value: Any) -> dt.datetime | None:
    """An ISO 8601 instant (``Z`` allowed) as an aware datetime, UTC when it names no offset;
    None if it is not one."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def parse_float(value: Any) -> float | None:
    """A number or the text of one as a float; None if it is None or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def lines_changed(old: str, new: str) -> int:
    """Lines added, removed or replaced from ``old`` to ``new`` (a replaced run counts its
    longer side)."""
    a, b = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    return sum(
        max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
    )


_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}")


def same_shown_value(a: str | None, b: str | None) -> bool:
    """Two field values equal as a tracker shows them: None == "", spaces ignored, "3.50" ==
    "3.5", an instant equals its date, "yes" == "Yes" (the one rule of diff and echo checks)."""
    x, y = (a or "").strip(), (b or "").strip()
    if x == y:
        return True
    try:
        fx, fy = float(x), float(y)
    except ValueError:
        pass
    else:
        return math.isfinite(fx) and fx == fy
    if _DATE_PREFIX.match(x) and _DATE_PREFIX.match(y):
        return x[:10] == y[:10]
    return x.casefold() == y.casefold()
