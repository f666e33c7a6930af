"""Our custom fields: values as Redmine stores them, and which custom field is which.

Custom-field values are strings and Redmine compares them as strings (``"3.50"`` is not
``"3.5"``): values are formatted for the field's format (:func:`format_value`) and compared
normalised (:func:`values_equal`). Our logical fields (:class:`FieldNames`) are resolved to
custom-field ids by name or id from the catalogue of the fields seen on issues
(:class:`FieldResolver`); a required field that does not exist is an error, an optional
overlay field that does not exist is simply not written.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from tracker_bridge import errors
from tracker_bridge.adapters.redmine.context import Context
from tracker_bridge.adapters.values import same_shown_value
from tracker_bridge.model import FieldValue
from tracker_bridge.plan_fields import PLAN_FIELDS

__all__ = [
    "EXPECTED_FORMATS",
    "FLOAT_DECIMALS",
    "OPTIONAL_FIELD_PURPOSE",
    "SETUP_COMMAND",
    "FieldPlan",
    "FieldResolver",
    "cf_number",
    "cf_string",
    "format_value",
    "resolve_name",
    "values_equal",
]

#: Redmine formats of our logical fields (Redmine's format names are the registry's kinds):
#: values are formatted for them (:func:`format_value`) and ``check`` compares them with the
#: real fields when it can see them (administrators).
EXPECTED_FORMATS = {f.name: f.kind for f in PLAN_FIELDS}
#: What a team misses when an optional (overlay) field does not exist: "create it to see ...".
OPTIONAL_FIELD_PURPOSE = {f.name: f.purpose for f in PLAN_FIELDS if f.overlay is not None}
FLOAT_DECIMALS = 2
#: How an administrator creates the custom fields on the Redmine host (it ships with the
#: package; it prints the script when started elsewhere).
SETUP_COMMAND = "tracker-bridge setup redmine"


# ------------------------------------------------------------------------------- values


def format_value(value: FieldValue, field_format: str | None = None) -> str:
    """A desired value as Redmine stores it: bool "1"/"0", int, float with at most 2 decimals
    and no trailing zeros, ISO date, None -> "" (cleared).

    ``field_format`` is the Redmine format of the target field (``int``, ``float``, ``date``,
    ``bool``; None = go by the value's type): a float for an ``int`` field is rounded to a
    whole number (half away from zero), a number for a ``bool`` field becomes "1"/"0".
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if field_format == "bool" and isinstance(value, int | float):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise errors.InputError(f"cannot write the non-finite number {value!r} to Redmine")
        if field_format == "int":
            return str(int(math.copysign(math.floor(abs(value) + 0.5), value)))
        rounded = round(value, FLOAT_DECIMALS)
        if rounded == int(rounded) and abs(rounded) < 1e15:
            return str(int(rounded))
        text = f"{rounded:.{FLOAT_DECIMALS}f}".rstrip("0").rstrip(".")
        return "0" if text in ("", "-0") else text
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def values_equal(current: str | None, new: str | None) -> bool:
    """Compare as Redmine users see it (``adapters.values.same_shown_value``)."""
    return same_shown_value(current, new)


def cf_string(value: Any) -> str | None:
    """A custom-field value as the stored string (a multiple value joined with commas)."""
    if value is None:
        return None
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def cf_number(value: Any) -> float | None:
    """A custom-field value as a number: "30", "30.5", "30 %" -> float; else None."""
    text = (cf_string(value) or "").strip().removesuffix("%").strip()
    if not text:
        return None
    try:
        parsed = float(text)
    except ValueError:
        return None
    return parsed if math.isfinite(parsed) else None


# --------------------------------------------------------------------------- resolution


def resolve_name(catalogue: dict[str, str], target: str | int) -> int | None:
    """A custom-field id by name (exact, then case-insensitive) or by id, from a catalogue of
    the fields seen on issues (name -> id)."""
    known_ids = {int(i) for i in catalogue.values()}
    if isinstance(target, int):
        return target if target in known_ids else None
    found = catalogue.get(target)
    if found is None:
        fold = target.strip().casefold()
        found = next((i for n, i in catalogue.items() if n.casefold() == fold), None)
    if found is not None:
        return int(found)
    if target.strip().isdigit() and int(target) in known_ids:
        return int(target)
    return None


@dataclass
class FieldPlan:
    """Resolved ids of our logical fields, from the custom-field catalogue.

    ``missing``: required fields (:meth:`FieldNames.required`) no issue carries (an error
    when a value is to be written); ``optional_missing``: overlay fields no issue carries
    (their values are skipped).
    """

    ids: dict[str, int]
    missing: dict[str, str | int]
    optional_missing: dict[str, str | int] = field(default_factory=dict)


class FieldResolver:
    """Resolves our logical fields and remembers the ids last resolved (:attr:`ids`)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        #: Logical field -> custom-field id, as last resolved (None: not resolved yet).
        self.ids: dict[str, int] | None = None

    def resolve(self, catalogue: dict[str, str]) -> FieldPlan:
        """Logical field -> custom-field id, by name (exact, then case-insensitive) or id.

        Required fields (:meth:`FieldNames.required`) that no issue carries go to
        ``missing``, the optional overlay fields to ``optional_missing``.
        """
        field_names = self._ctx.field_names
        required = set(field_names.required())
        ids: dict[str, int] = {}
        missing: dict[str, str | int] = {}
        optional_missing: dict[str, str | int] = {}
        for logical in field_names.logical_names():
            target: str | int = getattr(field_names, logical)
            found = resolve_name(catalogue, target)
            if found is not None:
                ids[logical] = found
            elif logical in required:
                missing[logical] = target
            else:
                optional_missing[logical] = target
        self.ids = ids
        return FieldPlan(ids=ids, missing=missing, optional_missing=optional_missing)

    def missing_error(self, logical: str, target: str | int) -> errors.ConfigError:
        """The error (and the fix) for a required field that does not exist."""
        what = (
            f"custom field id {target}" if isinstance(target, int) else f"custom field '{target}'"
        )
        return errors.ConfigError(
            f"{what} (fields.{logical}) not found on any issue of project '{self._ctx.pid}': "
            f"an administrator must create it: on the Redmine host run `{SETUP_COMMAND}` "
            "(it creates every field); on Planio or without a shell: Administration -> Custom "
            f"fields -> New -> Issues, format {EXPECTED_FORMATS.get(logical, 'as documented')}, "
            "all trackers the project uses, 'For all projects' or enabled in the project's "
            "Settings -> Issue tracking; a field visible to chosen roles only must include the "
            "bot's role. Or set fields."
            f"{logical} to the name the field has in Redmine"
        )
