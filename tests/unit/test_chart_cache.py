"""Charts are drawn only when what they show changed: the input digest and the file cache."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from test_publish import planned, redmine_snapshot

from tracker_bridge.adapters.redmine.style import RedminePageStyle
from tracker_bridge.chart_cache import ChartCache
from tracker_bridge.model import Attachment
from tracker_bridge.planner import plan as make_plan
from tracker_bridge.publish import charts, render_desired
from tracker_bridge.settings import FieldNames, Settings


def render(plan: object, snapshot: object, store: ChartCache) -> list[Attachment]:
    state = render_desired(
        plan,  # type: ignore[arg-type]
        snapshot,  # type: ignore[arg-type]
        style=RedminePageStyle("textile"),
        page_title="Plan",
        field_names=FieldNames(),
        chart_store=store,
    )
    return state.pages[0].attachments


def test_unchanged_inputs_reuse_the_charts_changed_ones_redraw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = redmine_snapshot()
    plan = planned(snapshot)
    store = ChartCache(tmp_path / "chart-cache", "web")
    first = render(plan, snapshot, store)
    assert first and all(a.data.startswith(b"\x89PNG") for a in first)

    def no_drawing(*_args: object, **_kwargs: object) -> list[Attachment]:
        raise AssertionError("charts drawn although nothing they show changed")

    monkeypatch.setattr(charts, "render_charts", no_drawing)
    assert render(plan, snapshot, store) == first  # same bytes, not drawn
    (digest,) = [entry.name for entry in store.root.iterdir()]
    assert ChartCache(tmp_path / "chart-cache", "other").load(digest) is None  # per project


def test_a_changed_title_or_plan_draws_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = redmine_snapshot()
    plan = planned(snapshot)
    store = ChartCache(tmp_path, "web")
    render(plan, snapshot, store)
    drawn: list[int] = []
    real = charts.render_charts

    def counting(*args: object, **kwargs: object) -> list[Attachment]:
        drawn.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(charts, "render_charts", counting)
    renamed = snapshot.model_copy(deep=True)
    renamed.items[0].title = "Another title"
    render(plan, renamed, store)
    later = make_plan(snapshot, Settings(), dt.date(2025, 1, 13))
    render(later, snapshot, store)
    assert len(drawn) == 2
    assert len(list(store.root.iterdir())) == 1  # only the latest digest is kept


def test_an_unreadable_or_unfinished_cache_entry_is_drawn_again(tmp_path: Path) -> None:
    store = ChartCache(tmp_path, "web")
    chart = Attachment(filename="gantt.png", data=b"\x89PNG...")
    store.save("abc", [chart])
    assert store.load("abc") == [chart]
    (store.root / "abc" / "gantt.png").unlink()
    assert store.load("abc") is None
    (store.root / "def").mkdir()  # interrupted: no completion marker
    assert store.load("def") is None
