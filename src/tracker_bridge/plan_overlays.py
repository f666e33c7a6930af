"""The typed overlays of a plan: risk, budget and earned value, baseline comparison, levelling.

Each overlay stage of the planner fills one attribute of :class:`PlanOverlays`; an overlay
that did not run is None and is left out of the plan's JSON (``plan --json`` shows only the
overlays that ran, as it always has). Dates are ``datetime.date`` in a live plan and after
reading the JSON back. How each figure is made is told where it is made: the modules
``planner.risk``, ``planner.budget``, ``planner.baseline`` and ``planner.resourcing``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


def _is_none(value: object) -> bool:
    return value is None


# ------------------------------------------------------------------------------ risk


class RiskForecast(BaseModel):
    """Simulated finish of the project: percentiles, mean and the chance to meet its due."""

    p50: dt.date | None = None
    p80: dt.date | None = None
    p95: dt.date | None = None
    probability_on_time: float | None = Field(
        default=None, description="Share of trials finished by the due date (None without one)"
    )
    due: dt.date | None = Field(default=None, description="The latest milestone due date")
    mean: dt.date | None = Field(default=None, description="The working day nearest the mean")
    std_days: float | None = Field(default=None, description="Standard deviation, working days")


class TopRisk(BaseModel):
    """One of the highest-scored items, with the reasons for its score."""

    key: str
    score: int = Field(description="Risk score 0..100")
    reasons: list[str] = Field(default_factory=list)


class RegisteredRisk(BaseModel):
    """An open risk of the register and what it is expected to cost."""

    key: str
    title: str
    probability: float
    impact_days: float
    impact_cost: float
    expected_days: float = Field(description="probability x impact_days")
    expected_cost: float = Field(description="probability x impact_cost")
    threatens: list[str] = Field(default_factory=list)


class FinishCount(BaseModel):
    """How many trials finish the project on one date (the forecast histogram)."""

    date: dt.date
    trials: int


class RiskOverlay(BaseModel):
    """Monte Carlo forecast of the project and the open risks (``planner.risk``)."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    trials: int = Field(description="Trials run (0: nothing open to simulate)")
    max_trials: int
    precision_days: float
    seed: int
    distribution: str = Field(description="Duration distribution: pert or triangular")
    project: RiskForecast
    default_spread_items: list[str] = Field(
        default_factory=list, description="Items simulated with the default spread"
    )
    contingency: float = Field(description="Expected money of the open risks")
    top_risks: list[TopRisk] = Field(default_factory=list)
    # "register" in the JSON (a BaseModel method has that name)
    open_risks: list[RegisteredRisk] = Field(
        default_factory=list,
        validation_alias="register",
        serialization_alias="register",
        description="The open risks",
    )
    finish_histogram: list[FinishCount] = Field(default_factory=list)


# ---------------------------------------------------------------------------- budget


class EacEstimate(BaseModel):
    """Estimate at completion by one method, with its ETC and VAC (None when undefined)."""

    eac: float | None
    etc: float | None
    vac: float | None


class EvmFigures(BaseModel):
    """Earned value figures of one scope (a milestone or the project); None = undefined."""

    bac: float
    pv: float
    ev: float
    ac: float
    cv: float
    sv: float
    cpi: float | None
    spi: float | None
    cv_pct: float | None
    sv_pct: float | None
    percent_complete: float | None
    percent_spent: float | None
    eac: float
    eac_method: str = Field(description="The method of eac (budget.eac_method, else atypical)")
    etc: float
    vac: float
    tcpi: float | None
    eac_explicit: float | None = Field(description="budget.project_eac / milestone_eac")
    tcpi_eac: float | None
    eac_by_method: dict[str, EacEstimate]
    labour_bac: float = 0.0
    fixed_costs: float = Field(default=0.0, description="BAC of the fixed costs")


class _Named(BaseModel):
    name: str


# The milestone's name is a base listed last so that it comes first in the JSON (pydantic
# orders the fields of the bases from the last base to the first).
class MilestoneEvm(EvmFigures, _Named):
    """Earned value figures of one milestone."""


class FixedCostShare(BaseModel):
    """A fixed cost and its PV, EV and AC shares at the status date."""

    name: str
    amount: float
    milestone: str | None = Field(description="Milestone key; None: the whole project")
    date: dt.date | None
    pv: float
    ev: float
    ac: float


class CostPoint(BaseModel):
    """A point of the S-curve; EV and AC only up to the status date (left out after it)."""

    date: dt.date
    pv: float
    ev: float | None = Field(default=None, exclude_if=_is_none)
    ac: float | None = Field(default=None, exclude_if=_is_none)


class CostForecast(BaseModel):
    """A point of the EAC forecast: cost from AC on the status date to EAC at the finish."""

    date: dt.date
    cost: float


