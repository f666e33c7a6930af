"""The risk overlay: Monte Carlo forecasts and a risk score with reasons for every item.

``risk_stage`` runs :func:`~tracker_bridge.planner.montecarlo.simulate` (``risk.seed``,
``risk.distribution``; at most ``risk.trials`` trials, fewer once every P50/P80/P95 finish is
known to ``risk.precision_days`` working days) and fills

* per item: ``criticality`` (share of simulated schedules in which the item is critical,
  0..1, rounded to 3 places) and ``p80_finish``; closed items: 0 and their actual finish;
  a summary (parent) item: the highest criticality of its leaves and the P80 of the latest
  of its leaves' finishes;
* per milestone: ``p50``, ``p80``, ``p95``, ``mean_finish`` (the working day nearest the
  mean finish), ``std_days`` (its standard deviation in working days, 2 places) and
  ``probability_on_time`` (finished on or before its due date);
* ``plan.overlays.risk``: ``trials`` (used), ``max_trials``, ``precision_days``,
  ``seed``, ``distribution``, ``project`` (P50/P80/P95, ``mean`` and ``std_days`` as for
  milestones, and the probability of finishing by the latest milestone due date, ``None``
  without one), ``default_spread_items`` (items simulated with the default spread because
  they have no three-point estimate), ``contingency`` (expected money of the open risks,
  the sum of probability x impact cost), ``top_risks`` (the 10 highest-scored items with
  their reasons), ``open_risks`` (``register`` in the JSON: the open risks, their expected
  delay and cost) and ``finish_histogram`` (how many trials finish the project on each
  date, for charts).

With no open item there is nothing to simulate: the stage still scores nothing, reports the
contingency and leaves the forecasts empty (``trials`` 0).

**Risk score** (0..100) of an open leaf item: each condition that holds adds its points and
one reason in plain words; the sum is capped at 100. Closed items score 0; a summary item
scores as its highest-scored leaf (and names it).

* 30 — negative total float: the item cannot meet a deadline (its own, its parent's or its
  milestone's due date);
* 25 — open past its own due date (``due < as_of``);
* 20 — high criticality: critical in at least ``risk.high_criticality`` of the trials;
* 15 — waits on a late predecessor (one per predecessor, named): a predecessor, of the item
  or of a parent, that is open past its due date or whose early finish is after it;
* 15 — spent more than estimated (``spent_hours > estimate_hours``);
* 10 — near-critical: ``0 < total float <= risk.near_critical_days``;
* 10 — no estimate (neither hours nor a three-point range; planned with the default);
* 10 — no update for more than ``risk.stale_days`` days (skipped when the tracker gave no
  update time);
* 5 + 25 x probability — threatened by an open risk (per risk, named with its chance and
  impact; a risk on a parent threatens its leaves).
"""

from __future__ import annotations

from tracker_bridge.model import ItemSchedule, PlanWarning, Risk, Status, WorkItem
from tracker_bridge.plan_overlays import (
    FinishCount,
    RegisteredRisk,
    RiskForecast,
    RiskOverlay,
    TopRisk,
)
from tracker_bridge.planner.montecarlo import Forecast, SimulationResult, simulate
from tracker_bridge.planner.overlays import OverlayContext

WEIGHTS: dict[str, int] = {
    "negative_float": 30,
    "past_due": 25,
    "high_criticality": 20,
    "late_predecessor": 15,
    "over_estimate": 15,
    "near_critical": 10,
    "no_estimate": 10,
    "stale": 10,
    "risk_base": 5,  # a threatening risk scores risk_base + risk_probability x its probability
    "risk_probability": 25,
}
TOP_RISKS = 10


def risk_stage(ctx: OverlayContext) -> None:
    """Fill criticality, P80 finish, risk score and reasons; milestone and project forecasts."""
    snapshot, net, settings = ctx.snapshot, ctx.net, ctx.settings
    open_risks = [r for r in snapshot.risks if r.status is Status.OPEN]
    result: SimulationResult | None = None
    if net.keys and not bool(net.fixed[: len(net.keys)].all()):
        result = simulate(
            snapshot, net, settings, level=ctx.schedule.levels.level, stop_when_stable=True
        )
    _fill_forecasts(ctx, result)
    ranked = _fill_scores(ctx, open_risks)
    ctx.plan.overlays.risk = _risk_overlay(ctx, result, open_risks, ranked)


