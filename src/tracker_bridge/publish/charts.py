"""Charts of the plan page as PNG bytes: Gantt, S-curve (earned value), finish-date histogram.

Drawn on matplotlib's Agg canvas directly (no pyplot, no display, no global figure list),
one chart at a time under a lock and in matplotlib's default style, so the user's
``matplotlibrc`` changes nothing. The PNG carries no software version and no time: the same
plan gives the same bytes (with the same matplotlib and Pillow), and an adapter can skip the
upload of a chart that did not change (it compares digests).

* **Gantt** (``tracker-bridge-gantt.png``): see :mod:`tracker_bridge.publish.gantt`.
* **S-curve** (``tracker-bridge-s-curve.png``, needs the budget overlay): cumulative PV,
  EV and AC over time, the EAC forecast dashed from the status date to the forecast finish,
  the BAC as a horizontal line.
* **Finish dates** (``tracker-bridge-finish-dates.png``, needs the risk overlay with
  trials): how many simulated schedules finish the project on each date (late ones in
  orange), the cumulative chance on a second axis, P50, P80, the due date and the
  deterministic finish marked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal

from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from tracker_bridge.model import Attachment, Baseline, Plan, Snapshot
from tracker_bridge.publish.chart_kit import (
    AC_COLOR,
    DUE,
    EV_COLOR,
    LATE,
    NORMAL,
    NUM2DATE,
    PV_COLOR,
    STATUS,
    chart_style,
    date_axis,
    day_number,
    money_axis,
    new_figure,
    png_bytes,
)
from tracker_bridge.publish.chart_kit import MAX_GANTT_ROWS as MAX_GANTT_ROWS
from tracker_bridge.publish.figures import chance, index
from tracker_bridge.publish.gantt import PLAIN, gantt_png
from tracker_bridge.publish.names import FINISH_PNG, GANTT_PNG, LOAD_PNG, S_CURVE_PNG
from tracker_bridge.publish.style import PageStyle

__all__ = [
    "MAX_GANTT_ROWS",
    "finish_histogram_png",
    "gantt_png",
    "render_charts",
    "s_curve_png",
]

# ------------------------------------------------------------------------------ S-curve


def _series(points: Iterable[tuple[dt.date, float | None]]) -> tuple[list[float], list[float]]:
    """The points with a value, as chart coordinates (day numbers, values)."""
    xs: list[float] = []
    ys: list[float] = []
    for day, value in points:
        if value is not None:
            xs.append(day_number(day))
            ys.append(value)
    return xs, ys


def s_curve_png(plan: Plan) -> bytes | None:
    """Cumulative PV, EV and AC with the EAC forecast; None without the budget overlay."""
    budget = plan.overlays.budget
    if budget is None:
        return None
    phased = budget.time_phased
    pv = _series((p.date, p.pv) for p in phased)
    if not pv[0]:
        return None
    ev, ac = _series((p.date, p.ev) for p in phased), _series((p.date, p.ac) for p in phased)
    eac = _series((p.date, p.cost) for p in budget.eac_forecast)
    project = budget.project
    currency = budget.currency
    bac = project.bac
    eac_value = project.eac
    as_of = budget.as_of

    def money(value: object) -> str:
        return f"{value:,.0f}" if isinstance(value, int | float) else "–"

    with chart_style():
        fig = new_figure(5.6)
        ax = fig.add_subplot()
        ax.plot(
            *pv,
            color=PV_COLOR,
            linewidth=2,
            label=f"PV planned value ({money(project.pv)} at status date)",
        )
        if ev[0]:
            ax.plot(
                *ev,
                color=EV_COLOR,
                linewidth=2,
                label=f"EV earned value ({money(project.ev)} at status date)",
            )
        if ac[0]:
            ax.plot(
                *ac,
                color=AC_COLOR,
                linewidth=2,
                label=f"AC actual cost ({money(project.ac)} at status date)",
            )
        if eac[0]:
            method = project.eac_method
            ax.plot(
                *eac,
                color=AC_COLOR,
                linewidth=1.6,
                linestyle="--",
                label=f"EAC forecast {method} ({money(eac_value)})",
            )
        ax.axhline(
            bac,
            color="#555555",
            linestyle=":",
            linewidth=1.3,
            label=f"BAC budget at completion ({money(bac)})",
        )
        ax.axvline(
            day_number(as_of),
            color=STATUS,
            linestyle="--",
            linewidth=1.2,
            label=f"status date {as_of.isoformat()}",
        )
        xs = pv[0] + eac[0]
        first, last = NUM2DATE(min(xs)).date(), NUM2DATE(max(xs)).date()
        pad = dt.timedelta(days=max(3, (last - first).days // 40))
        date_axis(ax, first - pad, last + pad)
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(FuncFormatter(money_axis))
        ax.set_ylabel(f"cumulative cost ({currency})" if currency else "cumulative cost")
        ax.grid(color="#e6e6e6", linewidth=0.8)
        ax.set_axisbelow(True)
        indices = f"CPI {index(project.cpi)} · SPI {index(project.spi)}"
        ax.set_title(f"{plan.project.name}: earned value ({indices})", loc="left")
        ax.legend(loc="lower right")
        return png_bytes(fig)


# ------------------------------------------------------------------------ finish dates


def finish_histogram_png(plan: Plan) -> bytes | None:
    """Simulated project finish dates; None without a risk overlay that ran trials."""
    risk = plan.overlays.risk
    if risk is None:
        return None
    counts = sorted((entry.date, entry.trials) for entry in risk.finish_histogram if entry.trials)
    if not counts:
        return None
    total = sum(c for _, c in counts)
    project = risk.project
    due, p50, p80 = project.due, project.p50, project.p80
    finish = plan.project.finish
    probability = project.probability_on_time

    with chart_style():
        fig = new_figure(4.8)
        ax = fig.add_subplot()
        ax.bar(
            [day_number(d) + 0.5 for d, _ in counts],
            [c for _, c in counts],
            width=0.8,
            align="center",
            color=[LATE if due is not None and d > due else NORMAL for d, _ in counts],
            zorder=2,
        )
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("simulated schedules finishing that day")
        share = ax.twinx()
        running = 0
        xs, ys = [], []
        for day, count in counts:
            running += count
            xs.append(day_number(day) + 0.5)
            ys.append(100 * running / total)
        share.step(xs, ys, where="post", color="#444444", linewidth=1.2)
        share.set_ylim(0, 102)
        share.set_ylabel("finished by then (%)")
        share.spines["right"].set_visible(True)
        share.spines["top"].set_visible(False)

        handles: list[Patch | Line2D] = []
        if due is None or any(d <= due for d, _ in counts):
            handles.append(Patch(color=NORMAL, label="on time" if due else "finish date"))
        if due is not None and any(d > due for d, _ in counts):
            handles.append(Patch(color=LATE, label="after the due date"))
        handles.append(Line2D([], [], color="#444444", label="cumulative chance"))
        marks: list[tuple[dt.date | None, Literal["-", "--", ":", "-."], str, str]] = [
            (p50, "-", "#111111", "P50"),
            (p80, "--", "#111111", "P80"),
            (due, ":", DUE, "due"),
            (finish, "-.", "#888888", "deterministic finish"),
        ]
        for mark, style, color, name in marks:
            if mark is None:
                continue
            ax.axvline(
                day_number(mark) + 0.5, color=color, linestyle=style, linewidth=1.5, zorder=3
            )
            handles.append(
                Line2D([], [], color=color, linestyle=style, label=f"{name} {mark.isoformat()}")
            )
        days = [d for d, _ in counts] + [d for d in (due, finish, p50, p80) if d is not None]
        first, last = min(days), max(days)
        pad = dt.timedelta(days=max(3, (last - first).days // 20))
        date_axis(ax, first - pad, last + pad + dt.timedelta(days=1))
        ax.grid(axis="y", color="#e6e6e6", linewidth=0.8)
        ax.set_axisbelow(True)
        chance_text = ""
        if due is not None and probability is not None:
            chance_text = f"; {chance(probability)} finish by the due date {due.isoformat()}"
        ax.set_title(
            f"{plan.project.name}: project finish in {total:,} simulated schedules{chance_text}",
            loc="left",
        )
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 7))
        return png_bytes(fig)


# ------------------------------------------------------------------------------ all


def render_charts(
    plan: Plan,
    snapshot: Snapshot,
    *,
    style: PageStyle = PLAIN,
    baseline: Baseline | None = None,
) -> list[Attachment]:
    """The charts this plan has data for, as PNG attachments (Gantt, finish dates, S-curve,
    load per person)."""
    from tracker_bridge.publish.load_chart import load_png  # it imports this module

    drawn = [
        (GANTT_PNG, gantt_png(plan, snapshot, style=style, baseline=baseline)),
        (FINISH_PNG, finish_histogram_png(plan)),
        (S_CURVE_PNG, s_curve_png(plan)),
        (LOAD_PNG, load_png(plan)),
    ]
    return [
        Attachment(filename=name, content_type="image/png", data=data)
        for name, data in drawn
        if data is not None
    ]
