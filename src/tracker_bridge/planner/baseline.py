"""Comparison with a saved baseline: slip, cost change and scope change (the triple constraint).

A baseline is a plan frozen at one moment (:func:`make_baseline`; the store keeps them). The
stage compares the current plan with the baseline given to ``plan()``:

* **Slip** (time), in working days of the current calendar, positive = later than planned:
  per item, current early finish vs the baseline's early finish; per milestone, forecast
  finish vs the baseline's forecast finish; for the project, forecast finish vs the
  baseline's. Items or milestones the baseline does not hold have no slip (``None``).
* **Cost**: the current budget at completion (from the budget overlay, when a budget is
  configured) vs the baseline's BAC — the change in money and percent — plus each item's
  planned cost change.
* **Scope**: items added (in the plan, not in the baseline) and removed (in the baseline, not
  in the plan) and estimate growth in hours and percent, in total and per item. Hours are
  the leaf items' own estimates (summary items are not scheduled themselves and are stored
  without an estimate); a missing estimate counts as 0 h. Total growth = hours of added items
  + growth of kept items − hours of removed items.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt

from tracker_bridge.model import Baseline, BaselineItem, Plan, Snapshot
from tracker_bridge.plan_overlays import (
    BaselineComparison,
    CostChange,
    EstimateChange,
    FinishSlip,
    ItemCostChange,
    ItemSlip,
    MilestoneSlip,
    ScopeChange,
)
from tracker_bridge.planner.overlays import OverlayContext

TOP_SLIPS = 20


def make_baseline(plan: Plan, snapshot: Snapshot, name: str, saved_at: dt.datetime) -> Baseline:
    """Freeze ``plan`` (computed from ``snapshot``) as a baseline called ``name``."""
    by_key = snapshot.item_map()
    items: dict[str, BaselineItem] = {}
    for key, scheduled in plan.items.items():
        work = by_key.get(key)
        items[key] = BaselineItem(
            key=key,
            title=work.title if work is not None else "",
            estimate_hours=(
                work.estimate_hours if work is not None and scheduled.state != "summary" else None
            ),
            early_start=scheduled.early_start,
            early_finish=scheduled.early_finish,
            planned_cost=scheduled.planned_cost,
            milestone=work.milestone if work is not None else None,
        )
    budget = plan.overlays.budget
    return Baseline(
        name=name,
        saved_at=saved_at,
        as_of=plan.project.as_of,
        project_finish=plan.project.finish,
        items=items,
        milestone_finish={m.key: m.finish for m in plan.milestones},
        budget_at_completion=budget.project.bac if budget is not None else None,
    )


_EPOCH = dt.date(1970, 1, 1).toordinal()


def _dates(days: list[dt.date]) -> npt.NDArray[np.datetime64]:
    """datetime64[D] via ordinals (numpy parses date objects slowly)."""
    ordinals = np.fromiter((d.toordinal() for d in days), dtype=np.int64, count=len(days))
    result: npt.NDArray[np.datetime64] = (ordinals - _EPOCH).astype("datetime64[D]")
    return result


def _pct(change: float, base: float | None) -> float | None:
    if base is None or abs(base) < 1e-9:
        return None
    return change / base * 100


def baseline_stage(ctx: OverlayContext) -> None:
    """Fill ``slip_days`` on items and milestones and ``plan.overlays.baseline``."""
    baseline = ctx.baseline
    if baseline is None:
        return
    plan = ctx.plan
    common = [key for key in plan.items if key in baseline.items]
    milestones, project_slip, slipped = _time_slip(ctx, baseline, common)
    plan.overlays.baseline = BaselineComparison(
        name=baseline.name,
        saved_at=baseline.saved_at,
        as_of=baseline.as_of,
        project=FinishSlip(
            baseline_finish=baseline.project_finish,
            finish=plan.project.finish,
            slip_days=project_slip,
        ),
        milestones=milestones,
        items_slipped=len(slipped),
        top_slips=[ItemSlip(key=k, slip_days=days) for days, k in slipped[:TOP_SLIPS]],
        cost=_cost_change(plan, baseline, common),
        scope=_scope_change(ctx, baseline, common),
    )


def _time_slip(
    ctx: OverlayContext, baseline: Baseline, common: list[str]
) -> tuple[dict[str, MilestoneSlip], int | None, list[tuple[int, str]]]:
    """Slip in working days (finish bounds count working days up to a date): fill it on items
    and milestones; the milestone figures, the project's slip and the slipped items, worst
    first."""
    plan = ctx.plan
    cal = ctx.net.calendar
    if common:
        now = cal.finish_bounds(_dates([plan.items[k].early_finish for k in common]))
        then = cal.finish_bounds(_dates([baseline.items[k].early_finish for k in common]))
        for key, days in zip(common, (now - then).tolist(), strict=True):
            plan.items[key].slip_days = int(days)

    def slip(current: dt.date | None, planned: dt.date | None) -> int | None:
        if current is None or planned is None:
            return None
        return cal.finish_bound(current) - cal.finish_bound(planned)

    milestones: dict[str, MilestoneSlip] = {}
    for forecast in plan.milestones:
        planned = baseline.milestone_finish.get(forecast.key)
        forecast.slip_days = slip(forecast.finish, planned)
        milestones[forecast.key] = MilestoneSlip(
            name=forecast.name,
            baseline_finish=planned,
            finish=forecast.finish,
            slip_days=forecast.slip_days,
        )
    project_slip = slip(plan.project.finish, baseline.project_finish)

    slipped = sorted(
        (
            (plan.items[k].slip_days or 0, k)
            for k in common
            if (plan.items[k].slip_days or 0) > 0 and plan.items[k].state != "summary"
        ),
        key=lambda pair: (-pair[0], pair[1]),
    )
    return milestones, project_slip, slipped


def _scope_change(ctx: OverlayContext, baseline: Baseline, common: list[str]) -> ScopeChange:
    """Scope: items added and removed, estimate growth in total and per item."""
    plan = ctx.plan
    by_key = ctx.snapshot.item_map()

    def current_hours(key: str) -> float | None:
        work = by_key.get(key)
        if work is None or plan.items[key].state == "summary":
            return None
        return work.estimate_hours

    added = [k for k in plan.items if k not in baseline.items]
    removed = [k for k in baseline.items if k not in plan.items]
    baseline_total = sum(item.estimate_hours or 0.0 for item in baseline.items.values())
    current_total = sum(current_hours(k) or 0.0 for k in plan.items)
    added_hours = sum(current_hours(k) or 0.0 for k in added)
    removed_hours = sum(baseline.items[k].estimate_hours or 0.0 for k in removed)
    changes: list[EstimateChange] = []
    for key in common:
        before = baseline.items[key].estimate_hours
        after = current_hours(key)
        if (before or 0.0) == (after or 0.0):
            continue
        growth = (after or 0.0) - (before or 0.0)
        changes.append(
            EstimateChange(
                key=key,
                title=by_key[key].title if key in by_key else baseline.items[key].title,
                baseline_hours=before,
                current_hours=after,
                growth_hours=growth,
                growth_pct=_pct(growth, before),
            )
        )
    changes.sort(key=lambda c: (-abs(c.growth_hours), c.key))
    changed_hours = sum(c.growth_hours for c in changes)
    growth_total = current_total - baseline_total
    return ScopeChange(
        items_added=added,
        items_removed=removed,
        baseline_hours=baseline_total,
        current_hours=current_total,
        growth_hours=growth_total,
        growth_pct=_pct(growth_total, baseline_total),
        added_hours=added_hours,
        removed_hours=removed_hours,
        changed_hours=changed_hours,
        estimate_changes=changes,
    )


def _cost_change(plan: Plan, baseline: Baseline, common: list[str]) -> CostChange:
    """Cost: BAC now (from the budget overlay) vs the baseline's, and per item."""
    budget = plan.overlays.budget
    bac_now = budget.project.bac if budget is not None else None
    bac_then = baseline.budget_at_completion
    cost_change = bac_now - bac_then if bac_now is not None and bac_then is not None else None
    cost_changes: list[ItemCostChange] = []
    for key in common:
        before_cost = baseline.items[key].planned_cost
        after_cost = plan.items[key].planned_cost
        if before_cost is None or after_cost is None or plan.items[key].state == "summary":
            continue
        if abs(after_cost - before_cost) > 1e-9:
            cost_changes.append(
                ItemCostChange(
                    key=key,
                    baseline_cost=before_cost,
                    planned_cost=after_cost,
                    change=after_cost - before_cost,
                    change_pct=_pct(after_cost - before_cost, before_cost),
                )
            )
    cost_changes.sort(key=lambda c: (-abs(c.change), c.key))
    return CostChange(
        baseline_bac=bac_then,
        bac=bac_now,
        change=cost_change,
        change_pct=None if cost_change is None else _pct(cost_change, bac_then),
        items=cost_changes,
    )
