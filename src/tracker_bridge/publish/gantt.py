"""The Gantt chart (``tracker-bridge-gantt.png``): one bar per item (summaries left out) from
early start to early finish, sorted by start; critical items red, done items grey, zero-length
items as small diamonds; the baseline's bars (thin, grey, behind) when a baseline is given and
the plan was compared with it; one row per milestone with its forecast finish (filled diamond,
red when after the due date) and its due date (hollow diamond, labelled); the status date as a
vertical line. Row height and label size shrink with the number of rows; labels are cut to a
fixed length; beyond ``MAX_GANTT_ROWS`` items the open ones (critical first) are shown and the
title says how many are left out."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from tracker_bridge.model import (
    Baseline,
    BaselineItem,
    ItemSchedule,
    MilestoneForecast,
    Plan,
    Snapshot,
)
from tracker_bridge.publish.chart_kit import (
    BASELINE,
    CRITICAL,
    DONE,
    DPI,
    DUE,
    MAX_GANTT_ROWS,
    NORMAL,
    STATUS,
    TEXT_PATHS,
    WIDTH_IN,
    chart_style,
    cut_label,
    date_axis,
    day_number,
    png_bytes,
)
from tracker_bridge.publish.references import IssueRefs
from tracker_bridge.publish.style import PageStyle, PlainStyle

PLAIN = PlainStyle()  # issue labels of charts drawn without a tracker (keys)


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
    widths = [TEXT_PATHS.get_text_width_height_descent(t, prop, ismath=False)[0] for t in longest]
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


@dataclass(frozen=True)
class _GanttContent:
    """What the chart shows: rows, milestones, the baseline's bars, the dates it spans."""

    rows: list[ItemSchedule]
    left_out: int
    milestones: list[MilestoneForecast]
    old: dict[str, BaselineItem]
    first: dt.date
    last: dt.date


def _gantt_content(plan: Plan, baseline: Baseline | None) -> _GanttContent | None:
    rows, left_out = _gantt_rows(plan)
    if not rows:
        return None
    milestones = [m for m in plan.milestones if m.finish is not None or m.due is not None]
    compared = plan.overlays.baseline is not None
    old = baseline.items if baseline is not None and compared else {}
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
    return _GanttContent(rows, left_out, milestones, dict(old), first, last)


def _gantt_labels(c: _GanttContent, refs: IssueRefs, size: _GanttLayout) -> list[str]:
    labels = []
    for s in c.rows:
        ref = refs.ref(s.key).label
        title = refs.title(s.key)
        labels.append(cut_label(f"{ref} {title}" if title else ref, size.label_chars))
    return labels + [cut_label(f"◆ {m.name}", size.label_chars) for m in c.milestones]


def _gantt_legend(
    c: _GanttContent, baseline: Baseline | None, as_of: dt.date
) -> list[Patch | Line2D]:
    handles: list[Patch | Line2D] = [
        Patch(color=CRITICAL, label="critical"),
        Patch(color=NORMAL, label="not critical"),
        Patch(color=DONE, label="done"),
    ]
    if c.old and baseline is not None:
        handles.append(Patch(color=BASELINE, label=cut_label(f"baseline {baseline.name}", 40)))
    if c.milestones:
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
    return handles


@dataclass(frozen=True)
class _GanttFrame:
    """Margins by hand (constrained layout measures 300 labels several times: seconds)."""

    left_in: float
    top_in: float
    bottom_in: float
    height: float
    pad_left: dt.timedelta
    pad_right: dt.timedelta


