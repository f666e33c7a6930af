"""Relations between summary items go through hub nodes: the same plan as every leaf pair.

The reference is the definition itself: a relation on a summary applies to every leaf below
it, so the same snapshot with the summary relations written out leaf by leaf must give the
same dates, floats and critical flags, and its simulation without spread the same dates.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from test_montecarlo import assert_reproduces_cpm

from tracker_bridge.model import Snapshot
from tracker_bridge.planner import plan
from tracker_bridge.planner.network import compile_network
from tracker_bridge.settings import CalendarSettings, RiskSettings, Settings

START = dt.date(2025, 1, 6)
AS_OF = dt.date(2025, 1, 20)
TYPES = ["FS", "SS", "FF", "SF"]
SETTINGS = Settings(
    calendar=CalendarSettings(holidays=[dt.date(2025, 2, 17)]),
    risk=RiskSettings(default_optimistic_factor=1, default_pessimistic_factor=1),
)


def project(seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A snapshot with relations between summaries, and the same with them expanded."""
    rng = random.Random(seed)
    parents = [f"E{p}" for p in range(4)]
    items: list[dict[str, Any]] = [{"key": p} for p in parents]
    leaves: dict[str, list[str]] = {p: [] for p in parents}
    for i in range(40):
        key = f"T{i}"
        item: dict[str, Any] = {"key": key, "estimate_hours": rng.choice([0, 4, 8, 16, 40])}
        if rng.random() < 0.8:  # epics own index ranges, so every relation points forward
            parent = parents[i // 10]
            item["parent"] = parent
            leaves[parent].append(key)
        roll = rng.random()
        if roll < 0.1:
            item.update(status="closed", start="2025-01-06", closed_on="2025-01-15")
        elif roll < 0.25:
            item["done_ratio"] = 50
        if rng.random() < 0.1:
            item["due"] = (AS_OF + dt.timedelta(days=rng.randint(5, 40))).isoformat()
        items.append(item)
    deps: list[dict[str, Any]] = []
    for i in range(1, 40):
        if rng.random() < 0.4:
            j = rng.randrange(i)
            deps.append({"predecessor": f"T{j}", "successor": f"T{i}", "type": "FS"})
    summary_deps = []
    for a, b in ((0, 1), (1, 2), (0, 3), (2, 3)):
        summary_deps.append(
            {
                "predecessor": parents[a],
                "successor": parents[b],
                "type": rng.choice(TYPES),
                "lag_days": rng.randint(-2, 3),
            }
        )
    expanded = [
        {**dep, "predecessor": p, "successor": s}
        for dep in summary_deps
        for p in leaves[dep["predecessor"]]
        for s in leaves[dep["successor"]]
    ]
    base = {"project": {"name": "hubs", "start": START.isoformat()}, "items": items}
    return (
        {**base, "dependencies": deps + summary_deps},
        {**base, "dependencies": deps + expanded},
    )


@pytest.mark.parametrize("seed", range(12))
def test_summary_relations_through_hubs_plan_like_every_leaf_pair(seed: int) -> None:
    with_hubs, written_out = (Snapshot.model_validate(d) for d in project(seed))
    net = compile_network(with_hubs, SETTINGS, AS_OF)
    if not net.hub_keys:
        pytest.skip("this draw has no summaries with enough leaves")  # pragma: no cover
    reference = plan(written_out, SETTINGS, AS_OF, overlays=False)
    result = plan(with_hubs, SETTINGS, AS_OF, overlays=False)
    assert result.project.finish == reference.project.finish
    assert result.project.min_total_float == reference.project.min_total_float
    for key, expected in reference.items.items():
        assert result.items[key] == expected, key
    assert {tuple(p) for p in result.project.critical_paths} <= {
        tuple(p) for p in reference.project.critical_paths
    } or result.project.critical_paths_truncated
    assert_reproduces_cpm(with_hubs, SETTINGS, AS_OF)


def test_two_epics_of_many_leaves_need_only_linear_edges() -> None:
    """One relation between two epics of 300 leaves each: 600 edges, not 90,000."""
    items: list[dict[str, Any]] = [{"key": "A"}, {"key": "B"}]
    for epic in "AB":
        items += [{"key": f"{epic}{i}", "parent": epic, "estimate_hours": 8} for i in range(300)]
    snap = Snapshot.model_validate(
        {
            "project": {"name": "epics", "start": START.isoformat()},
            "items": items,
            "dependencies": [{"predecessor": "A", "successor": "B"}],
        }
    )
    net = compile_network(snap, SETTINGS, START)
    assert net.hub_keys == ["A"] and net.pred.size == 600
    result = plan(snap, SETTINGS, START, overlays=False)
    # every B leaf starts the working day after the A leaves (all one day, in parallel)
    assert {result.items[f"B{i}"].early_start for i in range(300)} == {dt.date(2025, 1, 7)}
    assert result.project.finish == dt.date(2025, 1, 7)
