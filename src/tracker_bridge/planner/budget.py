"""Budget and earned value: cost of every item and the EVM figures of milestones and project.

This module holds the rules: rates, the EVM formulas and the cumulative cost curves; the
overlay stage that applies them to a plan is :mod:`tracker_bridge.planner.budget_stage`.
The stage runs only when a budget is configured (``[budget]`` with a rate, an activity rate, a
positive ``default_rate`` or a fixed cost); otherwise the plan carries no cost figures at all
rather than a page of zeros.

How every number is made (all money in ``budget.currency``):

* **Rates.** An item's planned cost uses the hourly rate of its *assignee*
  (``budget.rates``), else ``budget.default_rate``. A time entry's actual cost uses the rate
  of its *person*, else the rate of its *activity* (``budget.activity_rates``), else the
  default rate. Names match exactly, then ignoring case. A ``default_rate`` of 0 means "no
  default": work without a rate costs 0 and the plan gets a ``budget.rate_missing`` warning
  naming the people.
* **BAC** (budget at completion) = Σ estimate hours × rate over the leaf items (an item
  without an estimate is costed with ``planner.default_estimate_hours``, as it is scheduled)
  + the fixed costs. Summary (parent) items are not costed themselves: their figures are the
  sums of their leaves, so nothing is counted twice. A fixed cost belongs to the milestone
  whose *name* it gives, else to the project as a whole.
* **PV** (planned value) is time-phased: each item's planned cost is spread evenly over the
  working days (calendar work week minus holidays) from its early start to its early finish
  in the *baseline* when one is given and holds the item. Without one, an open item was
  planned over its full duration (not just the remaining work the plan shows) from the
  earliest of its scheduled start, its own start date and its first booked day: an item on
  plan then has SPI 1.0 (the status date is not counted once as done and again as still to
  do), and an item that should have started days ago is owed the value of those days. A
  closed item keeps its actual dates. PV at the status date is the share of those days on
  or before ``as_of`` (the status date counts as worked, like a booking on it). Costs use
  the *current* estimates and rates; a baseline only fixes *when* the value was planned
  (the baseline overlay compares BAC with the baseline's).
* **EV** (earned value) = planned cost × done ratio; a closed item has earned 100 %.
* **AC** (actual cost) = Σ hours × rate of the time entries dated on or before ``as_of``. An
  item with no time entry at all but ``spent_hours`` (trackers without time entries, files
  written by hand) is costed as spent hours × its assignee's rate.
* **Fixed costs.** A *dated* fixed cost is planned, earned and paid on its date: it adds to
  PV, EV and AC once ``date <= as_of`` (so it never causes a variance). An *undated* one is
  spread evenly over the working days from the first planned start to the last planned finish
  of its milestone's items (the whole project for a project-wide cost), like labour; it is
  earned in step with the labour of that milestone (its EV share = labour EV / labour BAC, the
  PV share when there is no labour cost) and assumed paid as earned (AC = its EV).
* **Indices**, per milestone and for the project: CV = EV − AC, SV = EV − PV, CPI = EV / AC,
  SPI = EV / PV, CV% = CV / EV, SV% = SV / PV, and the estimates at completion of three
  methods — ``BAC/CPI`` (typical: the cost efficiency so far continues), ``AC+(BAC-EV)``
  (atypical: the rest costs what was budgeted) and ``AC+(BAC-EV)/(CPI*SPI)`` (cost and
  schedule efficiency both weigh on the rest) — each with ETC = EAC − AC and VAC = BAC − EAC.
  ``eac`` is the one of ``budget.eac_method`` (default the typical one) and ``eac_method``
  names it; when that one is undefined (no actual cost or no earned value yet) the atypical
  one is used and named instead. ``tcpi`` = (BAC − EV) / (BAC − AC), the efficiency needed
  to finish on budget; ``tcpi_eac`` = (BAC − EV) / (EAC − AC) to finish on an *explicit* EAC
  (``budget.project_eac``, ``budget.milestone_eac`` by milestone name; reported as
  ``eac_explicit``), None when none is given — against a computed EAC it would only
  restate CPI. Any division by zero gives ``None``, never an error (PMBOK Guide 6th ed.,
  §7.4.2.2).
* **S-curve** (``time_phased``): weekly points from the project start to the last planned
  day (and at least to ``as_of``), plus a point on ``as_of``. PV is the full curve; AC and EV
  stop at ``as_of``. Past EV is reconstructed (the tracker keeps no history of done ratios):
  an item's EV is spread over the days hours were booked on it, else evenly over its shown
  working days up to ``as_of`` (a closed item's actual dates), else it sits on ``as_of``; the
  point on ``as_of`` is exact.
* **EAC forecast** (``eac_forecast``): cost from AC on ``as_of`` to EAC on the forecast
  finish, following the current schedule of the remaining work (each open item's remaining
  cost spread over its current dates).

``plan.overlays.budget``: ``currency``, ``as_of``, ``pv_basis`` (``"baseline"``,
``"plan"``, or ``"baseline+plan"`` when items were added after the baseline), ``baseline``
(its name), ``project`` and ``milestones`` (milestone key -> figures, with ``name``): the
figures of :func:`evm_figures` plus ``labour_bac`` and ``fixed_costs``; ``fixed_costs`` (each
with its PV/EV/AC share), ``rate_missing`` (people), ``time_phased`` (``date``, ``pv``, and
``ev``/``ac`` up to ``as_of``; rounded to cents) and ``eac_forecast`` (``date``, ``cost``).
Items get ``planned_cost``, ``planned_value``, ``earned_value`` and ``actual_cost``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tracker_bridge.plan_overlays import EacEstimate, EvmFigures
from tracker_bridge.planner.calendar import WorkCalendar
from tracker_bridge.settings import BudgetSettings

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

EAC_TYPICAL = "BAC/CPI"
EAC_ATYPICAL = "AC+(BAC-EV)"
EAC_COMBINED = "AC+(BAC-EV)/(CPI*SPI)"
EAC_METHODS = (EAC_TYPICAL, EAC_ATYPICAL, EAC_COMBINED)

PROJECT_SCOPE = ""  # scope key of project-wide figures (milestone keys otherwise)
EPSILON = 1e-9


def div(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is unknown or the divisor is zero."""
    if numerator is None or denominator is None or abs(denominator) < EPSILON:
        return None
    return numerator / denominator


