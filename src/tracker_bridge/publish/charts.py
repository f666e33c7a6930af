"""Charts of the plan page as PNG bytes: Gantt, S-curve (earned value), finish-date histogram.

Drawn on matplotlib's Agg canvas directly (no pyplot, no display, no global figure list),
one chart at a time under a lock and in matplotlib's default style, so the user's
``matplotlibrc`` changes nothing. The PNG carries no software version and no time: the same
plan gives the same bytes (with the same matplotlib and Pillow), and an adapter can skip the
upload of a chart that did not change (it compares digests).

* **Gantt** (``tracker-bridge-gantt.png``): one bar per item (summaries left out) from early
  start to early finish, sorted by start; critical items red, done items grey, zero-length
  items as small diamonds; the baseline's bars (thin, grey, behind) when a baseline is given
  and the plan was compared with it; one row per milestone with its forecast finish (filled
  diamond, red when after the due date) and its due date (hollow diamond, labelled); the
  status date as a vertical line. Row height and label size shrink with the number of rows;
  labels are cut to a fixed length; beyond ``MAX_GANTT_ROWS`` items the open ones (critical
  first) are shown and the title says how many are left out.
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
import io
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import matplotlib.dates as mdates
import matplotlib.style as mpl_style
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.textpath import TextToPath
from matplotlib.ticker import FuncFormatter, MaxNLocator

from tracker_bridge.model import Attachment, Baseline, ItemSchedule, Plan, Snapshot
from tracker_bridge.publish.figures import chance, index
from tracker_bridge.publish.names import FINISH_PNG, GANTT_PNG, LOAD_PNG, S_CURVE_PNG
from tracker_bridge.publish.references import IssueRefs
from tracker_bridge.publish.style import PageStyle, PlainStyle

PLAIN = PlainStyle()  # issue labels of charts drawn without a tracker (keys)

__all__ = [
    "MAX_GANTT_ROWS",
    "finish_histogram_png",
    "gantt_png",
    "render_charts",
    "s_curve_png",
]

MAX_GANTT_ROWS = 300
DPI = 100
WIDTH_IN = 12.0
PNG_METADATA: dict[str, str | None] = {"Software": None, "Creation Time": None}

CRITICAL = "#d62728"
NORMAL = "#1f77b4"
DONE = "#c7c7c7"
BASELINE = "#3b3b3b"
STATUS = "#ff7f0e"
DUE = "#2ca02c"
LATE = "#ff7f0e"
PV_COLOR = "#1f77b4"
EV_COLOR = "#2ca02c"
AC_COLOR = "#d62728"

# matplotlib.dates has no annotations: typed aliases keep mypy --strict meaningful here.
_DATE2NUM: Callable[[dt.date], float] = mdates.date2num
_NUM2DATE: Callable[[float], dt.datetime] = mdates.num2date
_AUTO_LOCATOR: Callable[..., mdates.AutoDateLocator] = mdates.AutoDateLocator
_CONCISE_FORMATTER: Callable[..., mdates.ConciseDateFormatter] = mdates.ConciseDateFormatter
_WEEKDAY_LOCATOR: Callable[..., mdates.WeekdayLocator] = mdates.WeekdayLocator

_LOCK = threading.Lock()
_TEXT = TextToPath()
_RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",  # shipped with matplotlib: the same glyphs everywhere
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "path.simplify": True,
    "svg.hashsalt": "tracker-bridge",
}


@contextmanager
def _style() -> Iterator[None]:
    """One chart at a time (rcParams are global), in the default style plus ours."""
    with _LOCK, mpl_style.context(["default", _RC]):
        yield


def _figure(height_in: float) -> Figure:
    fig = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata=PNG_METADATA)
    return buffer.getvalue()


def _as_date(value: object) -> dt.date | None:
    """A date from a live plan (date) or one read back from JSON (ISO string)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and value:
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _num(day: dt.date) -> float:
    return float(_DATE2NUM(day))


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _date_axis(ax: Axes, first: dt.date, last: dt.date) -> None:
    """Readable dates: concise month/day labels, weekly minor ticks on short spans."""
    locator = _AUTO_LOCATOR(minticks=5, maxticks=12)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(_CONCISE_FORMATTER(locator, show_offset=True))
    if (last - first).days <= 200:
        ax.xaxis.set_minor_locator(_WEEKDAY_LOCATOR(byweekday=mdates.MO))
    ax.set_xlim(_num(first), _num(last))


def _money_axis(value: float, _position: object) -> str:
    return f"{value:,.0f}"


# ------------------------------------------------------------------------------- Gantt


