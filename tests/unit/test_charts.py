"""PNG charts of the plan page: valid PNGs, deterministic bytes, sane sizes, big plans."""

from __future__ import annotations

import datetime as dt
import random
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Any

import pytest

from tracker_bridge.adapters.redmine.style import RedminePageStyle
from tracker_bridge.model import Plan, Snapshot
from tracker_bridge.planner import plan as make_plan
from tracker_bridge.planner.baseline import make_baseline
from tracker_bridge.publish.charts import (
    MAX_GANTT_ROWS,
    finish_histogram_png,
    gantt_png,
    render_charts,
    s_curve_png,
)
from tracker_bridge.publish.gantt import _gantt_rows
from tracker_bridge.publish.names import FINISH_PNG, GANTT_PNG, S_CURVE_PNG
from tracker_bridge.settings import Settings, settings_from_dict

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
AS_OF = dt.date(2025, 2, 3)  # a Monday


def synthetic(n: int, *, seed: int = 7) -> Snapshot:
    """``n`` items in four releases: the first fifth done, random links to recent items."""
    rnd = random.Random(seed)
    items: list[dict[str, Any]] = []
    links: set[tuple[str, str]] = set()
    for i in range(1, n + 1):
        item: dict[str, Any] = {
            "key": f"redmine:{i}",
            "title": f"Work package {i} "
            + "for the order pipeline and its reports"[: rnd.randint(5, 40)],
            "estimate_hours": rnd.choice([4, 8, 16, 24, 40]),
            "milestone": f"m{1 + (i - 1) * 4 // n}",
            "assignee": rnd.choice(["Ana", "Ben", "Chen"]),
        }
        if i <= n // 5:
            item.update(status="closed", start="2025-01-06", closed_on="2025-01-10")
        items.append(item)
        for _ in range(rnd.randint(0, 2)):
            if i > 1:
                links.add((f"redmine:{rnd.randint(max(1, i - 12), i - 1)}", f"redmine:{i}"))
    return Snapshot.model_validate(
        {
            "project": {"name": f"Synthetic {n}", "start": "2025-01-06"},
            "milestones": [
                {"key": f"m{j}", "name": f"Release {j}", "due": f"2025-0{2 + j}-03"}
                for j in range(1, 5)
            ],
            "items": items,
            "dependencies": [{"predecessor": p, "successor": s} for p, s in sorted(links)],
            "risks": [
                {
                    "key": "risk:1",
                    "title": "Supplier late",
                    "probability": 0.3,
                    "impact_days": 5,
                    "threatens": [f"redmine:{n}"],
                }
            ],
        }
    )


def settings() -> Settings:
    return settings_from_dict(
        {
            "budget": {"rates": {"Ana": 90, "Ben": 80, "Chen": 70}},
            "risk": {"trials": 300},
        }
    )


@pytest.fixture(scope="module")
def planned() -> tuple[Plan, Snapshot]:
    snapshot = synthetic(40)
    return make_plan(snapshot, settings(), AS_OF), snapshot


# Drawing is the slow part (seconds per chart on a shared machine): each chart the tests
# compare against is drawn once per module.
@pytest.fixture(scope="module")
def drawn(planned: tuple[Plan, Snapshot]) -> dict[str, bytes]:
    """The charts of ``planned``, by file name."""
    plan, snapshot = planned
    return {a.filename: a.data for a in render_charts(plan, snapshot)}


@dataclass(frozen=True)
class BigGantt:
    snapshot: Snapshot
    plan: Plan
    png: bytes
    seconds: float


@pytest.fixture(scope="module")
def big_gantt() -> BigGantt:
    """A plan with more items than the Gantt has rows, and its Gantt."""
    snapshot = synthetic(MAX_GANTT_ROWS + 40)
    plan = make_plan(snapshot, Settings(), AS_OF, overlays=False)
    started = time.perf_counter()
    data = gantt_png(plan, snapshot, style=RedminePageStyle())
    assert data is not None
    return BigGantt(snapshot, plan, data, time.perf_counter() - started)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk (which must come first)."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def chunks(data: bytes) -> list[bytes]:
    """The chunk types of a PNG, checking each chunk's CRC on the way."""
    kinds = []
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc
        kinds.append(kind)
        pos += 12 + length
    assert kinds[-1] == b"IEND"
    return kinds