def evm_figures(
    bac: float,
    pv: float,
    ev: float,
    ac: float,
    *,
    method: str = EAC_TYPICAL,
    explicit_eac: float | None = None,
) -> EvmFigures:
    """The earned value figures of one scope from its BAC, PV, EV and AC (see module doc).

    ``method`` names the headline EAC (one of :data:`EAC_METHODS`); ``explicit_eac`` is an
    EAC given by the project manager, the target of ``tcpi_eac``.
    """
    cv = ev - ac
    sv = ev - pv
    cpi = div(ev, ac)
    spi = div(ev, pv)
    remaining = bac - ev
    efficiency = cpi * spi if cpi is not None and spi is not None else None
    combined = div(remaining, efficiency)
    estimates: dict[str, float | None] = {
        EAC_TYPICAL: div(bac, cpi),
        EAC_ATYPICAL: ac + remaining,
        EAC_COMBINED: None if combined is None else ac + combined,
    }
    if estimates.get(method) is None:
        method = EAC_ATYPICAL  # the chosen method is undefined (no AC or EV yet)
    eac = estimates[method]
    assert eac is not None  # the atypical estimate always exists
    return EvmFigures(
        bac=bac,
        pv=pv,
        ev=ev,
        ac=ac,
        cv=cv,
        sv=sv,
        cpi=cpi,
        spi=spi,
        cv_pct=_pct(div(cv, ev)),
        sv_pct=_pct(div(sv, pv)),
        percent_complete=_pct(div(ev, bac)),
        percent_spent=_pct(div(ac, bac)),
        eac=eac,
        eac_method=method,
        etc=eac - ac,
        vac=bac - eac,
        tcpi=div(remaining, bac - ac),
        eac_explicit=explicit_eac,
        tcpi_eac=None if explicit_eac is None else div(remaining, explicit_eac - ac),
        eac_by_method={
            name: EacEstimate(
                eac=value,
                etc=None if value is None else value - ac,
                vac=None if value is None else bac - value,
            )
            for name, value in estimates.items()
        },
    )


def _pct(fraction: float | None) -> float | None:
    return None if fraction is None else fraction * 100


def budget_configured(budget: BudgetSettings) -> bool:
    """True when some rate or fixed cost is configured (else the stage adds nothing)."""
    return bool(
        budget.rates or budget.activity_rates or budget.default_rate > 0 or budget.fixed_costs
    )


class RateTable:
    """Hourly rates: per person, per activity, else the default (0 means none)."""

    def __init__(self, budget: BudgetSettings) -> None:
        self._people = dict(budget.rates)
        self._people_folded = {name.casefold(): rate for name, rate in budget.rates.items()}
        self._activities = dict(budget.activity_rates)
        self._activities_folded = {
            name.casefold(): rate for name, rate in budget.activity_rates.items()
        }
        self.default = budget.default_rate if budget.default_rate > 0 else None

    @staticmethod
    def _find(name: str | None, exact: dict[str, float], folded: dict[str, float]) -> float | None:
        if name is None:
            return None
        if name in exact:
            return exact[name]
        return folded.get(name.casefold())

    def person(self, name: str | None) -> float | None:
        return self._find(name, self._people, self._people_folded)

    def activity(self, name: str | None) -> float | None:
        return self._find(name, self._activities, self._activities_folded)

    def for_item(self, assignee: str | None) -> float | None:
        """Rate of planned work: the assignee's, else the default."""
        rate = self.person(assignee)
        return self.default if rate is None else rate

    def for_entry(self, person: str | None, activity: str | None) -> float | None:
        """Rate of booked time: the person's, else the activity's, else the default."""
        rate = self.person(person)
        if rate is None:
            rate = self.activity(activity)
        return self.default if rate is None else rate


