"""What every chart shares: size, colours, one chart at a time in a fixed style, PNG bytes
without a software version or a time, date axes and short labels."""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib.dates as mdates
import matplotlib.style as mpl_style
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.textpath import TextToPath

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
NUM2DATE: Callable[[float], dt.datetime] = mdates.num2date
_AUTO_LOCATOR: Callable[..., mdates.AutoDateLocator] = mdates.AutoDateLocator
_CONCISE_FORMATTER: Callable[..., mdates.ConciseDateFormatter] = mdates.ConciseDateFormatter
_WEEKDAY_LOCATOR: Callable[..., mdates.WeekdayLocator] = mdates.WeekdayLocator

_LOCK = threading.Lock()
TEXT_PATHS = TextToPath()
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
def chart_style() -> Iterator[None]:
    """One chart at a time (rcParams are global), in the default style plus ours."""
    with _LOCK, mpl_style.context(["default", _RC]):
        yield


def new_figure(height_in: float) -> Figure:
    fig = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata=PNG_METADATA)
    return buffer.getvalue()


def day_number(day: dt.date) -> float:
    return float(_DATE2NUM(day))


def cut_label(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def date_axis(ax: Axes, first: dt.date, last: dt.date) -> None:
    """Readable dates: concise month/day labels, weekly minor ticks on short spans."""
    locator = _AUTO_LOCATOR(minticks=5, maxticks=12)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(_CONCISE_FORMATTER(locator, show_offset=True))
    if (last - first).days <= 200:
        ax.xaxis.set_minor_locator(_WEEKDAY_LOCATOR(byweekday=mdates.MO))
    ax.set_xlim(day_number(first), day_number(last))


def money_axis(value: float, _position: object) -> str:
    return f"{value:,.0f}"