def _gantt_rows(plan: Plan) -> tuple[list[ItemSchedule], int]:
    """The items shown (by start, then plan order) and how many are left out."""
    order = {key: i for i, key in enumerate(plan.items)}
    leaves = [s for s in plan.items.values() if s.state != "summary"]
    left_out = 0
    if len(leaves) > MAX_GANTT_ROWS:
        ranked = sorted(
            leaves, key=lambda s: (s.state == "done", not s.critical, s.early_start, order[s.key])
        )
        left_out = len(leaves) - MAX_GANTT_ROWS
        leaves = ranked[:MAX_GANTT_ROWS]
    leaves.sort(key=lambda s: (s.early_start, s.early_finish, order[s.key]))
    return leaves, left_out


def _text_width_in(texts: Sequence[str], size: float) -> float:
    """Width in inches of the widest of ``texts`` (measured on the longest few)."""
    prop = FontProperties(family="DejaVu Sans", size=size)
    longest = sorted(texts, key=len, reverse=True)[:8]
    widths = [_TEXT.get_text_width_height_descent(t, prop, ismath=False)[0] for t in longest]
    return max(widths, default=0.0) / 72


@dataclass(frozen=True)
class _GanttLayout:
    """Sizes that depend on the number of rows: a 10-row and a 300-row chart both read."""

    rows: int

    @property
    def row_in(self) -> float:
        return min(0.3, max(0.13, 9.0 / max(self.rows, 1)))

    @property
    def font(self) -> float:
        return max(5.5, min(8.5, self.row_in * 72 * 0.55))

    @property
    def label_chars(self) -> int:
        return 48 if self.rows <= 60 else 36 if self.rows <= 150 else 28

    @property
    def ticks_on_top(self) -> bool:
        return self.rows > 40


