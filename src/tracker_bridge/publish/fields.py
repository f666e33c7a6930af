"""Custom-field values per issue: the plan's figures as typed values, by logical field name."""

from __future__ import annotations

from collections.abc import Callable

from tracker_bridge.model import FieldValue, ItemSchedule, Plan
from tracker_bridge.settings import FieldNames


def _done(s: ItemSchedule) -> bool:
    return s.state == "done"


_VALUES: dict[str, Callable[[ItemSchedule], FieldValue]] = {
    "critical": lambda s: False if _done(s) else s.critical,
    "total_float": lambda s: 0 if _done(s) else s.total_float,
    "early_start": lambda s: s.early_start,
    "early_finish": lambda s: s.early_finish,
    "late_finish": lambda s: s.early_finish if _done(s) else s.late_finish,
}


def desired_fields(plan: Plan, field_names: FieldNames) -> dict[str, dict[str, FieldValue]]:
    """Item key -> logical field name -> value, for every item of the plan (summaries too).

    Closed ("done") items get ``critical`` False, ``total_float`` 0 and their actual dates
    (early start/finish are the actual dates; late finish is the actual finish). Logical
    names of ``field_names`` this module has no value for are left out.
    """
    names = [name for name in field_names.logical_names() if name in _VALUES]
    return {
        key: {name: _VALUES[name](schedule) for name in names}
        for key, schedule in plan.items.items()
    }
