"""Budget and earned value: cost of every item and the EVM figures of milestones and project.

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

``plan.overlays["budget"]``: ``currency``, ``as_of``, ``pv_basis`` (``"baseline"``,
``"plan"``, or ``"baseline+plan"`` when items were added after the baseline), ``baseline``
(its name), ``project`` and ``milestones`` (milestone key -> figures, with ``name``): the
figures of :func:`evm_figures` plus ``labour_bac`` and ``fixed_costs``; ``fixed_costs`` (each
with its PV/EV/AC share), ``rate_missing`` (people), ``time_phased`` (``date``, ``pv``, and
``ev``/``ac`` up to ``as_of``; rounded to cents) and ``eac_forecast`` (``date``, ``cost``).
Items get ``planned_cost``, ``planned_value``, ``earned_value`` and ``actual_cost``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tracker_bridge.model import ItemSchedule, PlanWarning, Status, WorkItem
from tracker_bridge.planner.calendar import WorkCalendar
from tracker_bridge.planner.overlays import OverlayContext
from tracker_bridge.settings import BudgetSettings, FixedCost

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

EAC_TYPICAL = "BAC/CPI"
EAC_ATYPICAL = "AC+(BAC-EV)"
EAC_COMBINED = "AC+(BAC-EV)/(CPI*SPI)"
EAC_METHODS = (EAC_TYPICAL, EAC_ATYPICAL, EAC_COMBINED)

PROJECT_SCOPE = ""  # scope key of project-wide figures (milestone keys otherwise)
_EPSILON = 1e-9
_NO_PERSON = "(unassigned)"
_NO_ENTRY_PERSON = "(time entry without a person)"


def _div(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is unknown or the divisor is zero."""
    if numerator is None or denominator is None or abs(denominator) < _EPSILON:
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
) -> dict[str, Any]:
    """The earned value figures of one scope from its BAC, PV, EV and AC (see module doc).

    ``method`` names the headline EAC (one of :data:`EAC_METHODS`); ``explicit_eac`` is an
    EAC given by the project manager, the target of ``tcpi_eac``.
    """
    cv = ev - ac
    sv = ev - pv
    cpi = _div(ev, ac)
    spi = _div(ev, pv)
    remaining = bac - ev
    efficiency = cpi * spi if cpi is not None and spi is not None else None
    combined = _div(remaining, efficiency)
    estimates: dict[str, float | None] = {
        EAC_TYPICAL: _div(bac, cpi),
        EAC_ATYPICAL: ac + remaining,
        EAC_COMBINED: None if combined is None else ac + combined,
    }
    if estimates.get(method) is None:
        method = EAC_ATYPICAL  # the chosen method is undefined (no AC or EV yet)
    eac = estimates[method]
    assert eac is not None  # the atypical estimate always exists
    return {
        "bac": bac,
        "pv": pv,
        "ev": ev,
        "ac": ac,
        "cv": cv,
        "sv": sv,
        "cpi": cpi,
        "spi": spi,
        "cv_pct": _pct(_div(cv, ev)),
        "sv_pct": _pct(_div(sv, pv)),
        "percent_complete": _pct(_div(ev, bac)),
        "percent_spent": _pct(_div(ac, bac)),
        "eac": eac,
        "eac_method": method,
        "etc": eac - ac,
        "vac": bac - eac,
        "tcpi": _div(remaining, bac - ac),
        "eac_explicit": explicit_eac,
        "tcpi_eac": None if explicit_eac is None else _div(remaining, explicit_eac - ac),
        "eac_by_method": {
            name: {
                "eac": value,
                "etc": None if value is None else value - ac,
                "vac": None if value is None else bac - value,
            }
            for name, value in estimates.items()
        },
    }


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
class _Curve:
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
    fixed: list[dict[str, Any]] = field(default_factory=list)

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


_EPOCH = dt.date(1970, 1, 1).toordinal()


