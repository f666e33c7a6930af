"""Custom-field values per issue: the plan's figures as typed values, by logical field name."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from tracker_bridge.model import FieldValue, ItemSchedule, Plan
from tracker_bridge.plan_fields import PLAN_FIELDS, plan_field
from tracker_bridge.plan_overlays import LevelledItem
from tracker_bridge.settings import FieldNames


def _done(s: ItemSchedule) -> bool:
    return s.state == "done"


def _percent(fraction: float | None) -> int | None:
    """A share 0..1 as a whole percent 0..100, halves rounded up (0.125 -> 13)."""
    if fraction is None:
        return None
    thousandths = round(fraction * 1000)  # criticality is kept to 3 places
    return max(0, min(100, (thousandths + 5) // 10))


def _cost(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


_VALUES: dict[str, Callable[[ItemSchedule], FieldValue]] = {
    "critical": lambda s: False if _done(s) else s.critical,
    "total_float": lambda s: 0 if _done(s) else s.total_float,
    "early_start": lambda s: s.early_start,
    "early_finish": lambda s: s.early_finish,
    "late_finish": lambda s: s.early_finish if _done(s) else s.late_finish,
    # overlay fields (which overlay fills each: :mod:`tracker_bridge.plan_fields`)
    "risk_score": lambda s: None if s.risk_score is None else int(s.risk_score),
    "p80_finish": lambda s: s.p80_finish,
    "criticality": lambda s: _percent(s.criticality),
    "planned_cost": lambda s: _cost(s.planned_cost),
    "slip_days": lambda s: None if s.slip_days is None else int(s.slip_days),
    # the levelled dates are not on the item: desired_fields reads them from the overlay
    "levelled_start": lambda s: None,
    "levelled_finish": lambda s: None,
}


# Levelled dates live in ``overlays.levelling.items`` (per leaf; summaries get None).
_LEVELLED: dict[str, Callable[[LevelledItem], dt.date]] = {
    "levelled_start": lambda levelled: levelled.start,
    "levelled_finish": lambda levelled: levelled.finish,
}


def _levelled_getter(plan: Plan, name: str) -> Callable[[ItemSchedule], FieldValue]:
    levelling = plan.overlays.levelling
    items = levelling.items if levelling is not None else {}
    which = _LEVELLED[name]

    def value(s: ItemSchedule) -> FieldValue:
        item = items.get(s.key)
        return None if item is None else which(item)

    return value


def overlay_fields(plan: Plan) -> list[str]:
    """Logical names of the overlay fields this plan has values for (its overlays ran)."""
    ran = plan.overlays.names()
    return [f.name for f in PLAN_FIELDS if f.overlay is not None and f.overlay in ran]


def desired_fields(plan: Plan, field_names: FieldNames) -> dict[str, dict[str, FieldValue]]:
    """Item key -> logical field name -> value, for every item of the plan (summaries too).

    Closed ("done") items get ``critical`` False, ``total_float`` 0 and their actual dates
    (early start/finish are the actual dates; late finish is the actual finish).

    Overlay fields are emitted only when the plan carries their overlay: ``risk_score``
    (int 0..100), ``p80_finish`` (date) and ``criticality`` (int percent 0..100) with
    ``overlays.risk``; ``planned_cost`` (float, 2 decimals) with ``overlays.budget``;
    ``slip_days`` (int working days) with ``overlays.baseline``; ``levelled_start`` and
    ``levelled_finish`` (dates) with ``overlays.levelling``. An item the overlay has
    no figure for (e.g. one added after the baseline) gets None, which clears the field.
    Logical names of ``field_names`` this module has no value for are left out.
    """
    present = set(overlay_fields(plan))
    getters = [
        (name, _levelled_getter(plan, name) if name in _LEVELLED else _VALUES[name])
        for name in field_names.logical_names()
        if name in _VALUES and (plan_field(name).overlay is None or name in present)
    ]
    return {
        key: {name: value(schedule) for name, value in getters}
        for key, schedule in plan.items.items()
    }