def _gantt_frame(
    c: _GanttContent, labels: list[str], size: _GanttLayout, legend_rows: int, total: int
) -> _GanttFrame:
    font = size.font
    left_in = _text_width_in(labels, font) + 0.25
    top_in = 0.4 + (0.25 if size.ticks_on_top else 0) + (0.2 if c.left_out else 0)
    axes_in = WIDTH_IN - left_in - 0.3
    span = max((c.last - c.first).days, 14)
    pad_left = dt.timedelta(days=max(2, span // 50))
    # room on the right for the due-date labels that follow the last diamond
    label_in = _text_width_in(["due 2000-00-00"], font) + font * 2.2 / 72 if c.milestones else 0
    pad_right = dt.timedelta(days=max(4, math.ceil(span * label_in / max(axes_in - label_in, 1))))
    bottom_in = 0.45 + 0.25 * legend_rows
    height = total * size.row_in + top_in + bottom_in + 0.15
    return _GanttFrame(left_in, top_in, bottom_in, height, pad_left, pad_right)


def _draw_bars(ax: Axes, c: _GanttContent, colors: list[str], font: float) -> None:
    """The baseline's thin bars behind, the items' bars, zero-length items as diamonds."""
    old_rows = [(i, c.old[s.key]) for i, s in enumerate(c.rows) if s.key in c.old]
    if old_rows:  # the baseline: thin bars below and behind the current ones
        ax.barh(
            [i + 0.3 for i, _ in old_rows],
            [(b.early_finish - b.early_start).days + 1 for _, b in old_rows],
            left=[day_number(b.early_start) for _, b in old_rows],
            height=0.16,
            color=BASELINE,
            zorder=1,
        )
    bars = [(i, s) for i, s in enumerate(c.rows) if s.duration_days > 0]
    ax.barh(
        [i - 0.06 for i, _ in bars],
        [(s.early_finish - s.early_start).days + 1 for _, s in bars],
        left=[day_number(s.early_start) for _, s in bars],
        height=0.56,
        color=[colors[i] for i, _ in bars],
        edgecolor="white",
        linewidth=0.4,
        zorder=2,
    )
    points = [(i, s) for i, s in enumerate(c.rows) if s.duration_days <= 0]
    if points:  # zero-length items (sign-offs, "done" markers)
        ax.scatter(
            [day_number(s.early_finish) + 0.5 for _, s in points],
            [i - 0.06 for i, _ in points],
            marker="D",
            s=(font * 1.6) ** 2 / 4,
            c=[colors[i] for i, _ in points],
            zorder=3,
        )


def _draw_milestones(ax: Axes, c: _GanttContent, font: float) -> None:
    """Each milestone's forecast (filled, red when late) and due date (hollow, labelled)."""
    n = len(c.rows)
    marker_size = (font * 1.7) ** 2 / 2
    for j, m in enumerate(c.milestones):
        y = n + j
        late = m.finish is not None and m.due is not None and m.finish > m.due
        if m.finish is not None:
            ax.scatter(
                [day_number(m.finish) + 0.5],
                [y],
                marker="D",
                s=marker_size,
                color=CRITICAL if late else "black",
                zorder=4,
            )
        if m.due is not None:
            ax.scatter(
                [day_number(m.due) + 0.5],
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
                (day_number(right) + 0.5, y),
                xytext=(font * 1.4, 0),
                textcoords="offset points",
                va="center",
                fontsize=font,
                color="#333333",
            )
    if c.milestones:
        ax.axhline(n - 0.5, color="#cccccc", linewidth=0.8, zorder=0)


def _dress_axes(
    ax: Axes,
    c: _GanttContent,
    labels: list[str],
    size: _GanttLayout,
    frame: _GanttFrame,
    as_of: dt.date,
) -> None:
    """Status-date line, row labels (critical ones red), the date axis and its grid."""
    total = len(labels)
    ax.axvline(day_number(as_of), color=STATUS, linestyle="--", linewidth=1.3, zorder=6)
    ax.set_yticks(range(total), labels, fontsize=size.font)
    for tick, s in zip(ax.get_yticklabels(), c.rows, strict=False):
        if s.critical and s.state != "done":
            tick.set_color(CRITICAL)
    ax.set_ylim(total - 0.5, -0.7)
    ax.tick_params(axis="y", length=0)
    date_axis(ax, c.first - frame.pad_left, c.last + frame.pad_right)
    ax.tick_params(axis="x", labelsize=8)
    if size.ticks_on_top:
        ax.tick_params(axis="x", labeltop=True, top=True)
    ax.grid(axis="x", which="major", color="#dddddd", linewidth=0.8, zorder=0)
    ax.grid(axis="x", which="minor", color="#f0f0f0", linewidth=0.6, zorder=0)
    ax.set_axisbelow(True)


def gantt_png(
    plan: Plan,
    snapshot: Snapshot,
    *,
    style: PageStyle = PLAIN,
    baseline: Baseline | None = None,
) -> bytes | None:
    """The Gantt chart, or None when the plan has no item to draw."""
    c = _gantt_content(plan, baseline)
    if c is None:
        return None
    refs = IssueRefs(snapshot, style)
    n = len(c.rows)
    size = _GanttLayout(n + len(c.milestones))
    as_of = plan.project.as_of
    labels = _gantt_labels(c, refs, size)
    colors = [DONE if s.state == "done" else CRITICAL if s.critical else NORMAL for s in c.rows]
    handles = _gantt_legend(c, baseline, as_of)
    legend_rows = 1 if sum(len(str(h.get_label())) for h in handles) <= 110 else 2

    with chart_style():  # text is measured with the fonts it is drawn with
        frame = _gantt_frame(c, labels, size, legend_rows, len(labels))
        fig = Figure(figsize=(WIDTH_IN, frame.height), dpi=DPI)
        FigureCanvasAgg(fig)
        fig.subplots_adjust(
            left=frame.left_in / WIDTH_IN,
            right=1 - 0.3 / WIDTH_IN,
            top=1 - frame.top_in / frame.height,
            bottom=frame.bottom_in / frame.height,
        )
        ax = fig.add_subplot()
        _draw_bars(ax, c, colors, size.font)
        _draw_milestones(ax, c, size.font)
        _dress_axes(ax, c, labels, size, frame, as_of)
        title = (
            f"{plan.project.name}: forecast finish {plan.project.finish.isoformat()} "
            f"(status date {as_of.isoformat()})"
        )
        if c.left_out:
            title += f"\nshowing {n} of {n + c.left_out} items: open items first, critical first"
        fig.suptitle(
            "\n".join(cut_label(line, 150) for line in title.split("\n")),
            x=frame.left_in / WIDTH_IN,
            y=1 - 0.08 / frame.height,
            ha="left",
            va="top",
            fontsize=10,
            fontweight="bold",
        )
        fig.legend(
            handles=handles,
            loc="lower center",
            bbox_to_anchor=(0.5, 0.04 / frame.height),
            ncol=len(handles) if legend_rows == 1 else (len(handles) + 1) // 2,
        )
        return png_bytes(fig)
