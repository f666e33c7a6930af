"""The one registry of the values we write onto issues: every fact about a plan field once.

A field has a logical name (its key in ``[fields]`` and in the plan's desired state), the
name its custom field has by default, a value kind, the overlay that fills it (None: every
run writes it) and what a team misses without it. Everything else derives from here: the
config's defaults (``settings.FieldNames``), which fields are required, the publisher's
values, each adapter's native formats (Redmine custom-field formats, GitHub board field
types), the custom-field kit and the local test Redmine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PLAN_FIELDS", "FieldKind", "PlanField", "plan_field", "required_fields"]

FieldKind = Literal["bool", "int", "float", "date"]


@dataclass(frozen=True)
class PlanField:
    """One value we write onto every issue."""

    name: str
    label: str
    kind: FieldKind
    #: The plan overlay that fills it ("risk", "budget", "baseline", "levelling"); None:
    #: always written.
    overlay: str | None
    #: What a team misses when the tracker has no such field ("create it to see ...").
    purpose: str


PLAN_FIELDS: tuple[PlanField, ...] = (
    PlanField("critical", "Critical", "bool", None, "whether each issue is critical"),
    PlanField("total_float", "Total float (d)", "int", None, "each issue's total float"),
    PlanField("early_start", "Early start", "date", None, "each issue's early start"),
    PlanField("early_finish", "Early finish", "date", None, "each issue's early finish"),
    PlanField("late_finish", "Late finish", "date", None, "each issue's late finish"),
    PlanField(
        "risk_score", "Risk score", "int", "risk", "each issue's schedule risk score (0-100)"
    ),
    PlanField(
        "p80_finish",
        "P80 finish",
        "date",
        "risk",
        "the date each issue finishes by with 80 % confidence",
    ),
    PlanField(
        "criticality",
        "Criticality (%)",
        "int",
        "risk",
        "how often each issue is on the critical path in the simulation",
    ),
    PlanField("planned_cost", "Planned cost", "float", "budget", "each issue's planned cost"),
    PlanField(
        "slip_days",
        "Slip (d)",
        "int",
        "baseline",
        "each issue's slip against the baseline, in working days",
    ),
    PlanField(
        "levelled_start",
        "Levelled start",
        "date",
        "levelling",
        "each issue's start once people's capacity is respected",
    ),
    PlanField(
        "levelled_finish",
        "Levelled finish",
        "date",
        "levelling",
        "each issue's finish once people's capacity is respected",
    ),
)

_BY_NAME = {f.name: f for f in PLAN_FIELDS}


def plan_field(name: str) -> PlanField:
    """The field with this logical name (KeyError for an unknown one)."""
    return _BY_NAME[name]


def required_fields() -> list[str]:
    """Logical names of the fields every run writes; the rest are optional overlays."""
    return [f.name for f in PLAN_FIELDS if f.overlay is None]