@dataclass
class CostCurve:
    """A cumulative cost curve: lumps on dates plus even spreads over working-day ranges."""

    calendar: WorkCalendar
    lump_days: list[int] = field(default_factory=list)  # date ordinals
    lump_amounts: list[float] = field(default_factory=list)
    spread_start: list[IntArray] = field(default_factory=list)
    spread_finish: list[IntArray] = field(default_factory=list)
    spread_amount: list[FloatArray] = field(default_factory=list)

    def lump(self, day: dt.date, amount: float) -> None:
        if amount:
            self.lump_days.append(day.toordinal())
            self.lump_amounts.append(amount)

    def spread(self, start: IntArray, finish: IntArray, amount: FloatArray) -> None:
        """Spread each amount evenly over working days ``[start, finish)`` (finish > start)."""
        keep = amount != 0
        if keep.any():
            self.spread_start.append(start[keep])
            self.spread_finish.append(finish[keep])
            self.spread_amount.append(amount[keep])

    def spread_until(
        self, start: IntArray, finish: IntArray, amount: FloatArray, as_of: dt.date
    ) -> None:
        """Spread over the days of ``[start, finish)`` up to ``as_of``; lump on it if none."""
        limit = self.calendar.finish_bound(as_of)
        clipped = np.minimum(finish, limit)
        inside = clipped > start
        self.spread(start[inside], clipped[inside], amount[inside])
        self.lump(as_of, float(amount[~inside].sum()))

    def cumulative(self, days: Sequence[dt.date]) -> FloatArray:
        """The amount reached on or before each of ``days``."""
        result = np.zeros(len(days), dtype=np.float64)
        if not days:
            return result
        if self.lump_days:
            order = np.argsort(np.array(self.lump_days, dtype=np.int64), kind="stable")
            sorted_days = np.array(self.lump_days, dtype=np.int64)[order]
            running = np.concatenate(
                [[0.0], np.cumsum(np.array(self.lump_amounts, dtype=np.float64)[order])]
            )
            wanted = np.array([d.toordinal() for d in days], dtype=np.int64)
            result += running[np.searchsorted(sorted_days, wanted, side="right")]
        if self.spread_amount:
            start = np.concatenate(self.spread_start)
            finish = np.concatenate(self.spread_finish)
            amount = np.concatenate(self.spread_amount)
            bounds = self.calendar.finish_bounds(_dates_array(days))
            result += _spread_sums(start, finish, amount, bounds)
        return result


def _spread_sums(
    start: IntArray, finish: IntArray, amount: FloatArray, bounds: IntArray
) -> FloatArray:
    """For each bound b: sum of amount x clip(b - start, 0, finish - start) / (finish - start).

    With daily rate r = amount / (finish - start), an item contributes r (b - s) once b > s,
    minus r (b - f) once b > f; prefix sums over the sorted starts and finishes give every
    bound in O((items + bounds) log items) instead of items x bounds.
    """
    rate = amount / (finish - start)

    def ramps(edges: IntArray) -> FloatArray:
        order = np.argsort(edges, kind="stable")
        sorted_edges = edges[order]
        rates = np.concatenate([[0.0], np.cumsum(rate[order])])
        weighted = np.concatenate([[0.0], np.cumsum((rate * edges)[order])])
        k = np.searchsorted(sorted_edges, bounds, side="left")  # edges strictly below b
        sums: FloatArray = bounds * rates[k] - weighted[k]
        return sums

    return ramps(start) - ramps(finish)


_EPOCH = dt.date(1970, 1, 1).toordinal()


def _dates_array(days: Iterable[dt.date]) -> npt.NDArray[np.datetime64]:
    """Dates as datetime64[D] (via ordinals: much faster than numpy parsing date objects)."""
    ordinals = np.fromiter((d.toordinal() for d in days), dtype=np.int64)
    result: npt.NDArray[np.datetime64] = (ordinals - _EPOCH).astype("datetime64[D]")
    return result


def working_ranges(
    calendar: WorkCalendar, starts: list[dt.date], finishes: list[dt.date]
) -> tuple[IntArray, IntArray]:
    """Working-day index ranges ``[s, f)`` of inclusive date ranges; at least one day each."""
    if not starts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    s = calendar.indices_on_or_after(_dates_array(starts))
    f = calendar.finish_bounds(_dates_array(finishes))
    return s, np.maximum(f, s + 1)


def weekly_points(start: dt.date, end: dt.date, extra: Iterable[dt.date]) -> list[dt.date]:
    points = {start + dt.timedelta(days=7 * k) for k in range((end - start).days // 7 + 1)}
    points.add(end)
    points.update(d for d in extra if start <= d <= end)
    return sorted(points)


def money(value: float) -> float:
    return round(value, 2)
