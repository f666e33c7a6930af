"""The budget overlay stage: one pass that costs every item and fills the EVM figures.

How each number is made is described in :mod:`tracker_bridge.planner.budget` (rates, BAC,
PV, EV, AC, fixed costs, indices, S-curve and forecast); this module runs those rules over a
plan, one step per method of :class:`_BudgetPass`, in the order the numbers depend on each
other.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from tracker_bridge.model import ItemSchedule, PlanWarning, Status, WorkItem
from tracker_bridge.plan_overlays import (
    BudgetOverlay,
    CostForecast,
    CostPoint,
    EvmFigures,
    FixedCostShare,
    MilestoneEvm,
)
from tracker_bridge.planner.budget import (
    EPSILON,
    PROJECT_SCOPE,
    CostCurve,
    FloatArray,
    IntArray,
    RateTable,
    budget_configured,
    div,
    evm_figures,
    money,
    weekly_points,
    working_ranges,
)
from tracker_bridge.planner.calendar import WorkCalendar
from tracker_bridge.planner.overlays import OverlayContext
from tracker_bridge.settings import BudgetSettings, FixedCost

_NO_PERSON = "(unassigned)"
_NO_ENTRY_PERSON = "(time entry without a person)"


def budget_stage(ctx: OverlayContext) -> None:
    """Fill planned cost, PV, EV, AC per item and ``plan.overlays.budget``."""
    if budget_configured(ctx.settings.budget):
        _BudgetPass(ctx).run()


@dataclass
class _Scope:
    """Running totals of one milestone or of the project."""

    labour_bac: float = 0.0
    labour_pv: float = 0.0
    labour_ev: float = 0.0
    fixed_bac: float = 0.0
    pv: float = 0.0
    ev: float = 0.0
    ac: float = 0.0
    fixed: list[FixedCostShare] = field(default_factory=list)

    @property
    def bac(self) -> float:
        return self.labour_bac + self.fixed_bac


class _Missing:
    """Who has no rate, and which items and time entries that leaves at cost 0."""

    def __init__(self) -> None:
        self.people: set[str] = set()
        self.keys: set[str] = set()
        self.item_keys: set[str] = set()
        self.entries = 0

    def item(self, person: str | None, key: str) -> None:
        self.people.add(person or _NO_PERSON)
        self.keys.add(key)
        self.item_keys.add(key)

    def entry(self, person: str | None, key: str | None) -> None:
        self.people.add(person or _NO_ENTRY_PERSON)
        if key is not None:
            self.keys.add(key)
        self.entries += 1


def _resolve_fixed_scope(
    cost: FixedCost, milestone_by_name: dict[str, str], folded: dict[str, str]
) -> str | None:
    if cost.milestone is None:
        return PROJECT_SCOPE
    if cost.milestone in milestone_by_name:
        return milestone_by_name[cost.milestone]
    return folded.get(cost.milestone.casefold())


def _explicit_eacs(
    budget: BudgetSettings, milestone_by_name: dict[str, str], folded: dict[str, str]
) -> dict[str, float]:
    """Explicit EACs by scope key (milestone key, or :data:`PROJECT_SCOPE`)."""
    result: dict[str, float] = {}
    if budget.project_eac is not None:
        result[PROJECT_SCOPE] = budget.project_eac
    for name, amount in budget.milestone_eac.items():
        key = milestone_by_name.get(name) or folded.get(name.casefold())
        result[key if key is not None else f"?{name}"] = amount  # unknown: warned about
    return result


def _fill(item: ItemSchedule, cost: float, pv: float, ev: float, ac: float) -> None:
    item.planned_cost = float(cost)
    item.planned_value = float(pv)
    item.earned_value = float(ev)
    item.actual_cost = float(ac)


def _eac_forecast(
    cal: WorkCalendar,
    as_of: dt.date,
    finish: dt.date,
    start: dt.date,
    figures: EvmFigures,
    remaining_cost: FloatArray,
    shown_s: IntArray,
    shown_f: IntArray,
) -> list[CostForecast]:
    """Cost from AC (on as_of) to EAC (on the forecast finish) along the remaining work."""
    ac = float(figures.ac)
    eac = float(figures.eac)
    end = max(finish, as_of)
    days = [as_of, *(d for d in weekly_points(start, end, [end]) if d > as_of)]
    if len(days) == 1:  # nothing left on the calendar: the rest is forecast on as_of
        days.append(end)
    curve = CostCurve(cal)
    # Remaining work is scheduled on or after as_of; clip anything earlier to as_of.
    floor = cal.index_on_or_after(as_of)
    s = np.maximum(shown_s, floor)
    f = np.maximum(shown_f, s + 1)
    curve.spread(s, f, remaining_cost)
    total = float(remaining_cost.sum())
    reached = curve.cumulative(days)
    result = []
    for i, day in enumerate(days):
        if i == 0:
            share = 0.0  # the forecast starts from what was actually spent
        elif i == len(days) - 1:
            share = 1.0  # and reaches EAC on the forecast finish
        else:
            share = float(reached[i]) / total if total > EPSILON else 0.0
        result.append(CostForecast(date=day, cost=money(ac + (eac - ac) * share)))
    return result


class _BudgetPass:
    """The working state of one budget pass over a plan; ``run`` calls the steps in order."""

    def __init__(self, ctx: OverlayContext) -> None:
        self.ctx = ctx
        self.budget: BudgetSettings = ctx.settings.budget
        self.plan, self.snapshot, self.net, self.as_of = ctx.plan, ctx.snapshot, ctx.net, ctx.as_of
        self.cal: WorkCalendar = self.net.calendar
        self.rates = RateTable(self.budget)
        self.missing = _Missing()
        self.by_key: dict[str, WorkItem] = self.snapshot.item_map()
        self.keys = self.net.keys
        self.leaves = [self.by_key[k] for k in self.keys]
        self.n = len(self.keys)
        self.as_of_bound = self.cal.finish_bound(self.as_of)
        self.milestone_of = [item.milestone for item in self.leaves]
        self.milestone_names = {m.name: m.key for m in self.snapshot.milestones}
        self.folded_names = {m.name.casefold(): m.key for m in self.snapshot.milestones}
        self.scopes: dict[str, _Scope] = defaultdict(_Scope)
        self.project = self.scopes[PROJECT_SCOPE]
        self.pv_curve = CostCurve(self.cal)
        self.ev_curve = CostCurve(self.cal)
        self.ac_curve = CostCurve(self.cal)

    def run(self) -> None:
        self.cost = self.planned_cost()
        self.pv_ranges()
        self.done, self.ev_item = self.earned_value()
        self.actual_cost()
        self.fill_items()
        self.fill_scopes()
        self.fill_curves()
        unknown_milestones = self.fixed_costs()
        explicit = _explicit_eacs(self.budget, self.milestone_names, self.folded_names)
        project_figures = self.figures(self.project, PROJECT_SCOPE, explicit)
        milestones: dict[str, MilestoneEvm] = {}
        for milestone in self.snapshot.milestones:
            values = self.figures(self.scopes.get(milestone.key, _Scope()), milestone.key, explicit)
            milestones[milestone.key] = MilestoneEvm(name=milestone.name, **dict(values))
        time_phased, start = self.s_curve()
        forecast = _eac_forecast(
            self.cal,
            self.as_of,
            self.plan.project.finish,
            start,
            project_figures,
            self.cost * (1 - self.done),
            self.shown_s,
            self.shown_f,
        )
        self.add_warnings(explicit, unknown_milestones)
        self.plan.overlays.budget = self.overlay(project_figures, milestones, time_phased, forecast)

    def planned_cost(self) -> FloatArray:
        """Planned cost of each leaf: estimate (else the default) x the assignee's rate."""
        default_hours = self.ctx.settings.planner.default_estimate_hours
        cost = np.zeros(self.n, dtype=np.float64)
        for i, item in enumerate(self.leaves):
            hours = item.estimate_hours if item.estimate_hours is not None else default_hours
            rate = self.rates.for_item(item.assignee)
            if rate is None:
                if hours > 0:
                    self.missing.item(item.assignee, item.key)
                continue
            cost[i] = hours * rate
        return cost

    def _first_booked(self) -> dict[str, dt.date]:
        """The first day hours were booked on each item, up to the status date."""
        first_booked: dict[str, dt.date] = {}
        for entry in self.snapshot.time_entries:
            if entry.item is not None and entry.date <= self.as_of:
                known = first_booked.get(entry.item)
                if known is None or entry.date < known:
                    first_booked[entry.item] = entry.date
        return first_booked

    def pv_ranges(self) -> None:
        """PV ranges and PV: over the baseline's dates when it holds the item, else over the
        item's full duration from when it was planned to start (see the budget module doc)."""
        first_booked = self._first_booked()
        baseline = self.ctx.baseline
        pv_starts: list[dt.date] = []
        pv_finishes: list[dt.date] = []
        full_duration = np.zeros(self.n, dtype=bool)
        self.from_baseline = 0
        for i, (key, item) in enumerate(zip(self.keys, self.leaves, strict=True)):
            base = baseline.items.get(key) if baseline is not None else None
            if base is not None:
                pv_starts.append(base.early_start)
                pv_finishes.append(base.early_finish)
                self.from_baseline += 1
                continue
            shown = self.plan.items[key]
            begin = shown.early_start
            if shown.state != "done":
                full_duration[i] = True
                for started in (item.start, first_booked.get(key)):
                    if started is not None and started < begin:
                        begin = started
            pv_starts.append(begin)
            pv_finishes.append(shown.early_finish)
        pv_s, pv_f = working_ranges(self.cal, pv_starts, pv_finishes)
        pv_f = np.where(full_duration, pv_s + np.maximum(self.net.duration[: self.n], 1), pv_f)
        pv_days = pv_f - pv_s
        cost = self.cost
        self.pv_s, self.pv_f = pv_s, pv_f
        self.pv_item = (
            cost * np.clip(self.as_of_bound - pv_s, 0, pv_days) / pv_days if self.n else cost.copy()
        )

    def earned_value(self) -> tuple[FloatArray, FloatArray]:
        """Done fraction and EV of each leaf: planned cost x done ratio (closed = 100 %)."""
        done = np.array(
            [
                1.0 if item.status is Status.CLOSED else item.done_ratio / 100
                for item in self.leaves
            ],
            dtype=np.float64,
        )
        return done, self.cost * done

    def actual_cost(self) -> None:
        """AC: booked hours x rate up to as_of, else spent hours x the assignee's rate."""
        self.ac_by_key: dict[str, float] = defaultdict(float)
        self.booked: dict[str, dict[dt.date, float]] = defaultdict(lambda: defaultdict(float))
        self.ac_project_entries = 0.0
        self.ac_scope_entries: dict[str, float] = defaultdict(float)
        has_entries = self._booked_cost()
        # Items with spent hours but no time entry at all: spent hours x the assignee's rate.
        self.spent_only: list[tuple[str, float]] = []
        for item in self.snapshot.items:
            if item.spent_hours > 0 and item.key not in has_entries:
                rate = self.rates.for_item(item.assignee)
                if rate is None:
                    self.missing.item(item.assignee, item.key)
                    continue
                amount = item.spent_hours * rate
                self.ac_by_key[item.key] += amount
                self.ac_project_entries += amount
                if item.milestone is not None:
                    self.ac_scope_entries[item.milestone] += amount
                self.spent_only.append((item.key, amount))
        self.ac_item = np.array([self.ac_by_key.get(k, 0.0) for k in self.keys], dtype=np.float64)

    def _booked_cost(self) -> set[str]:
        """Cost the time entries up to as_of; the keys of items with any time entry."""
        has_entries: set[str] = set()
        for entry in self.snapshot.time_entries:
            if entry.item is not None:
                has_entries.add(entry.item)
            if entry.date > self.as_of:
                continue
            owner = self.by_key.get(entry.item) if entry.item is not None else None
            if owner is not None:
                self.booked[owner.key][entry.date] += entry.hours  # when the work was done
            rate = self.rates.for_entry(entry.person, entry.activity)
            if rate is None:
                if entry.hours > 0:
                    self.missing.entry(entry.person, entry.item)
                continue
            amount = entry.hours * rate
            self.ac_project_entries += amount
            self.ac_curve.lump(entry.date, amount)
            if owner is not None:
                self.ac_by_key[owner.key] += amount
                if owner.milestone is not None:
                    self.ac_scope_entries[owner.milestone] += amount
        return has_entries

    def fill_items(self) -> None:
        """Per-item fields: leaves, then summaries as the sums of their leaves."""
        cost, pv_item, ev_item, ac_item = self.cost, self.pv_item, self.ev_item, self.ac_item
        for i, key in enumerate(self.keys):
            _fill(self.plan.items[key], cost[i], pv_item[i], ev_item[i], ac_item[i])
        for key, below in self.net.summaries.items():
            if key in self.plan.items and below:
                idx = np.array(below, dtype=np.int64)
                own_ac = self.ac_by_key.get(key, 0.0)
                _fill(
                    self.plan.items[key],
                    float(cost[idx].sum()),
                    float(pv_item[idx].sum()),
                    float(ev_item[idx].sum()),
                    float(ac_item[idx].sum()) + own_ac,
                )

    def fill_scopes(self) -> None:
        """Labour totals and AC of the milestones and the project."""
        project = self.project
        project.labour_bac = float(self.cost.sum())
        project.labour_pv = float(self.pv_item.sum())
        project.labour_ev = float(self.ev_item.sum())
        milestone_keys = sorted({ms for ms in self.milestone_of if ms is not None})
        if milestone_keys:
            position = {ms: j for j, ms in enumerate(milestone_keys)}
            member = np.array([position.get(ms, -1) if ms else -1 for ms in self.milestone_of])
            inside = member >= 0
            width = len(milestone_keys)
            sums = [
                np.bincount(member[inside], weights=values[inside], minlength=width).tolist()
                for values in (self.cost, self.pv_item, self.ev_item)
            ]
            for j, ms in enumerate(milestone_keys):
                scope = self.scopes[ms]
                scope.labour_bac, scope.labour_pv, scope.labour_ev = (
                    sums[0][j],
                    sums[1][j],
                    sums[2][j],
                )
        project.ac += self.ac_project_entries
        for ms_key, amount in self.ac_scope_entries.items():
            self.scopes[ms_key].ac += amount

    def fill_curves(self) -> None:
        """S-curve: PV over the PV ranges, EV reconstructed, AC of spent-only items."""
        self.pv_curve.spread(self.pv_s, self.pv_f, self.cost)
        items = self.plan.items
        self.shown_s, self.shown_f = working_ranges(
            self.cal,
            [items[k].early_start for k in self.keys],
            [items[k].early_finish for k in self.keys],
        )
        ev_item = self.ev_item
        hours_based = np.zeros(self.n, dtype=bool)
        for i, key in enumerate(self.keys):
            days = self.booked.get(key)
            if days and ev_item[i]:
                total = sum(days.values())
                if total > 0:
                    hours_based[i] = True
                    for day, hours in days.items():
                        self.ev_curve.lump(day, float(ev_item[i]) * hours / total)
        rest = ~hours_based
        self.ev_curve.spread_until(
            self.shown_s[rest], self.shown_f[rest], ev_item[rest], self.as_of
        )
        index_of = {k: i for i, k in enumerate(self.keys)}
        for key, amount in self.spent_only:
            at = index_of.get(key)
            if at is None:
                self.ac_curve.lump(self.as_of, amount)
            else:
                self.ac_curve.spread_until(
                    self.shown_s[at : at + 1],
                    self.shown_f[at : at + 1],
                    np.array([amount]),
                    self.as_of,
                )

    def fixed_costs(self) -> list[str]:
        """Add the fixed costs to their scopes and curves; the ones naming no milestone."""
        unknown_milestones: list[str] = []
        for fixed in self.budget.fixed_costs:
            fixed_scope = _resolve_fixed_scope(fixed, self.milestone_names, self.folded_names)
            if fixed_scope is None:
                unknown_milestones.append(f"{fixed.name} ({fixed.milestone})")
                fixed_scope = PROJECT_SCOPE
            if fixed.date is not None:
                pv_share, ev_share, ac_share = self._dated_fixed_cost(fixed, fixed.date)
            else:
                pv_share, ev_share, ac_share = self._spread_fixed_cost(fixed, fixed_scope)
            record = FixedCostShare(
                name=fixed.name,
                amount=fixed.amount,
                milestone=None if fixed_scope == PROJECT_SCOPE else fixed_scope,
                date=fixed.date,
                pv=pv_share,
                ev=ev_share,
                ac=ac_share,
            )
            owners = (
                [PROJECT_SCOPE] if fixed_scope == PROJECT_SCOPE else [PROJECT_SCOPE, fixed_scope]
            )
            for holder in owners:
                target = self.scopes[holder]
                target.fixed_bac += fixed.amount
                target.pv += pv_share
                target.ev += ev_share
                target.ac += ac_share
                target.fixed.append(record)
        return unknown_milestones

    def _dated_fixed_cost(self, fixed: FixedCost, day: dt.date) -> tuple[float, float, float]:
        """Planned, earned and paid on its date: (PV, EV, AC) shares at the status date."""
        incurred = fixed.amount if day <= self.as_of else 0.0
        self.pv_curve.lump(day, fixed.amount)
        self.ev_curve.lump(day, incurred)
        self.ac_curve.lump(day, incurred)
        return incurred, incurred, incurred

    def _spread_fixed_cost(self, fixed: FixedCost, scope_key: str) -> tuple[float, float, float]:
        """Spread over its scope's planned days, earned with its labour and paid as earned."""
        cal, pv_s, pv_f = self.cal, self.pv_s, self.pv_f
        members = (
            np.ones(self.n, dtype=bool)
            if scope_key == PROJECT_SCOPE
            else np.array([ms == scope_key for ms in self.milestone_of], dtype=bool)
        )
        if members.any():
            span_s = np.array([int(pv_s[members].min())], dtype=np.int64)
            span_f = np.array([int(pv_f[members].max())], dtype=np.int64)
        else:
            span_s = np.array([cal.index_on_or_after(self.plan.project.start)], dtype=np.int64)
            span_f = np.array([cal.finish_bound(self.plan.project.finish)], dtype=np.int64)
            span_f = np.maximum(span_f, span_s + 1)
        days_total = int(span_f[0] - span_s[0])
        pv_share = fixed.amount * min(max(self.as_of_bound - int(span_s[0]), 0), days_total)
        pv_share /= days_total
        scope = self.scopes[scope_key]
        earned = div(scope.labour_ev, scope.labour_bac)
        ev_share = fixed.amount * earned if earned is not None else pv_share
        ac_share = ev_share
        amount_arr = np.array([fixed.amount], dtype=np.float64)
        self.pv_curve.spread(span_s, span_f, amount_arr)
        self.ev_curve.spread_until(span_s, span_f, np.array([ev_share]), self.as_of)
        self.ac_curve.spread_until(span_s, span_f, np.array([ac_share]), self.as_of)
        return pv_share, ev_share, ac_share

    def figures(self, scope: _Scope, scope_key: str, explicit: dict[str, float]) -> EvmFigures:
        """The EVM figures of one scope, with its labour BAC and fixed costs."""
        result = evm_figures(
            scope.bac,
            scope.labour_pv + scope.pv,
            scope.labour_ev + scope.ev,
            scope.ac,
            method=self.budget.eac_method,
            explicit_eac=explicit.get(scope_key),
        )
        result.labour_bac = scope.labour_bac
        result.fixed_costs = scope.fixed_bac
        return result

    def s_curve(self) -> tuple[list[CostPoint], dt.date]:
        """Weekly PV (and EV, AC up to as_of) points; and the first day of the curve."""
        plan, as_of = self.plan, self.as_of
        pv_end = self.cal.date(int(self.pv_f.max()) - 1) if self.n else plan.project.finish
        fixed_dates = [c.date for c in self.budget.fixed_costs if c.date is not None]
        end = max([plan.project.finish, pv_end, as_of, *fixed_dates])
        start = min(plan.project.start, end)
        points = weekly_points(start, end, [as_of])
        pv_values = self.pv_curve.cumulative(points)
        past = [d for d in points if d <= as_of]
        ev_values = self.ev_curve.cumulative(past)
        ac_values = self.ac_curve.cumulative(past)
        time_phased: list[CostPoint] = []
        for i, day in enumerate(points):
            point = CostPoint(date=day, pv=money(float(pv_values[i])))
            if day <= as_of:
                point.ev = money(float(ev_values[i]))
                point.ac = money(float(ac_values[i]))
            time_phased.append(point)
        return time_phased, start

    def add_warnings(self, explicit: dict[str, float], unknown_milestones: list[str]) -> None:
        """Missing rates, EACs and fixed costs naming milestones the project lacks."""
        missing, warnings = self.missing, self.plan.warnings
        if missing.people:
            people = sorted(missing.people)
            parts = []
            if missing.item_keys:
                parts.append(f"{len(missing.item_keys)} item(s)")
            if missing.entries:
                parts.append(f"{missing.entries} time entry(ies)")
            warnings.append(
                PlanWarning(
                    code="budget.rate_missing",
                    message=(
                        f"no hourly rate for {', '.join(people)}: their {' and '.join(parts)} "
                        "cost 0; add them to [budget] rates or set budget.default_rate"
                    ),
                    keys=sorted(missing.keys),
                )
            )
        unknown_eac = sorted(k[1:] for k in explicit if k.startswith("?"))
        if unknown_eac:
            warnings.append(
                PlanWarning(
                    code="budget.eac_milestone",
                    message=(
                        "budget.milestone_eac names a milestone the project does not have: "
                        + ", ".join(unknown_eac)
                    ),
                )
            )
        if unknown_milestones:
            warnings.append(
                PlanWarning(
                    code="budget.fixed_cost_milestone",
                    message=(
                        "fixed cost(s) name a milestone the project does not have, counted for "
                        f"the whole project: {', '.join(unknown_milestones)}"
                    ),
                )
            )

    def overlay(
        self,
        project_figures: EvmFigures,
        milestones: dict[str, MilestoneEvm],
        time_phased: list[CostPoint],
        forecast: list[CostForecast],
    ) -> BudgetOverlay:
        """The ``plan.overlays.budget`` overlay (see the budget module doc)."""
        baseline, n, from_baseline = self.ctx.baseline, self.n, self.from_baseline
        return BudgetOverlay(
            currency=self.budget.currency,
            as_of=self.as_of,
            pv_basis=(
                "baseline"
                if baseline is not None and from_baseline == n and n
                else "baseline+plan"
                if from_baseline
                else "plan"
            ),
            baseline=baseline.name if baseline is not None else None,
            project=project_figures,
            milestones=milestones,
            fixed_costs=self.project.fixed,
            rate_missing=sorted(self.missing.people),
            time_phased=time_phased,
            eac_forecast=forecast,
        )