def _dates_array(days: Iterable[dt.date]) -> npt.NDArray[np.datetime64]:
    """Dates as datetime64[D] (via ordinals: much faster than numpy parsing date objects)."""
    ordinals = np.fromiter((d.toordinal() for d in days), dtype=np.int64)
    result: npt.NDArray[np.datetime64] = (ordinals - _EPOCH).astype("datetime64[D]")
    return result


def _working_ranges(
    calendar: WorkCalendar, starts: list[dt.date], finishes: list[dt.date]
) -> tuple[IntArray, IntArray]:
    """Working-day index ranges ``[s, f)`` of inclusive date ranges; at least one day each."""
    if not starts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    s = calendar.indices_on_or_after(_dates_array(starts))
    f = calendar.finish_bounds(_dates_array(finishes))
    return s, np.maximum(f, s + 1)


def _weekly(start: dt.date, end: dt.date, extra: Iterable[dt.date]) -> list[dt.date]:
    points = {start + dt.timedelta(days=7 * k) for k in range((end - start).days // 7 + 1)}
    points.add(end)
    points.update(d for d in extra if start <= d <= end)
    return sorted(points)


def _money(value: float) -> float:
    return round(value, 2)


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


def budget_stage(ctx: OverlayContext) -> None:
    """Fill planned cost, PV, EV, AC per item and ``plan.overlays["budget"]``."""
    budget = ctx.settings.budget
    if not budget_configured(budget):
        return
    plan, snapshot, net, as_of = ctx.plan, ctx.snapshot, ctx.net, ctx.as_of
    cal = net.calendar
    rates = RateTable(budget)
    missing = _Missing()
    by_key: dict[str, WorkItem] = snapshot.item_map()
    keys = net.keys
    leaves = [by_key[k] for k in keys]
    n = len(keys)
    as_of_bound = cal.finish_bound(as_of)

    # ---- planned cost of each leaf
    default_hours = ctx.settings.planner.default_estimate_hours
    cost = np.zeros(n, dtype=np.float64)
    for i, item in enumerate(leaves):
        hours = item.estimate_hours if item.estimate_hours is not None else default_hours
        rate = rates.for_item(item.assignee)
        if rate is None:
            if hours > 0:
                missing.item(item.assignee, item.key)
            continue
        cost[i] = hours * rate

    # ---- PV: spread over the baseline's dates when it holds the item, else over the item's
    # full duration from when it was planned to start (see the module doc)
    first_booked: dict[str, dt.date] = {}
    for entry in snapshot.time_entries:
        if entry.item is not None and entry.date <= as_of:
            known = first_booked.get(entry.item)
            if known is None or entry.date < known:
                first_booked[entry.item] = entry.date
    baseline = ctx.baseline
    pv_starts: list[dt.date] = []
    pv_finishes: list[dt.date] = []
    full_duration = np.zeros(n, dtype=bool)
    from_baseline = 0
    for i, (key, item) in enumerate(zip(keys, leaves, strict=True)):
        base = baseline.items.get(key) if baseline is not None else None
        if base is not None:
            pv_starts.append(base.early_start)
            pv_finishes.append(base.early_finish)
            from_baseline += 1
            continue
        shown = plan.items[key]
        begin = shown.early_start
        if shown.state != "done":
            full_duration[i] = True
            for started in (item.start, first_booked.get(key)):
                if started is not None and started < begin:
                    begin = started
        pv_starts.append(begin)
        pv_finishes.append(shown.early_finish)
    pv_s, pv_f = _working_ranges(cal, pv_starts, pv_finishes)
    pv_f = np.where(full_duration, pv_s + np.maximum(net.duration[:n], 1), pv_f)
    pv_days = pv_f - pv_s
    pv_item = cost * np.clip(as_of_bound - pv_s, 0, pv_days) / pv_days if n else cost.copy()

    # ---- EV: planned cost x done ratio (closed = 100 %)
    done = np.array(
        [1.0 if item.status is Status.CLOSED else item.done_ratio / 100 for item in leaves],
        dtype=np.float64,
    )
    ev_item = cost * done

    # ---- AC: booked hours x rate, up to as_of
    ac_by_key: dict[str, float] = defaultdict(float)
    booked: dict[str, dict[dt.date, float]] = defaultdict(lambda: defaultdict(float))
    has_entries: set[str] = set()
    ac_curve = _Curve(cal)
    ac_project_entries = 0.0
    ac_scope_entries: dict[str, float] = defaultdict(float)
    for entry in snapshot.time_entries:
        if entry.item is not None:
            has_entries.add(entry.item)
        if entry.date > as_of:
            continue
        owner = by_key.get(entry.item) if entry.item is not None else None
        if owner is not None:
            booked[owner.key][entry.date] += entry.hours  # when the work was done (EV curve)
        rate = rates.for_entry(entry.person, entry.activity)
        if rate is None:
            if entry.hours > 0:
                missing.entry(entry.person, entry.item)
            continue
        amount = entry.hours * rate
        ac_project_entries += amount
        ac_curve.lump(entry.date, amount)
        if owner is not None:
            ac_by_key[owner.key] += amount
            if owner.milestone is not None:
                ac_scope_entries[owner.milestone] += amount

    # Items with spent hours but no time entry at all: spent hours x the assignee's rate.
    spent_only: list[tuple[str, float]] = []
    for item in snapshot.items:
        if item.spent_hours > 0 and item.key not in has_entries:
            rate = rates.for_item(item.assignee)
            if rate is None:
                missing.item(item.assignee, item.key)
                continue
            amount = item.spent_hours * rate
            ac_by_key[item.key] += amount
            ac_project_entries += amount
            if item.milestone is not None:
                ac_scope_entries[item.milestone] += amount
            spent_only.append((item.key, amount))

    ac_item = np.array([ac_by_key.get(k, 0.0) for k in keys], dtype=np.float64)

    # ---- per-item fields (leaves, then summaries as sums)
    for i, key in enumerate(keys):
        _fill(plan.items[key], cost[i], pv_item[i], ev_item[i], ac_item[i])
    for key, below in net.summaries.items():
        if key in plan.items and below:
            idx = np.array(below, dtype=np.int64)
            own_ac = ac_by_key.get(key, 0.0)
            _fill(
                plan.items[key],
                float(cost[idx].sum()),
                float(pv_item[idx].sum()),
                float(ev_item[idx].sum()),
                float(ac_item[idx].sum()) + own_ac,
            )

    # ---- scopes: milestones and the project
    scopes: dict[str, _Scope] = defaultdict(_Scope)
    project = scopes[PROJECT_SCOPE]
    milestone_of = [item.milestone for item in leaves]
    project.labour_bac = float(cost.sum())
    project.labour_pv = float(pv_item.sum())
    project.labour_ev = float(ev_item.sum())
    milestone_keys = sorted({ms for ms in milestone_of if ms is not None})
    if milestone_keys:
        position = {ms: j for j, ms in enumerate(milestone_keys)}
        member = np.array([position.get(ms, -1) if ms else -1 for ms in milestone_of])
        inside = member >= 0
        width = len(milestone_keys)
        sums = [
            np.bincount(member[inside], weights=values[inside], minlength=width).tolist()
            for values in (cost, pv_item, ev_item)
        ]
        for j, ms in enumerate(milestone_keys):
            scope = scopes[ms]
            scope.labour_bac, scope.labour_pv, scope.labour_ev = (
                sums[0][j],
                sums[1][j],
                sums[2][j],
            )
    project.ac += ac_project_entries
    for ms_key, amount in ac_scope_entries.items():
        scopes[ms_key].ac += amount

    # Curves for the S-curve: PV over the PV ranges, EV reconstructed, AC from entries.
    pv_curve = _Curve(cal)
    pv_curve.spread(pv_s, pv_f, cost)
    ev_curve = _Curve(cal)
    shown_s, shown_f = _working_ranges(
        cal, [plan.items[k].early_start for k in keys], [plan.items[k].early_finish for k in keys]
    )
    hours_based = np.zeros(n, dtype=bool)
    for i, key in enumerate(keys):
        days = booked.get(key)
        if days and ev_item[i]:
            total = sum(days.values())
            if total > 0:
                hours_based[i] = True
                for day, hours in days.items():
                    ev_curve.lump(day, float(ev_item[i]) * hours / total)
    rest = ~hours_based
    ev_curve.spread_until(shown_s[rest], shown_f[rest], ev_item[rest], as_of)
    index_of = {k: i for i, k in enumerate(keys)}
    for key, amount in spent_only:
        at = index_of.get(key)
        if at is None:
            ac_curve.lump(as_of, amount)
        else:
            ac_curve.spread_until(
                shown_s[at : at + 1], shown_f[at : at + 1], np.array([amount]), as_of
            )

    # ---- fixed costs
    milestone_names = {m.name: m.key for m in snapshot.milestones}
    folded_names = {m.name.casefold(): m.key for m in snapshot.milestones}
    unknown_milestones: list[str] = []
    for fixed in budget.fixed_costs:
        fixed_scope = _resolve_fixed_scope(fixed, milestone_names, folded_names)
        if fixed_scope is None:
            unknown_milestones.append(f"{fixed.name} ({fixed.milestone})")
            fixed_scope = PROJECT_SCOPE
        owners = [PROJECT_SCOPE] if fixed_scope == PROJECT_SCOPE else [PROJECT_SCOPE, fixed_scope]
        scope = scopes[fixed_scope]
        if fixed.date is not None:
            incurred = fixed.amount if fixed.date <= as_of else 0.0
            pv_share = ev_share = ac_share = incurred
            pv_curve.lump(fixed.date, fixed.amount)
            ev_curve.lump(fixed.date, incurred)
            ac_curve.lump(fixed.date, incurred)
        else:
            members = (
                np.ones(n, dtype=bool)
                if fixed_scope == PROJECT_SCOPE
                else np.array([ms == fixed_scope for ms in milestone_of], dtype=bool)
            )
            if members.any():
                span_s = np.array([int(pv_s[members].min())], dtype=np.int64)
                span_f = np.array([int(pv_f[members].max())], dtype=np.int64)
            else:
                span_s = np.array([cal.index_on_or_after(plan.project.start)], dtype=np.int64)
                span_f = np.array([cal.finish_bound(plan.project.finish)], dtype=np.int64)
                span_f = np.maximum(span_f, span_s + 1)
            days_total = int(span_f[0] - span_s[0])
            pv_share = fixed.amount * min(max(as_of_bound - int(span_s[0]), 0), days_total)
            pv_share /= days_total
            earned = _div(scope.labour_ev, scope.labour_bac)
            ev_share = fixed.amount * earned if earned is not None else pv_share
            ac_share = ev_share
            amount_arr = np.array([fixed.amount], dtype=np.float64)
            pv_curve.spread(span_s, span_f, amount_arr)
            ev_curve.spread_until(span_s, span_f, np.array([ev_share]), as_of)
            ac_curve.spread_until(span_s, span_f, np.array([ac_share]), as_of)
        record = {
            "name": fixed.name,
            "amount": fixed.amount,
            "milestone": None if fixed_scope == PROJECT_SCOPE else fixed_scope,
            "date": fixed.date,
            "pv": pv_share,
            "ev": ev_share,
            "ac": ac_share,
        }
        for holder in owners:
            target = scopes[holder]
            target.fixed_bac += fixed.amount
            target.pv += pv_share
            target.ev += ev_share
            target.ac += ac_share
            target.fixed.append(record)

    # ---- figures
    explicit = _explicit_eacs(budget, milestone_names, folded_names)

    def figures(scope: _Scope, scope_key: str) -> dict[str, Any]:
        result = evm_figures(
            scope.bac,
            scope.labour_pv + scope.pv,
            scope.labour_ev + scope.ev,
            scope.ac,
            method=budget.eac_method,
            explicit_eac=explicit.get(scope_key),
        )
        result["labour_bac"] = scope.labour_bac
        result["fixed_costs"] = scope.fixed_bac
        return result

    project_figures = figures(project, PROJECT_SCOPE)
    milestones: dict[str, Any] = {}
    for milestone in snapshot.milestones:
        values = figures(scopes.get(milestone.key, _Scope()), milestone.key)
        milestones[milestone.key] = {"name": milestone.name, **values}

    # ---- S-curve and forecast
    pv_end = cal.date(int(pv_f.max()) - 1) if n else plan.project.finish
    fixed_dates = [c.date for c in budget.fixed_costs if c.date is not None]
    end = max([plan.project.finish, pv_end, as_of, *fixed_dates])
    start = min(plan.project.start, end)
    points = _weekly(start, end, [as_of])
    pv_values = pv_curve.cumulative(points)
    past = [d for d in points if d <= as_of]
    ev_values = ev_curve.cumulative(past)
    ac_values = ac_curve.cumulative(past)
    time_phased: list[dict[str, Any]] = []
    for i, day in enumerate(points):
        point: dict[str, Any] = {"date": day, "pv": _money(float(pv_values[i]))}
        if day <= as_of:
            point["ev"] = _money(float(ev_values[i]))
            point["ac"] = _money(float(ac_values[i]))
        time_phased.append(point)

    forecast = _eac_forecast(
        cal,
        as_of,
        plan.project.finish,
        start,
        project_figures,
        cost * (1 - done),
        shown_s,
        shown_f,
    )

    # ---- warnings
    if missing.people:
        people = sorted(missing.people)
        parts = []
        if missing.item_keys:
            parts.append(f"{len(missing.item_keys)} item(s)")
        if missing.entries:
            parts.append(f"{missing.entries} time entry(ies)")
        plan.warnings.append(
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
        plan.warnings.append(
            PlanWarning(
                code="budget.eac_milestone",
                message=(
                    "budget.milestone_eac names a milestone the project does not have: "
                    + ", ".join(unknown_eac)
                ),
            )
        )
    if unknown_milestones:
        plan.warnings.append(
            PlanWarning(
                code="budget.fixed_cost_milestone",
                message=(
                    "fixed cost(s) name a milestone the project does not have, counted for "
                    f"the whole project: {', '.join(unknown_milestones)}"
                ),
            )
        )

    plan.overlays["budget"] = {
        "currency": budget.currency,
        "as_of": as_of,
        "pv_basis": (
            "baseline"
            if baseline is not None and from_baseline == n and n
            else "baseline+plan"
            if from_baseline
            else "plan"
        ),
        "baseline": baseline.name if baseline is not None else None,
        "project": project_figures,
        "milestones": milestones,
        "fixed_costs": project.fixed,
        "rate_missing": sorted(missing.people),
        "time_phased": time_phased,
        "eac_forecast": forecast,
    }


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
    figures: dict[str, Any],
    remaining_cost: FloatArray,
    shown_s: IntArray,
    shown_f: IntArray,
) -> list[dict[str, Any]]:
    """Cost from AC (on as_of) to EAC (on the forecast finish) along the remaining work."""
    ac = float(figures["ac"])
    eac = float(figures["eac"])
    end = max(finish, as_of)
    days = [as_of, *(d for d in _weekly(start, end, [end]) if d > as_of)]
    if len(days) == 1:  # nothing left on the calendar: the rest is forecast on as_of
        days.append(end)
    curve = _Curve(cal)
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
            share = float(reached[i]) / total if total > _EPSILON else 0.0
        result.append({"date": day, "cost": _money(ac + (eac - ac) * share)})
    return result