def gantt_png(
    plan: Plan,
    snapshot: Snapshot,
    *,
    style: PageStyle = PLAIN,
    baseline: Baseline | None = None,
) -> bytes | None:
    """The Gantt chart, or None when the plan has no item to draw."""
    rows, left_out = _gantt_rows(plan)
    if not rows:
        return None
    refs = IssueRefs(snapshot, style)
    milestones = [m for m in plan.milestones if m.finish is not None or m.due is not None]
    n = len(rows)
    total = n + len(milestones)
    size = _GanttLayout(total)
    font = size.font
    old = baseline.items if baseline is not None and "baseline" in plan.overlays else {}
    as_of = plan.project.as_of

    first = min([plan.project.start, as_of, *(s.early_start for s in rows)])
    last = max([plan.project.finish, as_of, *(s.early_finish for s in rows)])
    for m in milestones:
        for day in (m.finish, m.due):
            if day is not None:
                first, last = min(first, day), max(last, day)
    for s in rows:
        if s.key in old:
            first = min(first, old[s.key].early_start)
            last = max(last, old[s.key].early_finish)
    labels = []
    for s in rows:
        ref = refs.ref(s.key).label
        title = refs.title(s.key)
        labels.append(_cut(f"{ref} {title}" if title else ref, size.label_chars))
    labels += [_cut(f"◆ {m.name}", size.label_chars) for m in milestones]
    colors = [DONE if s.state == "done" else CRITICAL if s.critical else NORMAL for s in rows]

    handles: list[Patch | Line2D] = [
        Patch(color=CRITICAL, label="critical"),
        Patch(color=NORMAL, label="not critical"),
        Patch(color=DONE, label="done"),
    ]
    if old and baseline is not None:
        handles.append(Patch(color=BASELINE, label=_cut(f"baseline {baseline.name}", 40)))
    if milestones:
        handles += [
            Line2D([], [], marker="D", linestyle="", color="black", label="milestone forecast"),
            Line2D(
                [],
                [],
                marker="D",
                linestyle="",
                markerfacecolor="none",
                markeredgecolor=DUE,
                markeredgewidth=1.5,
                label="due date",
            ),
        ]
    handles.append(
        Line2D([], [], color=STATUS, linestyle="--", label=f"status date {as_of.isoformat()}")
    )
    legend_rows = 1 if sum(len(str(h.get_label())) for h in handles) <= 110 else 2

    with _style():  # text is measured with the fonts it is drawn with
        # Margins by hand (constrained layout measures 300 labels several times: seconds).
        left_in = _text_width_in(labels, font) + 0.25
        top_in = 0.4 + (0.25 if size.ticks_on_top else 0) + (0.2 if left_out else 0)
        axes_in = WIDTH_IN - left_in - 0.3
        span = max((last - first).days, 14)
        pad_left = dt.timedelta(days=max(2, span // 50))
        # room on the right for the due-date labels that follow the last diamond
        label_in = _text_width_in(["due 2000-00-00"], font) + font * 2.2 / 72 if milestones else 0
        pad_right = dt.timedelta(
            days=max(4, math.ceil(span * label_in / max(axes_in - label_in, 1)))
        )
        bottom_in = 0.45 + 0.25 * legend_rows
        height = total * size.row_in + top_in + bottom_in + 0.15

        fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
        FigureCanvasAgg(fig)
        fig.subplots_adjust(
            left=left_in / WIDTH_IN,
            right=1 - 0.3 / WIDTH_IN,
            top=1 - top_in / height,
            bottom=bottom_in / height,
        )
        ax = fig.add_subplot()
        old_rows = [(i, old[s.key]) for i, s in enumerate(rows) if s.key in old]
        if old_rows:  # the baseline: thin bars below and behind the current ones
            ax.barh(
                [i + 0.3 for i, _ in old_rows],
                [(b.early_finish - b.early_start).days + 1 for _, b in old_rows],
                left=[_num(b.early_start) for _, b in old_rows],
                height=0.16,
                color=BASELINE,
                zorder=1,
            )
        bars = [(i, s) for i, s in enumerate(rows) if s.duration_days > 0]
        ax.barh(
            [i - 0.06 for i, _ in bars],
            [(s.early_finish - s.early_start).days + 1 for _, s in bars],
            left=[_num(s.early_start) for _, s in bars],
            height=0.56,
            color=[colors[i] for i, _ in bars],
            edgecolor="white",
            linewidth=0.4,
            zorder=2,
        )
        points = [(i, s) for i, s in enumerate(rows) if s.duration_days <= 0]
        if points:  # zero-length items (sign-offs, "done" markers)
            ax.scatter(
                [_num(s.early_finish) + 0.5 for _, s in points],
                [i - 0.06 for i, _ in points],
                marker="D",
                s=(font * 1.6) ** 2 / 4,
                c=[colors[i] for i, _ in points],
                zorder=3,
            )

        marker_size = (font * 1.7) ** 2 / 2
        for j, m in enumerate(milestones):
            y = n + j
            late = m.finish is not None and m.due is not None and m.finish > m.due
            if m.finish is not None:
                ax.scatter(
                    [_num(m.finish) + 0.5],
                    [y],
                    marker="D",
                    s=marker_size,
                    color=CRITICAL if late else "black",
                    zorder=4,
                )
            if m.due is not None:
                ax.scatter(
                    [_num(m.due) + 0.5],
                    [y],
                    marker="D",
                    s=marker_size,
                    facecolors="none",
                    edgecolors=DUE,
                    linewidths=1.5,
                    zorder=5,
                )
                right = max(m.due, m.finish or m.due)
                ax.annotate(
                    f"due {m.due.isoformat()}",
                    (_num(right) + 0.5, y),
                    xytext=(font * 1.4, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=font,
                    color="#333333",
                )
        if milestones:
            ax.axhline(n - 0.5, color="#cccccc", linewidth=0.8, zorder=0)

        ax.axvline(_num(as_of), color=STATUS, linestyle="--", linewidth=1.3, zorder=6)
        ax.set_yticks(range(total), labels, fontsize=font)
        for tick, s in zip(ax.get_yticklabels(), rows, strict=False):
            if s.critical and s.state != "done":
                tick.set_color(CRITICAL)
        ax.set_ylim(total - 0.5, -0.7)
        ax.tick_params(axis="y", length=0)
        _date_axis(ax, first - pad_left, last + pad_right)
        ax.tick_params(axis="x", labelsize=8)
        if size.ticks_on_top:
            ax.tick_params(axis="x", labeltop=True, top=True)
        ax.grid(axis="x", which="major", color="#dddddd", linewidth=0.8, zorder=0)
        ax.grid(axis="x", which="minor", color="#f0f0f0", linewidth=0.6, zorder=0)
        ax.set_axisbelow(True)

        title = (
            f"{plan.project.name}: forecast finish {plan.project.finish.isoformat()} "
            f"(status date {as_of.isoformat()})"
        )
        if left_out:
            title += f"\nshowing {n} of {n + left_out} items: open items first, critical first"
        fig.suptitle(
            "\n".join(_cut(line, 150) for line in title.split("\n")),
            x=left_in / WIDTH_IN,
            y=1 - 0.08 / height,
            ha="left",
            va="top",
            fontsize=10,
            fontweight="bold",
        )
        fig.legend(
            handles=handles,
            loc="lower center",
            bbox_to_anchor=(0.5, 0.04 / height),
            ncol=len(handles) if legend_rows == 1 else (len(handles) + 1) // 2,
        )
        return _png(fig)


# ------------------------------------------------------------------------------ S-curve


def _series(points: Sequence[Mapping[str, Any]], name: str) -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    for point in points:
        day = _as_date(point.get("date"))
        value = point.get(name)
        if day is not None and isinstance(value, int | float):
            xs.append(_num(day))
            ys.append(float(value))
    return xs, ys


def s_curve_png(plan: Plan) -> bytes | None:
    """Cumulative PV, EV and AC with the EAC forecast; None without the budget overlay."""
    budget = plan.overlays.get("budget")
    if not isinstance(budget, Mapping):
        return None
    phased = [p for p in budget.get("time_phased") or [] if isinstance(p, Mapping)]
    forecast = [p for p in budget.get("eac_forecast") or [] if isinstance(p, Mapping)]
    pv = _series(phased, "pv")
    if not pv[0]:
        return None
    ev, ac = _series(phased, "ev"), _series(phased, "ac")
    eac = _series(forecast, "cost")
    project: Mapping[str, Any] = budget.get("project") or {}
    currency = str(budget.get("currency") or "")
    bac = project.get("bac")
    eac_value = project.get("eac")
    as_of = _as_date(budget.get("as_of")) or plan.project.as_of

    def money(value: object) -> str:
        return f"{value:,.0f}" if isinstance(value, int | float) else "–"

    with _style():
        fig = _figure(5.6)
        ax = fig.add_subplot()
        ax.plot(
            *pv,
            color=PV_COLOR,
            linewidth=2,
            label=f"PV planned value ({money(project.get('pv'))} at status date)",
        )
        if ev[0]:
            ax.plot(
                *ev,
                color=EV_COLOR,
                linewidth=2,
                label=f"EV earned value ({money(project.get('ev'))} at status date)",
            )
        if ac[0]:
            ax.plot(
                *ac,
                color=AC_COLOR,
                linewidth=2,
                label=f"AC actual cost ({money(project.get('ac'))} at status date)",
            )
        if eac[0]:
            method = project.get("eac_method") or ""
            ax.plot(
                *eac,
                color=AC_COLOR,
                linewidth=1.6,
                linestyle="--",
                label=f"EAC forecast {method} ({money(eac_value)})",
            )
        if isinstance(bac, int | float):
            ax.axhline(
                float(bac),
                color="#555555",
                linestyle=":",
                linewidth=1.3,
                label=f"BAC budget at completion ({money(bac)})",
            )
        ax.axvline(
            _num(as_of),
            color=STATUS,
            linestyle="--",
            linewidth=1.2,
            label=f"status date {as_of.isoformat()}",
        )
        xs = pv[0] + eac[0]
        first, last = _NUM2DATE(min(xs)).date(), _NUM2DATE(max(xs)).date()
        pad = dt.timedelta(days=max(3, (last - first).days // 40))
        _date_axis(ax, first - pad, last + pad)
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(FuncFormatter(_money_axis))
        ax.set_ylabel(f"cumulative cost ({currency})" if currency else "cumulative cost")
        ax.grid(color="#e6e6e6", linewidth=0.8)
        ax.set_axisbelow(True)
        indices = f"CPI {index(project.get('cpi'))} · SPI {index(project.get('spi'))}"
        ax.set_title(f"{plan.project.name}: earned value ({indices})", loc="left")
        ax.legend(loc="lower right")
        return _png(fig)


# ------------------------------------------------------------------------ finish dates


def finish_histogram_png(plan: Plan) -> bytes | None:
    """Simulated project finish dates; None without a risk overlay that ran trials."""
    risk = plan.overlays.get("risk")
    if not isinstance(risk, Mapping):
        return None
    counts: list[tuple[dt.date, int]] = []
    for entry in risk.get("finish_histogram") or []:
        if not isinstance(entry, Mapping):
            continue
        day = _as_date(entry.get("date"))
        trials = entry.get("trials", entry.get("count"))
        if day is not None and isinstance(trials, int) and trials > 0:
            counts.append((day, trials))
    if not counts:
        return None
    counts.sort()
    total = sum(c for _, c in counts)
    project: Mapping[str, Any] = risk.get("project") or {}
    due = _as_date(project.get("due"))
    p50, p80 = _as_date(project.get("p50")), _as_date(project.get("p80"))
    finish = plan.project.finish
    probability = project.get("probability_on_time")

    with _style():
        fig = _figure(4.8)
        ax = fig.add_subplot()
        ax.bar(
            [_num(d) + 0.5 for d, _ in counts],
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
            xs.append(_num(day) + 0.5)
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
        for day, style, color, name in marks:
            if day is None:
                continue
            ax.axvline(_num(day) + 0.5, color=color, linestyle=style, linewidth=1.5, zorder=3)
            handles.append(
                Line2D([], [], color=color, linestyle=style, label=f"{name} {day.isoformat()}")
            )
        days = [d for d, _ in counts] + [d for d in (due, finish, p50, p80) if d is not None]
        first, last = min(days), max(days)
        pad = dt.timedelta(days=max(3, (last - first).days // 20))
        _date_axis(ax, first - pad, last + pad + dt.timedelta(days=1))
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
        return _png(fig)


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