class BudgetOverlay(BaseModel):
    """Cost and earned value of milestones and project (``planner.budget``)."""

    currency: str
    as_of: dt.date
    pv_basis: Literal["baseline", "plan", "baseline+plan"]
    baseline: str | None = Field(description="The baseline PV follows, by name")
    project: EvmFigures
    milestones: dict[str, MilestoneEvm] = Field(description="Milestone key -> figures")
    fixed_costs: list[FixedCostShare] = Field(default_factory=list)
    rate_missing: list[str] = Field(default_factory=list, description="People without a rate")
    time_phased: list[CostPoint] = Field(default_factory=list)
    eac_forecast: list[CostForecast] = Field(default_factory=list)


# -------------------------------------------------------------------------- baseline


class FinishSlip(BaseModel):
    """Forecast finish against the baseline's, in working days (+ = later)."""

    baseline_finish: dt.date | None
    finish: dt.date | None
    slip_days: int | None


class MilestoneSlip(FinishSlip, _Named):
    """A milestone's finish against the baseline's."""


class ItemSlip(BaseModel):
    key: str
    slip_days: int


class ItemCostChange(BaseModel):
    key: str
    baseline_cost: float
    planned_cost: float
    change: float
    change_pct: float | None


class CostChange(BaseModel):
    """BAC now against the baseline's (None without a budget), and per item."""

    baseline_bac: float | None
    bac: float | None
    change: float | None
    change_pct: float | None
    items: list[ItemCostChange] = Field(default_factory=list)


class EstimateChange(BaseModel):
    key: str
    title: str
    baseline_hours: float | None
    current_hours: float | None
    growth_hours: float
    growth_pct: float | None


class ScopeChange(BaseModel):
    """Items added and removed since the baseline and the growth of the estimates (hours)."""

    items_added: list[str] = Field(default_factory=list)
    items_removed: list[str] = Field(default_factory=list)
    baseline_hours: float
    current_hours: float
    growth_hours: float
    growth_pct: float | None
    added_hours: float
    removed_hours: float
    changed_hours: float
    estimate_changes: list[EstimateChange] = Field(default_factory=list)


class BaselineComparison(BaseModel):
    """The plan against a saved baseline: slip, cost and scope (``planner.baseline``)."""

    name: str
    saved_at: dt.datetime
    as_of: dt.date
    project: FinishSlip
    milestones: dict[str, MilestoneSlip] = Field(description="Milestone key -> slip")
    items_slipped: int
    top_slips: list[ItemSlip] = Field(default_factory=list)
    cost: CostChange
    scope: ScopeChange


# ------------------------------------------------------------------------- levelling


class LevelledItem(BaseModel):
    """An item's dates with people's capacity, and the resource that does it."""

    start: dt.date
    finish: dt.date
    delay_days: int = Field(description="Working days later than its CPM early start")
    resource: str | None


class LevelledMilestone(BaseModel):
    key: str
    name: str
    finish: dt.date | None = Field(description="Forecast finish without capacity limits")
    levelled_finish: dt.date | None


class ChainLink(BaseModel):
    """An item of the critical chain and what set its start."""

    key: str
    resource: str | None
    driven_by: str


class ResourceLoad(BaseModel):
    hours_per_day: float
    units: int = Field(description="People in the pool (1 for a person)")
    items: int
    overallocated_days_unlevelled: int


class LevellingOverlay(BaseModel):
    """The schedule with people's capacity (``planner.resourcing``; ``planner.level``)."""

    finish: dt.date
    unlevelled_finish: dt.date
    delay_days: int
    schedules: int = Field(description="Schedules the levelling heuristic generated")
    items: dict[str, LevelledItem] = Field(description="Leaf item key -> levelled dates")
    milestones: list[LevelledMilestone] = Field(default_factory=list)
    critical_chain: list[ChainLink] = Field(default_factory=list)
    critical_chain_people: list[str] = Field(default_factory=list)
    resources: dict[str, ResourceLoad] = Field(default_factory=dict)


# --------------------------------------------------------------------------- the set


class PlanOverlays(BaseModel):
    """The overlays that ran, in the order they run; the others are None (and left out of
    the JSON)."""

    levelling: LevellingOverlay | None = Field(default=None, exclude_if=_is_none)
    budget: BudgetOverlay | None = Field(default=None, exclude_if=_is_none)
    baseline: BaselineComparison | None = Field(default=None, exclude_if=_is_none)
    risk: RiskOverlay | None = Field(default=None, exclude_if=_is_none)

    def names(self) -> set[str]:
        """The names of the overlays that ran."""
        return {name for name in type(self).model_fields if getattr(self, name) is not None}
