"""The Projects (v2) board as read: its fields and the values of our issues' items, and values
as the board shows them (:func:`format_field_value`), so that a desired value and the shown
one compare as a person reading the board would.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from tracker_bridge import errors
from tracker_bridge.adapters.values import parse_date, same_shown_value
from tracker_bridge.model import FieldValue

__all__ = [
    "Board",
    "ProjectField",
    "format_field_value",
    "number_text",
    "values_equal",
]


def number_text(value: float) -> str:
    """A number as the board shows it: ``3``, ``2.5``; at most six decimals."""
    if not math.isfinite(value):
        raise errors.InputError(f"cannot write the non-finite number {value!r} to GitHub")
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def format_field_value(value: FieldValue, data_type: str) -> str:
    """A desired value as the board shows it: ISO dates, plain numbers, 'Yes'/'No'.

    ``""`` means "no value" (the field is cleared).
    """
    if value is None:
        return ""
    if data_type == "DATE":
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        parsed = parse_date(value)
        if parsed is None:
            raise errors.InputError(f"{value!r} is not a date")
        return parsed.isoformat()
    if data_type == "NUMBER":
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, int | float):
            return number_text(float(value))
        try:
            return number_text(float(str(value)))
        except ValueError:
            raise errors.InputError(f"{value!r} is not a number") from None
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float):
        return number_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def values_equal(current: str | None, new: str) -> bool:
    """Compare as the board shows it (:func:`~tracker_bridge.adapters.values.same_shown_value`:
    numbers by value, dates by day, option names in any case)."""
    return same_shown_value(current, new)


@dataclass
class ProjectField:
    id: str
    name: str
    data_type: str
    options: dict[str, tuple[str, str]] = field(default_factory=dict)  # casefold -> (id, name)


@dataclass
class Board:
    """The Projects (v2) board: ids, fields and (when read) the items of our issues."""

    id: str
    title: str
    url: str
    fields: dict[str, ProjectField]  # casefold name -> field
    items: dict[str, str] = field(default_factory=dict)  # issue key -> item id
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> field id -> text
    items_read: bool = False
    foreign_items: int = 0

    def field(self, name: str) -> ProjectField | None:
        return self.fields.get(name.strip().casefold())
