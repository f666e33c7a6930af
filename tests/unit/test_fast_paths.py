"""The shortcuts taken for big plans give what the plain ways give."""

from __future__ import annotations

import gc
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from tracker_bridge.errors import InputError
from tracker_bridge.gcpause import paused_gc
from tracker_bridge.model import ItemSchedule, parse_snapshot
from tracker_bridge.planner.montecarlo import stats
from tracker_bridge.planner.montecarlo.stats import _count, _Histogram
from tracker_bridge.planner.plan import trusted_schedule
from tracker_bridge.snapshot_file import load_snapshot


class _Buffers:
    """The one workspace attribute the histograms use."""

    def __init__(self, rows: int, trials: int) -> None:
        self.block_rows = rows
        self.index = np.empty(rows * trials, dtype=np.intp)


def test_counting_in_place_equals_merging_chunk_histograms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stats, "_QUANTILE_ROWS", 64)  # several blocks of rows
    rng = np.random.default_rng(7)
    rows, trials = 300, 64
    merged, counted = _Histogram(), _Histogram()
    lock = threading.Lock()
    ws = _Buffers(rows, trials)
    drift = np.arange(rows)[:, None] // 10
    everything = []
    for chunk in range(6):
        # each chunk reaches further on both sides, so the layout has to grow
        values = (rng.integers(-3 * chunk, 20 + 5 * chunk, (rows, trials)) + drift).astype(np.int16)
        everything.append(values.astype(np.int64) - 1)
        low, counts = _count(values, ws, 64)  # type: ignore[arg-type]
        merged.add(low - 1, counts)
        counted.count(values, -1, ws, 64, lock)  # type: ignore[arg-type]
    total = 6 * trials
    samples = np.concatenate(everything, axis=1)
    for q in (0.5, 0.8, 0.95):
        expected = np.sort(samples, axis=1)[:, int(np.ceil(q * total)) - 1]
        assert np.array_equal(counted.quantile(q, total), expected)
        assert np.array_equal(merged.quantile(q, total), expected)


def test_trusted_schedule_is_what_model_construct_builds() -> None:
    values = {
        "key": "A",
        "early_start": "2027-01-04",
        "early_finish": "2027-01-05",
        "late_start": "2027-01-06",
        "late_finish": "2027-01-07",
        "total_float": 2,
        "free_float": 1,
        "critical": False,
        "duration_days": 2,
        "remaining_days": 2,
        "state": "planned",
        "estimate_missing": True,
        "deadline": None,
    }
    full = ItemSchedule.model_validate(values)
    built = trusted_schedule(full.model_dump())
    assert built == full
    assert built.model_fields_set == full.model_fields_set | set(ItemSchedule.model_fields)
    assert built.model_dump_json() == full.model_dump_json()
    built.risk_score = 7  # still a normal model: assignment works and is seen
    assert json.loads(built.model_dump_json())["risk_score"] == 7


def test_paused_gc_nests_and_restores() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


def test_snapshot_file_reads_as_parse_snapshot_does(tmp_path: Path) -> None:
    data = {
        "project": {"name": "p", "start": "2027-01-04"},
        "items": [{"key": "A", "estimate_hours": 8, "labels": ["x"]}, {"key": "B"}],
        "dependencies": [{"predecessor": "A", "successor": "B", "lag_days": 1}],
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_snapshot(path) == parse_snapshot(data)
    data["items"][1]["estimate_hours"] = -1  # type: ignore[index]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError, match=r"items\[B\]\.estimate_hours <- "):
        load_snapshot(path)