def _fill_forecasts(ctx: OverlayContext, result: SimulationResult | None) -> None:
    """Criticality and P80 finish of items (summaries from their leaves), milestone forecasts."""
    plan, net = ctx.plan, ctx.net
    if result is not None:
        for i, key in enumerate(result.keys):
            shown = plan.items[key]
            shown.criticality = round(float(result.criticality[i]), 3)
            shown.p80_finish = result.p80_finish[i]
    else:
        for key in net.keys:
            plan.items[key].criticality = 0.0
            plan.items[key].p80_finish = plan.items[key].early_finish
    for key, leaves in net.summaries.items():
        if not leaves or key not in plan.items:
            continue
        summary = plan.items[key]
        summary.criticality = max(plan.items[net.keys[i]].criticality or 0.0 for i in leaves)
        forecast = result.summaries.get(key) if result is not None else None
        summary.p80_finish = (
            forecast.p80
            if forecast is not None and forecast.p80 is not None
            else max(plan.items[net.keys[i]].p80_finish or summary.early_finish for i in leaves)
        )
    if result is not None:
        for milestone in plan.milestones:
            found = result.milestones.get(milestone.key)
            if found is None or found.p50 is None:
                continue
            milestone.p50, milestone.p80, milestone.p95 = found.p50, found.p80, found.p95
            milestone.mean_finish, milestone.std_days = found.mean, _std(found.std_days)
            milestone.probability_on_time = _probability(found.probability_on_time)


def _fill_scores(ctx: OverlayContext, open_risks: list[Risk]) -> list[ItemSchedule]:
    """Risk score and reasons of every item (a summary takes its worst leaf's), a warning for
    risks naming unknown items; the scored leaves, highest first."""
    plan, net = ctx.plan, ctx.net
    scorer = _Scorer(ctx, open_risks)
    leaf_keys = set(net.keys)
    for key in net.keys:
        score, reasons = scorer.score(key)
        plan.items[key].risk_score = score
        plan.items[key].risk_reasons = reasons
    for key, leaves in net.summaries.items():
        if not leaves or key not in plan.items:
            continue
        worst = max(leaves, key=lambda i: (plan.items[net.keys[i]].risk_score or 0, -i))
        worst_key = net.keys[worst]
        top = plan.items[worst_key].risk_score or 0
        plan.items[key].risk_score = top
        plan.items[key].risk_reasons = [f"highest-scored item {worst_key} ({top})"] if top else []
    ranked = sorted(
        (item for key, item in plan.items.items() if key in leaf_keys and item.risk_score),
        key=lambda item: (-(item.risk_score or 0), item.key),
    )

    unknown = sorted({t for r in open_risks for t in r.threatens if t not in scorer.keys})
    if unknown:
        plan.warnings.append(
            PlanWarning(
                code="risk.unknown_item",
                message=f"{len(unknown)} item(s) named by open risks are not in the snapshot",
                keys=unknown,
            )
        )
    return ranked


def _risk_overlay(
    ctx: OverlayContext,
    result: SimulationResult | None,
    open_risks: list[Risk],
    ranked: list[ItemSchedule],
) -> RiskOverlay:
    """The ``plan.overlays.risk`` overlay (see the module doc)."""
    cfg = ctx.settings.risk
    milestones = ctx.snapshot.milestones
    latest_due = max((m.due for m in milestones if m.due is not None), default=None)
    project = result.project if result is not None else Forecast(None, None, None, None, latest_due)
    return RiskOverlay(
        trials=result.trials if result is not None else 0,
        max_trials=cfg.trials,
        precision_days=cfg.precision_days,
        seed=cfg.seed,
        distribution=cfg.distribution,
        project=RiskForecast(
            p50=project.p50,
            p80=project.p80,
            p95=project.p95,
            probability_on_time=_probability(project.probability_on_time),
            due=project.due,
            mean=project.mean,
            std_days=_std(project.std_days),
        ),
        default_spread_items=result.default_spread_items if result is not None else [],
        contingency=round(sum(r.probability * r.impact_cost for r in open_risks), 2),
        top_risks=[
            TopRisk(key=item.key, score=item.risk_score or 0, reasons=list(item.risk_reasons))
            for item in ranked[:TOP_RISKS]
        ],
        open_risks=[_register_entry(r) for r in open_risks],
        finish_histogram=[
            FinishCount(date=day, trials=count)
            for day, count in (result.finish_histogram if result is not None else [])
        ],
    )


