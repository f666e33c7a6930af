"""Resource levelling: a resource-constrained schedule on top of the CPM network.

The problem is the classic RCPSP with generalised minimum time lags: activity ``i`` takes
``duration[i]`` working days, needs ``demand[i, r]`` units of resource ``r`` on each of them,
may not start before ``release[i]`` (the CPM early start), and every relation is one
inequality ``S[succ] >= S[pred] + offset`` (the form :mod:`planner.network` compiles FS, SS,
FF and SF relations with lags into). Resource ``r`` offers ``capacity[r, t]`` units on day
``t``; the last column holds for every later day.

How the schedule is built (rules a project manager can follow):

1. **Serial schedule generation**: activities are taken one at a time in a priority order
   that respects the relations and each is placed at the earliest day on which its relations
   allow it and every resource it needs has room for its whole duration. No activity is
   split and none starts before its CPM early start.
2. **Priority**: least latest finish first (the CPM late finish: least float towards the
   finish), then the given rank (the overlay ranks by issue priority, then by key).
3. **Justification** (forward-backward improvement, Valls, Ballestin & Quintanilla 2005):
   the schedule is redone backwards from its finish, activities in order of decreasing
   finish, then forwards again in order of the backward starts. This closes gaps a single
   pass leaves and never makes the finish later.
4. **Sampling**: further priority orders are drawn by regret-biased random sampling
   (Kolisch & Hartmann 2006) from a fixed seed, each justified; the best finish is kept
   (ties: the earliest found), so the same input gives the same schedule. Only a strictly
   earlier finish replaces the schedule of the priority rule.

Fixed activities (in progress or done) keep their start and take their capacity first.
Schedules are computed in batches: one numpy array of free capacity per batch of orders, so
each step of the serial scheme is a few vector operations for the whole batch.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

_MAX_CELLS = 4_000_000  # free-capacity cells (batch x resources x days) held at once
_PAD = 32  # days searched beyond the latest earliest start before widening the window
# A sampled schedule costs about n * n steps of work (n picks, each over all n activities),
# so sampling is cut to this many n * n units: ~750 schedules at 200 activities, 30
# at 1,000, and only the priority rule with justification from about 3,000.
_SAMPLING_WORK = 10_000_000


@dataclass(frozen=True)
class Problem:
    """One levelling problem in working-day indices (index ``i`` is an activity)."""

    duration: IntArray  # (n,) working days
    release: IntArray  # (n,) earliest start (for fixed activities: their start)
    pred: IntArray  # (m,) relation S[succ] >= S[pred] + offset
    succ: IntArray
    offset: IntArray
    demand: IntArray  # (n, r) units per working day
    capacity: IntArray  # (r, h) units per day for days 0..h-1, the last column afterwards
    rank: IntArray  # (n,) tie-break after latest finish: lower goes first
    fixed: BoolArray  # (n,) start pinned at release, capacity taken regardless


@dataclass(frozen=True)
class Result:
    """The levelled starts and how they were found."""

    start: IntArray
    finish: IntArray
    makespan: int
    schedules: int  # schedules generated (each pass of the serial scheme counts one)


@dataclass(frozen=True)
class _Graph:
    """Relations in both directions as CSR, with the number of predecessors of each node."""

    n: int
    out_ptr: IntArray
    out_to: IntArray
    out_off: IntArray
    indegree: IntArray


def _graph(n: int, src: IntArray, dst: IntArray, off: IntArray) -> _Graph:
    order = np.argsort(src, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=ptr[1:])
    indeg = np.bincount(dst, minlength=n).astype(np.int64)
    return _Graph(n, ptr, dst[order], off[order], indeg)


def _topological(g: _Graph) -> IntArray:
    indeg = g.indegree.copy()
    order: list[int] = []
    ready = [int(i) for i in np.flatnonzero(indeg == 0)]
    ptr, to = g.out_ptr.tolist(), g.out_to.tolist()
    deg = indeg.tolist()
    while ready:
        node = ready.pop()
        order.append(node)
        for k in range(ptr[node], ptr[node + 1]):
            deg[to[k]] -= 1
            if deg[to[k]] == 0:
                ready.append(to[k])
    if len(order) < g.n:
        raise ValueError("relations form a cycle")
    return np.array(order, dtype=np.int64)


def latest_finish(p: Problem) -> IntArray:
    """CPM late finish of every activity (resources ignored), against the CPM finish."""
    n = len(p.duration)
    g = _graph(n, p.pred, p.succ, p.offset)
    topo = _topological(g).tolist()
    es = p.release.copy().tolist()
    ptr, to, off = g.out_ptr.tolist(), g.out_to.tolist(), g.out_off.tolist()
    fixed = p.fixed.tolist()
    for i in topo:
        for k in range(ptr[i], ptr[i + 1]):
            j = to[k]
            if not fixed[j] and es[i] + off[k] > es[j]:
                es[j] = es[i] + off[k]
    dur = p.duration.tolist()
    end = max((es[i] + dur[i] for i in range(n)), default=0)
    ls = [end - d for d in dur]
    for i in reversed(topo):
        for k in range(ptr[i], ptr[i + 1]):
            j = to[k]
            if not fixed[j] and ls[j] - off[k] < ls[i]:
                ls[i] = ls[j] - off[k]
    return np.array(ls, dtype=np.int64) + p.duration


class _Pass:
    """One direction of the serial scheme: relations, durations, demand and capacity."""

    def __init__(self, p: Problem, backward: bool, after: int = 0) -> None:
        live = ~p.fixed[p.succ]  # as in the CPM, nothing pushes a fixed activity
        src, dst, off = p.pred[live], p.succ[live], p.offset[live]
        if backward:  # tau = T - S - d turns S[s] >= S[p] + c into tau[p] >= tau[s] + c'
            src, dst, off = dst, src, off + p.duration[dst] - p.duration[src]
        self.graph = _graph(len(p.duration), src, dst, off)
        self.backward = backward
        self.p = p
        # no start lies beyond the last change of capacity (or the forward horizon ``after``
        # a backward pass starts from) plus every duration and every positive lag
        self.horizon = int(
            max(p.capacity.shape[1], int(p.release.max(initial=0)) + 1, after)
            + p.duration.sum()
            + np.maximum(off, 0).sum()
            + 1
        )

    def _initial_free(self, fixed_at: IntArray, ends: IntArray | None) -> npt.NDArray[np.int32]:
        """Free capacity (B, H, R) after the fixed activities took theirs."""
        p = self.p
        batch = len(fixed_at)
        h = self.horizon
        days = np.arange(h)
        free = np.empty((batch, h, p.capacity.shape[0]), dtype=np.int32)
        if p.capacity.shape[1] == 1:
            free[:] = p.capacity[:, 0]
        elif ends is None:  # forward: the capacity profile as it is
            free[:] = p.capacity[:, np.minimum(days, p.capacity.shape[1] - 1)].T
        else:  # backward day tau is forward day T - 1 - tau; before day 0 the lasting capacity
            idx = ends[:, None] - 1 - days[None, :]
            last = p.capacity.shape[1] - 1
            idx = np.where(idx < 0, last, np.minimum(idx, last))
            free[:] = np.moveaxis(p.capacity[:, idx], 0, 2)
        dur = p.duration
        for i in np.flatnonzero(p.fixed & (dur > 0)).tolist():
            begin = fixed_at[:, i, None]
            span = (days[None, :] >= begin) & (days[None, :] < begin + dur[i])
            free -= (span[:, :, None] * p.demand[i][None, None, :]).astype(np.int32)
        return free

    def run(
        self,
        prio: FloatArray,
        fixed_at: IntArray,
        ends: IntArray | None,
        rng: np.random.Generator | None,
    ) -> IntArray:
        """Starts (B, n) for a batch of priority rows (lower first, or sampled by regret)."""
        free = self._initial_free(fixed_at, ends)
        if len(prio) == 1 and rng is None:
            return self._run_one(prio[0], fixed_at[0], free[0])[None, :]
        p, g = self.p, self.graph
        batch, n = prio.shape
        h = self.horizon
        rows = np.arange(batch)
        est = np.zeros((batch, n), dtype=np.int64)
        if not self.backward:
            est[:] = p.release
        fixed = p.fixed
        start = np.zeros((batch, n), dtype=np.int64)
        remaining = np.broadcast_to(g.indegree, (batch, n)).copy()
        done = np.zeros((batch, n), dtype=bool)
        flat_est = est.reshape(-1)
        flat_rem = remaining.reshape(-1)
        for _ in range(n):
            eligible = (remaining == 0) & ~done
            act = self._choose(prio, eligible, rng)
            done[rows, act] = True
            at = np.where(fixed[act], fixed_at[rows, act], 0)
            sel = np.flatnonzero(~fixed[act])
            if sel.size:
                grid = free.reshape(batch * h, -1)
                at[sel] = self._place(grid, h, sel, act[sel], est[sel, act[sel]])
            start[rows, act] = at
            # push earliest starts of successors and release them
            lo, hi = g.out_ptr[act], g.out_ptr[act + 1]
            cnt = hi - lo
            total = int(cnt.sum())
            if total:
                owner = np.repeat(rows, cnt)
                pos = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(total)
                targets = g.out_to[pos]
                flat = owner * n + targets
                np.maximum.at(flat_est, flat, at[owner] + g.out_off[pos])
                np.subtract.at(flat_rem, flat, 1)
        return start

    def _run_one(
        self, prio: FloatArray, fixed_at: IntArray, free: npt.NDArray[np.int32]
    ) -> IntArray:
        """The serial scheme for one priority list, with plain lists and a heap.

        The room search is one byte-string search for a run of ``d`` good days, so a
        schedule of 10,000 activities costs a few vector operations per activity.
        """
        p, g = self.p, self.graph
        n = len(prio)
        h = self.horizon
        est = [0] * n if self.backward else p.release.tolist()
        remaining = g.indegree.tolist()
        ptr, to, off = g.out_ptr.tolist(), g.out_to.tolist(), g.out_off.tolist()
        dur = p.duration.tolist()
        fixed = p.fixed.tolist()
        pinned = fixed_at.tolist()
        used = [np.flatnonzero(row) for row in p.demand]
        need = [p.demand[i, used[i]].astype(np.int32) for i in range(n)]
        keys = prio.tolist()
        heap = [(keys[i], i) for i in range(n) if remaining[i] == 0]
        heapq.heapify(heap)
        start = [0] * n
        while heap:
            _, a = heapq.heappop(heap)
            d = dur[a]
            if fixed[a]:
                at = pinned[a]
            elif d == 0 or used[a].size == 0:
                at = est[a]
            else:
                at = self._room(free, used[a], need[a], est[a], d, h)
            start[a] = at
            for k in range(ptr[a], ptr[a + 1]):
                j = to[k]
                if at + off[k] > est[j]:
                    est[j] = at + off[k]
                remaining[j] -= 1
                if remaining[j] == 0:
                    heapq.heappush(heap, (keys[j], j))
        return np.array(start, dtype=np.int64)

    @staticmethod
    def _room(
        free: npt.NDArray[np.int32],
        cols: IntArray,
        need: npt.NDArray[np.int32],
        est: int,
        d: int,
        h: int,
    ) -> int:
        """Earliest t >= est with ``free[t:t+d, cols] >= need``; takes the capacity there."""
        run = b"\x01" * d
        width = d + _PAD
        while True:
            hi = min(est + width, h)
            ok = (free[est:hi, cols] >= need).all(axis=1)
            pos = ok.tobytes().find(run)
            if pos >= 0:
                at = est + pos
                free[at : at + d, cols] -= need
                return at
            if hi == h:
                raise ValueError("no room within the horizon: a demand exceeds the capacity")
            width *= 2

    @staticmethod
    def _choose(prio: FloatArray, eligible: BoolArray, rng: np.random.Generator | None) -> IntArray:
        masked = np.where(eligible, prio, np.inf)
        if rng is None:
            best: IntArray = np.argmin(masked, axis=1)
            return best
        # regret-biased sampling: weight = (worst eligible priority - own priority + 1)
        worst = np.max(np.where(eligible, prio, -np.inf), axis=1, keepdims=True)
        weight = np.where(eligible, worst - prio + 1.0, 0.0)
        cum = np.cumsum(weight, axis=1)
        draw = rng.random(len(prio)) * cum[:, -1]
        pick: IntArray = np.minimum((cum <= draw[:, None]).sum(axis=1), prio.shape[1] - 1)
        return pick

    def _place(
        self, free: npt.NDArray[np.int32], h: int, rows: IntArray, act: IntArray, est: IntArray
    ) -> IntArray:
        """Earliest start >= est with room for the whole duration; takes the capacity.

        Each row looks at its own window of days from its earliest start, widened only when
        some row finds no room in it.
        """
        dur = self.p.duration[act]
        need = self.p.demand[act][:, None, :].astype(np.int32)  # (B, 1, R)
        width = int(dur.max()) + _PAD
        while True:
            t = np.arange(width)
            days = np.minimum(est[:, None] + t[None, :], h - 1)  # (B, W)
            cells = rows[:, None] * h + days
            window = free[cells]  # (B, W, R)
            ok = (window >= need).all(axis=2) & (est[:, None] + t[None, :] < h)
            bad = np.zeros((len(rows), width + 1), dtype=np.int32)
            np.cumsum(~ok, axis=1, out=bad[:, 1:])
            end = np.minimum(t[None, :] + dur[:, None], width)
            count = np.take_along_axis(bad, end, axis=1) - bad[:, :width]
            valid = (count == 0) & (t[None, :] + dur[:, None] <= width)
            first = np.argmax(valid, axis=1)
            found = valid[np.arange(len(rows)), first]
            if found.all():
                break
            if width >= h:
                raise ValueError("no room within the horizon: a demand exceeds the capacity")
            width *= 2
        span = (t[None, :] >= first[:, None]) & (t[None, :] < (first + dur)[:, None])
        free[cells] = window - span[:, :, None] * need
        result: IntArray = first + est
        return result


def level(p: Problem, *, schedules: int = 1000, seed: int = 2006) -> Result:
    """Levelled starts: priority rule, justification, then seeded regret-biased sampling.

    ``schedules`` bounds the serial-scheme passes (3 per justified order); large problems
    get fewer (see ``_SAMPLING_WORK``), never fewer than the priority rule's three.
    """
    n = len(p.duration)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Result(empty, empty, 0, 0)
    if (p.demand > p.capacity[:, -1][None, :]).any():
        raise ValueError("a demand exceeds the lasting capacity of its resource")
    lft = latest_finish(p).astype(np.float64)
    # priority value: latest finish, then rank (ranks are < n, so scale them below one day)
    order_rank = np.argsort(np.argsort(p.rank, kind="stable"), kind="stable")
    base = lft + order_rank / (n + 1.0)
    fwd = _Pass(p, backward=False)
    bwd = _Pass(p, backward=True, after=fwd.horizon)
    cells = p.capacity.shape[0] * max(fwd.horizon, bwd.horizon)
    size = int(max(1, min(128, _MAX_CELLS // max(cells, 1))))
    rng = np.random.default_rng(seed)
    schedules = min(schedules, 3 * (_SAMPLING_WORK // (n * n)))

    best: int | None = None
    best_start = p.release.copy()
    made = 0
    first = True
    while first or made < schedules:
        batch = 1 if first else min(size, max(1, (schedules - made) // 3))
        prio = np.broadcast_to(base, (batch, n)).copy()
        fixed_at = np.broadcast_to(p.release, (batch, n))
        start = fwd.run(prio, fixed_at, None, None if first else rng)
        start = _justify(p, fwd, bwd, start)
        made += 3 * batch
        spans = (start + p.duration).max(axis=1)
        b = int(np.argmin(spans))  # the first of the shortest
        if best is None or spans[b] < best:
            best = int(spans[b])
            best_start = start[b].copy()
        first = False
    return Result(best_start, best_start + p.duration, best or 0, made)


def _justify(p: Problem, fwd: _Pass, bwd: _Pass, start: IntArray) -> IntArray:
    """Backward pass by decreasing finish, forward pass by increasing backward start.

    Keeps, per row, the justified schedule only where it finishes earlier: an equal finish
    keeps the schedule of the priority order, the one a project manager can retrace.
    """
    finish = start + p.duration
    ends = finish.max(axis=1)
    fixed_back = ends[:, None] - finish  # tau of fixed activities
    tau = bwd.run((-finish).astype(np.float64), fixed_back, ends, None)
    back_start = ends[:, None] - tau - p.duration
    again = fwd.run(
        back_start.astype(np.float64), np.broadcast_to(p.release, start.shape), None, None
    )
    keep = (again + p.duration).max(axis=1) < ends
    result: IntArray = np.where(keep[:, None], again, start)
    return result
