"""The levelling overlay of plan(): capacities from [resources], worked by hand.

Calendar: Mon-Fri, 8 h a day, project start Monday 2025-01-06 (index 0), no holidays.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from tracker_bridge.model import Plan, Snapshot
from tracker_bridge.planner import plan
from tracker_bridge.publish import PlainStyle
from tracker_bridge.publish.document import Heading
from tracker_bridge.publish.fields import desired_fields
from tracker_bridge.publish.report import build_report
from tracker_bridge.settings import FieldNames, Settings

MONDAY = dt.date(2025, 1, 6)


def _snapshot(items: list[dict[str, Any]], deps: list[dict[str, Any]] | None = None) -> Snapshot:
    return Snapshot.model_validate(
        {
            "project": {"name": "example", "start": MONDAY.isoformat()},
            "items": items,
            "dependencies": deps or [],
            "milestones": [{"key": "m1", "name": "Release"}],
        }
    )


def _plan(snapshot: Snapshot, resources: dict[str, Any] | None = None, level: bool = True) -> Plan:
    settings = Settings.model_validate({"planner": {"level": level}, "resources": resources or {}})
    return plan(snapshot, settings, MONDAY)


def _item(key: str, hours: float, who: str | None, **extra: Any) -> dict[str, Any]:
    return {"key": key, "estimate_hours": hours, "assignee": who, "milestone": "m1", **extra}


def test_off_by_default_so_existing_plans_do_not_change() -> None:
    p = _plan(_snapshot([_item("a", 24, "ann"), _item("b", 24, "ann")]), level=False)
    assert p.overlays.levelling is None


def test_one_person_does_one_item_at_a_time() -> None:
    """a and b, 3 days each, both Ann's: CPM runs them in parallel (Mon-Wed, finish Wed 8th);
    levelled, a (key first on equal late finish) runs Mon-Wed and b Thu 9th - Mon 13th."""
    p = _plan(_snapshot([_item("a", 24, "ann"), _item("b", 24, "ann")]))
    lv = p.overlays.levelling
    assert lv is not None
    assert p.project.finish == dt.date(2025, 1, 8)
    assert lv.items["a"].model_dump() == {
        "start": dt.date(2025, 1, 6),
        "finish": dt.date(2025, 1, 8),
        "delay_days": 0,
        "resource": "ann",
    }
    assert lv.items["b"].start == dt.date(2025, 1, 9)
    assert lv.items["b"].finish == dt.date(2025, 1, 13)
    assert lv.items["b"].delay_days == 3
    assert lv.finish == dt.date(2025, 1, 13)
    assert lv.delay_days == 3
    assert lv.milestones[0].levelled_finish == dt.date(2025, 1, 13)
    assert [link.model_dump() for link in lv.critical_chain] == [
        {"key": "a", "resource": "ann", "driven_by": "start"},
        {"key": "b", "resource": "ann", "driven_by": "resource"},
    ]
    assert lv.critical_chain_people == ["ann"]
    assert lv.resources["ann"].overallocated_days_unlevelled == 3
    # the CPM figures are unchanged
    assert p.items["b"].early_start == MONDAY


def test_part_time_day_off_and_pool() -> None:
    """Bob works 4 h a day: 16 h take him 4 days (Mon-Thu). Cy is off on Monday, so his
    1-day item waits for Tuesday. The pool 'qa' has two members: of three 1-day items the
    third waits a day. Unassigned work is not levelled unless a pool is named."""
    items = [
        _item("bob1", 16, "bob"),
        _item("cy1", 8, "cy"),
        _item("q1", 8, "qa"),
        _item("q2", 8, "qa"),
        _item("q3", 8, "qa"),
        _item("u1", 8, None),
        _item("u2", 8, None),
    ]
    resources = {
        "people": {"bob": {"hours_per_day": 4}, "cy": {"days_off": ["2025-01-06"]}},
        "pools": {"qa": {"members": ["tess", "tim"]}},
    }
    lv = _plan(_snapshot(items), resources).overlays.levelling
    assert lv is not None
    days = {k: (v.start.isoformat(), v.finish.isoformat()) for k, v in lv.items.items()}
    assert days["bob1"] == ("2025-01-06", "2025-01-09")
    assert days["cy1"] == ("2025-01-07", "2025-01-07")
    assert sorted(days[k] for k in ("q1", "q2", "q3")) == [
        ("2025-01-06", "2025-01-06"),
        ("2025-01-06", "2025-01-06"),
        ("2025-01-07", "2025-01-07"),
    ]
    assert days["u1"] == days["u2"] == ("2025-01-06", "2025-01-06")
    assert lv.resources["bob"].hours_per_day == 4


def test_relations_hold_and_fields_and_page_show_it() -> None:
    """b follows a (FS); c is Ann's too and independent: a, then b and c compete for Ann."""
    snap = _snapshot(
        [_item("a", 8, "ann"), _item("b", 8, "ann"), _item("c", 16, "ann")],
        [{"predecessor": "a", "successor": "b", "type": "FS"}],
    )
    p = _plan(snap)
    assert p.overlays.levelling is not None
    lv = p.overlays.levelling.items
    assert lv["b"].start > lv["a"].finish
    starts = sorted((lv[k].start, lv[k].finish) for k in "abc")
    assert all(f < s2 for (_, f), (s2, _) in itertools.pairwise(starts))
    values = desired_fields(p, FieldNames())
    assert values["b"]["levelled_start"] == lv["b"].start
    assert values["c"]["levelled_finish"] == lv["c"].finish
    doc = build_report(p, snap, style=PlainStyle())
    headings = [b.text for b in doc.blocks if isinstance(b, Heading)]
    assert "With people's capacity (levelled)" in headings


def test_unassigned_must_name_a_pool() -> None:
    import pytest

    from tracker_bridge.errors import ConfigError
    from tracker_bridge.settings import settings_from_dict

    with pytest.raises(
        ConfigError, match=r"resources\.unassigned <- 'devs' is not a \[resources\.pools"
    ):
        settings_from_dict({"resources": {"unassigned": "devs"}}, "config.toml")


def test_load_chart_comes_with_the_levelling_overlay() -> None:
    from tracker_bridge.publish import render_desired
    from tracker_bridge.publish.load_chart import load_png
    from tracker_bridge.publish.names import LOAD_PNG

    snap = _snapshot([_item("a", 24, "ann"), _item("b", 24, "ann")])
    levelled, plain = _plan(snap), _plan(snap, level=False)
    png = load_png(levelled)
    assert png is not None and png[:4] == b"\x89PNG"
    assert load_png(levelled) == png  # same plan, same bytes
    assert load_png(plain) is None
    state = render_desired(
        levelled, snap, style=PlainStyle(), page_title="Plan", field_names=FieldNames()
    )
    assert LOAD_PNG in [a.filename for a in state.pages[0].attachments]
    assert LOAD_PNG in state.pages[0].body