def _probability(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _std(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _register_entry(risk: Risk) -> RegisteredRisk:
    return RegisteredRisk(
        key=risk.key,
        title=risk.title,
        probability=risk.probability,
        impact_days=risk.impact_days,
        impact_cost=risk.impact_cost,
        expected_days=round(risk.probability * risk.impact_days, 2),
        expected_cost=round(risk.probability * risk.impact_cost, 2),
        threatens=list(risk.threatens),
    )


def _days(n: float) -> str:
    return f"{n:g} working day" + ("" if n == 1 else "s")


class _Scorer:
    """The conditions of the module docstring, evaluated for one leaf item at a time."""

    def __init__(self, ctx: OverlayContext, open_risks: list[Risk]) -> None:
        self.ctx = ctx
        self.items: dict[str, WorkItem] = ctx.snapshot.item_map()
        self.keys = set(self.items)
        self.predecessors: dict[str, list[str]] = {}
        for dep in ctx.snapshot.dependencies:
            self.predecessors.setdefault(dep.successor, []).append(dep.predecessor)
        self.threats: dict[str, list[Risk]] = {}
        for risk in open_risks:
            if risk.probability <= 0:
                continue
            for target in risk.threatens:
                self.threats.setdefault(target, []).append(risk)

    def _ancestry(self, key: str) -> list[str]:
        """The item and its parents, nearest first."""
        chain = [key]
        parent = self.items[key].parent
        while parent is not None and parent not in chain:
            chain.append(parent)
            parent = self.items[parent].parent
        return chain

    def _late(self, key: str) -> str | None:
        """Why predecessor ``key`` is late, or None."""
        item = self.items.get(key)
        shown = self.ctx.plan.items.get(key)
        if item is None or shown is None or item.status is Status.CLOSED or item.due is None:
            return None
        if item.due < self.ctx.as_of:
            return f"due {item.due.isoformat()}, still open"
        if shown.early_finish > item.due:
            return f"due {item.due.isoformat()}, forecast {shown.early_finish.isoformat()}"
        return None

    def score(self, key: str) -> tuple[int, list[str]]:
        item = self.items[key]
        shown: ItemSchedule = self.ctx.plan.items[key]
        if item.status is Status.CLOSED:
            return 0, []
        cfg = self.ctx.settings.risk
        as_of = self.ctx.as_of
        points = 0
        reasons: list[str] = []

        def add(weight: int, reason: str) -> None:
            nonlocal points
            points += weight
            reasons.append(reason)

        tf = shown.total_float
        if tf < 0:
            add(
                WEIGHTS["negative_float"],
                f"negative float: {_days(-tf)} late for its deadline",
            )
        elif 0 < tf <= cfg.near_critical_days:
            add(WEIGHTS["near_critical"], f"near-critical: only {_days(tf)} of float")
        if item.due is not None and item.due < as_of:
            add(WEIGHTS["past_due"], f"open past its due date ({item.due.isoformat()})")
        if item.estimate_hours is None and item.estimate_range is None:
            hours = self.ctx.settings.planner.default_estimate_hours
            add(WEIGHTS["no_estimate"], f"no estimate (planned with {hours:g} h)")
        if item.estimate_hours is not None and item.spent_hours > item.estimate_hours:
            add(
                WEIGHTS["over_estimate"],
                f"spent {item.spent_hours:g} h of {item.estimate_hours:g} h estimated",
            )
        if item.updated_on is not None:
            idle = (as_of - item.updated_on.date()).days
            if idle > cfg.stale_days:
                add(
                    WEIGHTS["stale"],
                    f"no update for {idle} days (last {item.updated_on.date().isoformat()})",
                )
        chain = self._ancestry(key)
        late: list[str] = []
        for own in chain:
            for pred in self.predecessors.get(own, []):
                why = self._late(pred)
                if why is not None and pred not in late:
                    late.append(pred)
                    add(WEIGHTS["late_predecessor"], f"waits on late predecessor {pred} ({why})")
        criticality = shown.criticality
        if criticality is not None and criticality >= cfg.high_criticality and criticality > 0:
            add(
                WEIGHTS["high_criticality"],
                f"critical in {criticality:.0%} of simulated schedules",
            )
        seen: set[str] = set()
        for own in chain:
            for risk in self.threats.get(own, []):
                if risk.key in seen:
                    continue
                seen.add(risk.key)
                weight = WEIGHTS["risk_base"] + round(
                    WEIGHTS["risk_probability"] * risk.probability
                )
                title = f' "{risk.title}"' if risk.title else ""
                impact = f", +{_days(risk.impact_days)}" if risk.impact_days else ""
                add(
                    weight,
                    f"threatened by open risk {risk.key}{title} "
                    f"({risk.probability:.0%} likely{impact})",
                )
        return min(100, points), reasons
