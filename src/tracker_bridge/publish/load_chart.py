"""Load chart of the levelling overlay (``tracker-bridge-load.png``), one panel per person.

Each panel shows, per calendar day, how many issues the person (or pool) has running: in the
unlevelled plan (CPM early dates, orange where it exceeds the capacity) and in the levelled
plan (blue), with the capacity (1 for a person, the members for a pool) as a dashed line.
People with the most over-allocated days come first; at most ``MAX_PEOPLE`` panels.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from tracker_bridge.model import Plan
from tracker_bridge.publish.chart_kit import chart_style, date_axis, new_figure, png_bytes
from tracker_bridge.publish.names import LOAD_PNG

MAX_PEOPLE = 12
OVER = "#ff7f0e"
LEVELLED = "#1f77b4"

__all__ = ["LOAD_PNG", "load_png"]


def _profile(
    spans: list[tuple[dt.date, dt.date]], first: dt.date, days: int
) -> np.ndarray[Any, Any]:
    """Issues running on each calendar day from ``first`` (finish dates inclusive)."""
    delta = np.zeros(days + 1, dtype=np.int64)
    for start, finish in spans:
        delta[max((start - first).days, 0)] += 1
        delta[min((finish - first).days + 1, days)] -= 1
    return np.cumsum(delta)[:days]


def load_png(plan: Plan) -> bytes | None:
    """The load chart; None without a levelling overlay or with nobody levelled."""
    lv = plan.overlays.levelling
    if lv is None or not lv.resources:
        return None
    unlevelled: dict[str, list[tuple[dt.date, dt.date]]] = {}
    levelled: dict[str, list[tuple[dt.date, dt.date]]] = {}
    for key, item in lv.items.items():
        name, sched = item.resource, plan.items.get(key)
        if name is None or sched is None or sched.state == "done":
            continue
        unlevelled.setdefault(name, []).append((sched.early_start, sched.early_finish))
        levelled.setdefault(name, []).append((item.start, item.finish))
    if not levelled:
        return None
    first = min(s for spans in levelled.values() for s, _ in spans)
    last = max(f for spans in [*levelled.values(), *unlevelled.values()] for _, f in spans)
    days = (last - first).days + 1
    resources = lv.resources
    names = sorted(levelled, key=lambda n: (-resources[n].overallocated_days_unlevelled, n))[
        :MAX_PEOPLE
    ]
    x = np.array([first + dt.timedelta(days=k) for k in range(days)])
    with chart_style():
        fig = new_figure(0.3 + 1.1 * len(names))
        axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
        for ax, name in zip(axes, names, strict=True):
            units = resources[name].units
            before = _profile(unlevelled.get(name, []), first, days)
            after = _profile(levelled[name], first, days)
            ax.fill_between(x, before, step="post", color="#dddddd", label="unlevelled")
            ax.fill_between(
                x,
                before,
                units,
                where=before > units,
                step="post",
                color=OVER,
                label="over capacity",
            )
            ax.step(x, after, where="post", color=LEVELLED, linewidth=1.5, label="levelled")
            ax.axhline(units, color="black", linestyle="--", linewidth=0.8)
            ax.set_ylabel(name if len(name) <= 18 else name[:17] + "…", rotation=0, ha="right")
            ax.set_ylim(0, max(int(before.max()), units) + 0.5)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes[0].set_title("Issues running per person: unlevelled against levelled")
        date_axis(axes[-1], first, last)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=3)
        return png_bytes(fig)
