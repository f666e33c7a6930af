"""Overlay stages that enrich a schedule: risk, budget, baseline comparison.

Each stage is a function of an ``OverlayContext`` that fills its own fields on the plan (item
and milestone fields, and one attribute of ``plan.overlays``). Stages run in the order listed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from tracker_bridge.model import Baseline, Plan, Snapshot
from tracker_bridge.planner.cpm import Schedule
from tracker_bridge.planner.network import Network
from tracker_bridge.settings import Settings


@dataclass
class OverlayContext:
    plan: Plan
    snapshot: Snapshot
    net: Network
    schedule: Schedule
    settings: Settings
    as_of: dt.date
    baseline: Baseline | None


OverlayStage = Callable[[OverlayContext], None]


def stages() -> list[OverlayStage]:
    """The overlay stages, in order (imported lazily to keep plan() import light)."""
    found: list[OverlayStage] = []
    # resource levelling (only with planner.level), before the stages that may read it
    from tracker_bridge.planner.resourcing import levelling_stage

    found.append(levelling_stage)
    # budget (cost, earned value), then the baseline comparison that reads the budget's BAC
    from tracker_bridge.planner.baseline import baseline_stage
    from tracker_bridge.planner.budget_stage import budget_stage

    found += [budget_stage, baseline_stage]
    # schedule risk: Monte Carlo forecasts, criticality, P80 finish, risk scores
    from tracker_bridge.planner.risk import risk_stage

    found.append(risk_stage)
    return found