def test_every_chart_is_a_valid_png_of_sane_size(
    planned: tuple[Plan, Snapshot], drawn: dict[str, bytes]
) -> None:
    plan, snapshot = planned
    charts = render_charts(plan, snapshot)
    assert [a.filename for a in charts] == [GANTT_PNG, FINISH_PNG, S_CURVE_PNG]
    for chart in charts:
        assert chart.content_type == "image/png"
        width, height = png_size(chart.data)
        assert width == 1200
        assert 300 <= height <= 2000
        assert 5_000 < len(chart.data) < 1_000_000
        kinds = chunks(chart.data)
        assert b"tEXt" not in kinds and b"iTXt" not in kinds  # no software version, no time
        assert b"Matplotlib" not in chart.data
    # drawing twice gives the same bytes
    assert [a.data for a in charts] == [drawn[name] for name in CHART_ORDER]


CHART_ORDER = (GANTT_PNG, FINISH_PNG, S_CURVE_PNG)


def test_a_plan_read_back_from_json_draws_the_same_charts(
    planned: tuple[Plan, Snapshot], drawn: dict[str, bytes]
) -> None:
    plan, _ = planned
    again = Plan.model_validate(plan.to_json_dict())  # ISO strings read back as dates
    assert s_curve_png(again) == drawn[S_CURVE_PNG]
    assert finish_histogram_png(again) == drawn[FINISH_PNG]


def test_charts_need_their_overlays() -> None:
    snapshot = synthetic(12)
    bare = make_plan(snapshot, Settings(), AS_OF, overlays=False)
    assert [a.filename for a in render_charts(bare, snapshot)] == [GANTT_PNG]
    assert s_curve_png(bare) is None and finish_histogram_png(bare) is None
    empty = Snapshot.model_validate({"project": {"name": "Empty", "start": "2025-01-06"}})
    assert render_charts(make_plan(empty, Settings(), AS_OF), empty) == []


def test_the_gantt_draws_the_baseline_when_given(
    planned: tuple[Plan, Snapshot], drawn: dict[str, bytes]
) -> None:
    plan, snapshot = planned
    earlier = make_plan(snapshot, settings(), dt.date(2025, 1, 6))
    base = make_baseline(earlier, snapshot, "first", dt.datetime(2025, 1, 6, 8))
    compared = make_plan(snapshot, settings(), AS_OF, baseline=base)
    with_bars = gantt_png(compared, snapshot, baseline=base)
    without = gantt_png(compared, snapshot)
    assert with_bars is not None and without is not None
    assert with_bars != without
    assert png_size(with_bars) == png_size(without)
    # a baseline the plan was not compared with is not drawn
    assert gantt_png(plan, snapshot, baseline=base) == drawn[GANTT_PNG]


def test_the_gantt_grows_with_the_items_within_bounds(big_gantt: BigGantt) -> None:
    heights = {}
    for n in (10, 60):
        snapshot = synthetic(n)
        plan = make_plan(snapshot, settings_from_dict({"risk": {"trials": 100}}), AS_OF)
        data = gantt_png(plan, snapshot, style=RedminePageStyle())
        assert data is not None
        width, heights[n] = png_size(data)
        assert width == 1200
    # the full chart: MAX_GANTT_ROWS (300) rows
    width, heights[MAX_GANTT_ROWS] = png_size(big_gantt.png)
    assert width == 1200
    assert big_gantt.seconds < 30  # about 3 s on a shared 2-core machine
    assert len(big_gantt.png) < 2_000_000
    assert heights[10] < heights[60] < heights[MAX_GANTT_ROWS] <= 4_500
    assert heights[10] >= 400  # room for title, legend and milestone rows


def test_more_items_than_rows_shows_the_open_ones(big_gantt: BigGantt) -> None:
    plan = big_gantt.plan
    rows, left_out = _gantt_rows(plan)
    assert (len(rows), left_out) == (MAX_GANTT_ROWS, 40)
    open_keys = {k for k, s in plan.items.items() if s.state != "done"}
    assert open_keys <= {s.key for s in rows}  # only done items are left out
    assert rows == sorted(rows, key=lambda s: s.early_start)
    assert png_size(big_gantt.png)[1] <= 4_500
