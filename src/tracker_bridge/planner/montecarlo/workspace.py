"""Per-worker buffers of the Monte Carlo chunks."""

from __future__ import annotations

import numpy as np

from tracker_bridge.planner.montecarlo.model import _Model

_BLOCK_ELEMENTS = 1 << 20  # rows x trials per block for 64-bit index temporaries
_SMALL_BLOCK = 1 << 17  # rows x trials per block of the comparison sampler (stays in cache)


class _Workspace:
    """Per-worker buffers, reused from chunk to chunk (fresh memory costs page faults)."""

    def __init__(self, model: _Model, trials: int) -> None:
        n, dtype = model.n, model.dtype
        self.w = np.empty(n * trials, dtype=dtype)
        self.x = np.empty(2 * n * trials, dtype=dtype)
        self.y = np.empty(2 * n * trials, dtype=dtype)
        self.gather = np.empty(max(model.max_edges, 1) * trials, dtype=dtype)
        self.cur = np.empty(max(model.max_nodes, 1) * trials, dtype=dtype)
        self.node_work = np.empty(max(model.max_nodes, 1) * trials, dtype=dtype)
        self.block_rows = max(1, min(n, _BLOCK_ELEMENTS // max(trials, 1)))
        self.index = np.empty(self.block_rows * trials, dtype=np.intp)
        self.small_rows = max(1, min(n, _SMALL_BLOCK // max(trials, 1)))
        self.flags = np.empty(max(n, 1) * trials, dtype=bool)
        self.grouped = np.empty(max(model.group_rows.size, 1) * trials, dtype=dtype)
