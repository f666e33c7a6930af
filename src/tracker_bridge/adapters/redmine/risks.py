"""The schedule-risk inputs of an issue: the risk register and three-point estimates.

Issues of the risk tracker (``risk.risk_tracker``) become :class:`Risk` entries (:func:`register`)
and work items with values in ``risk.optimistic_field`` and ``risk.pessimistic_field`` get an
``estimate_range`` (:func:`estimate_range`); what they mean is in the docstring of
:meth:`RedmineAdapter.fetch`. Values that cannot be used are noted, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracker_bridge.adapters.redmine.context import Context
from tracker_bridge.adapters.redmine.fields import cf_number, cf_string, resolve_name
from tracker_bridge.model import EstimateRange, Risk, Status
from tracker_bridge.settings import RiskSettings

__all__ = ["RiskFields", "estimate_range", "register", "risk_fields"]


@dataclass
class RiskFields:
    """Resolved ids of the risk-register and three-point estimate fields (None: absent)."""

    probability: int | None
    impact_days: int | None
    impact_cost: int | None
    optimistic: int | None
    pessimistic: int | None


def risk_fields(cfg: RiskSettings, catalogue: dict[str, str]) -> RiskFields:
    """The ids of the configured risk and three-point estimate fields in ``catalogue``."""
    return RiskFields(
        probability=resolve_name(catalogue, cfg.probability_field),
        impact_days=resolve_name(catalogue, cfg.impact_days_field),
        impact_cost=resolve_name(catalogue, cfg.impact_cost_field),
        optimistic=resolve_name(catalogue, cfg.optimistic_field),
        pessimistic=resolve_name(catalogue, cfg.pessimistic_field),
    )


def _hours(value: float) -> str:
    return f"{value:g}"


def estimate_range(
    ctx: Context,
    iid: int,
    likely: float | None,
    values: dict[int, Any],
    fields: RiskFields,
    *,
    quiet: bool = False,
) -> EstimateRange | None:
    """optimistic / likely (the estimated hours) / pessimistic, when all three are there
    and ordered; otherwise None and a note (none when neither range field has a value, or
    when ``quiet``: closed issues are not simulated)."""
    cfg = ctx.risk
    raw_o = values.get(fields.optimistic) if fields.optimistic else None
    raw_p = values.get(fields.pessimistic) if fields.pessimistic else None
    if not (cf_string(raw_o) or "").strip() and not (cf_string(raw_p) or "").strip():
        return None
    optimistic, pessimistic = cf_number(raw_o), cf_number(raw_p)
    if optimistic is not None and pessimistic is not None and likely is not None:
        if 0 <= optimistic <= likely <= pessimistic:
            return EstimateRange(optimistic=optimistic, likely=likely, pessimistic=pessimistic)
        problem = (
            f"{_hours(optimistic)} / {_hours(likely)} / {_hours(pessimistic)} h is "
            "not ordered (0 <= optimistic <= likely <= pessimistic)"
        )
    elif optimistic is None or pessimistic is None:
        empty = [
            name
            for name, number in (
                (cfg.optimistic_field, optimistic),
                (cfg.pessimistic_field, pessimistic),
            )
            if number is None
        ]
        problem = (
            f"'{empty[0]}' is empty or not a number"
            if len(empty) == 1
            else "the optimistic and pessimistic values are not numbers"
        )
    else:
        problem = "it has no estimated time (the likely value)"
    if not quiet:
        fallback = (
            "the single estimate is used"
            if likely is not None
            else "planned as an item without an estimate"
        )
        ctx.note(f"issue #{iid}: three-point estimate ignored: {problem}; {fallback}")
    return None


def register(
    ctx: Context,
    risks_raw: list[dict[str, Any]],
    closed: set[int],
    fields: RiskFields,
    threatened: dict[int, set[int]],
) -> list[Risk]:
    """The risk register: the risk issues that have a usable probability, in the given order;
    ``threatened`` is risk id -> ids of the work items related to it."""
    return [
        found
        for raw in risks_raw
        if (found := _risk(ctx, raw, closed, fields, threatened.get(int(raw["id"]), set())))
        is not None
    ]


def _risk(
    ctx: Context, raw: dict[str, Any], closed: set[int], fields: RiskFields, threatened: set[int]
) -> Risk | None:
    cfg = ctx.risk
    iid = int(raw["id"])
    values = {int(cf["id"]): cf.get("value") for cf in raw.get("custom_fields") or []}
    label = f"risk #{iid} '{raw.get('subject') or ''}'"
    raw_p = values.get(fields.probability) if fields.probability else None
    percent = cf_number(raw_p)
    if percent is None:
        why = (
            "has no value in"
            if not (cf_string(raw_p) or "").strip()
            else f"has no number ({cf_string(raw_p)!r}) in"
        )
        if fields.probability is None or fields.probability not in values:
            why = "does not have the custom field"
        ctx.note(f"{label} {why} '{cfg.probability_field}' (percent); not in the risk register")
        return None
    if not 0 <= percent <= 100:
        ctx.note(
            f"{label}: '{cfg.probability_field}' is {percent:g}, not a percentage "
            "between 0 and 100; not in the risk register"
        )
        return None

    def impact(field_id: int | None, name: str) -> float:
        raw_value = values.get(field_id) if field_id else None
        number = cf_number(raw_value)
        if number is None or number < 0:
            if (cf_string(raw_value) or "").strip():
                ctx.note(
                    f"{label}: '{name}' = {cf_string(raw_value)!r} is not a "
                    "positive number; 0 is used"
                )
            return 0.0
        return number

    status = raw.get("status") or {}
    return Risk(
        key=f"redmine:{iid}",
        title=str(raw.get("subject") or ""),
        probability=percent / 100,
        impact_days=impact(fields.impact_days, cfg.impact_days_field),
        impact_cost=impact(fields.impact_cost, cfg.impact_cost_field),
        threatens=[f"redmine:{i}" for i in sorted(threatened)],
        status=Status.CLOSED if int(status.get("id", 0)) in closed else Status.OPEN,
    )
