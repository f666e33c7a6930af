"""Schedule risk: a vectorised Monte Carlo simulation over the compiled CPM network.

Every trial draws a duration for each open item, lets the open risks fire, and runs the
same forward and backward pass as the deterministic plan (:mod:`.cpm`) — for thousands of
trials at once. Results: P50/P80/P95 finish dates, the mean (the working day nearest it)
and standard deviation (working days) of the finish, and the probability of finishing on
time for every milestone and the project, and per item the criticality index and P80 finish.

How a trial is made (all of it explainable from the snapshot and the settings):

* **Three-point estimate per open item, in hours.** ``estimate_range`` (optimistic / likely /
  pessimistic) when the item has one; otherwise the estimate (``planner.default_estimate_hours``
  when it has none, as the plan does) times ``risk.default_optimistic_factor`` / 1 /
  ``risk.default_pessimistic_factor``. Such items are reported as having a *default spread*.
* **Distribution.** ``pert`` (default): a beta distribution scaled to ``[a, b]`` with
  ``alpha = 1 + 4(m-a)/(b-a)``, ``beta = 1 + 4(b-m)/(b-a)`` (mean ``(a+4m+b)/6``);
  ``triangular``: mean ``(a+m+b)/3``. ``a == b`` means no spread: the duration is fixed.
* **Ticks, like the deterministic plan.** Time is counted in the plan's ticks (a working
  hour at a whole number of ``hours_per_day``). A sampled duration of ``x`` hours takes the
  nearest whole number of ticks (at least 1): rounding up would add half a tick to the mean
  of every item, rounding to the nearest keeps the mean of a serial chain the sum of its
  items' means. An estimate without spread takes the plan's work (rounded up) unsampled; an
  in-progress item then schedules the remaining share ``ceil(ticks * (100 - done) / 100)``
  exactly as the plan does; closed items keep their actual dates in every trial. Sampling is
  inverse-CDF sampling of that duration in ticks: the probability of each whole tick is
  computed exactly from the beta (or triangular) CDF, and each trial maps a 16-bit uniform
  draw through those probabilities on a grid of ``K`` equally likely points (``K = 65536``;
  fewer, never below 1024, when more than 64 distinct estimates need a quantile table — a
  probability resolution of at most 1/1024, well below the sampling error of the
  simulation itself, ``0.5/sqrt(trials)``). That is what makes 10^8 item-trials take about
  a second instead of ten (a numpy beta draw costs ~90 ns).
* **Risks.** Every open risk with ``probability > 0`` and ``impact_days > 0`` fires in a trial
  with its probability — once per trial, for all the items it threatens together (a summary
  item stands for its leaves). Each firing adds ``impact_days`` to the remaining work of every
  open item it threatens; the sum of the impacts is rounded up to a whole tick.
* **Relations.** ``S_succ >= S_pred + offset`` with the offset recomputed from the trial's
  own durations: ``(work_pred if FS/FF) + lag - (work_succ if FF/SF)``. The passes never
  materialise per-trial offsets: a relation reads the predecessor's start or finish and
  bounds the successor's start or finish.
* **Criticality index** of an item: the share of trials in which its total float is 0 on that
  trial's longest path (late dates from the trial's own finish; deadlines are not used, so
  every trial has a critical path). **P80 finish**: the date by which the item is finished in
  80 % of trials. Percentiles are order statistics: P80 is the smallest date on or before
  which at least 80 % of the trials finish. Dates are inclusive and shown as the plan shows
  them: the working day of the last tick worked (a zero-duration item driven by a
  predecessor sits on that predecessor's last day); finishes are counted in these days.
* **As many trials as needed.** Called with ``stop_when_stable`` (the risk overlay does),
  ``risk.trials`` is a maximum: after 512, 1,024, 2,048, ... trials it checks a 95 %
  confidence interval of each P50/P80/P95 finish of the project and the milestones
  (distribution-free, from order statistics: ranks ``N q -/+ 1.96 sqrt(N q (1 - q))``) and
  stops once none is wider than ``2 x risk.precision_days``. Without spread every trial is
  the same, so it stops at the first check.
* **Reproducible.** Trials run in chunks; chunk ``c`` draws from
  ``PCG64(SeedSequence(seed).spawn(chunks)[c])``. The chunk size depends only on the number
  of items, so the same snapshot, settings and seed give the same result on any machine and
  with any number of worker threads.

With no spread (optimistic = likely = pessimistic, no open risk) every trial is the
deterministic plan: all percentiles equal its dates and the criticality index is 1 exactly
for the items with zero float (0 otherwise; without deadlines this is the plan's critical set).

Performance (``benchmarks/bench_montecarlo.py``: 10,000 trials x 10,000 items in about
1 CPU-second; 0.8-1.5 s wall on a shared 2-core machine):

* item-trials are ``(items, trials)`` blocks of int16 tick indices (int32 when a bound on
  the schedule says the project could run past 32,000 ticks: 4,000 days of 8 h), 1,024 trials
  per chunk for 10,000 items (16M item-trials, ~180 MB per worker), chunks on a thread pool
  (numpy releases the GIL in its loops);
* one vectorised step per network level and pass; each relation is one row gather; the
  in-degree of a node is reduced with a few contiguous ``maximum``/``minimum`` calls (edges
  laid out slot by slot, nodes by falling in-degree) — ``maximum.at`` and ``reduceat`` are
  ~10x slower on 2-D blocks — and every node is written once, at its own level;
* durations come from 16-bit uniforms (``PCG64.random_raw`` split in four): when many items
  share an estimate (default spreads of round estimates), by comparing with the few points
  where the duration in ticks steps up; otherwise by a quantile-table lookup;
* the P80 of each item comes from per-item histograms of its finish (``bincount`` in
  cache-sized blocks, merged across chunks), not from storing every trial.

The package, one job per module: ``distributions`` (PERT / triangular CDFs, tick
thresholds, quantile tables and steps), ``model`` (the simulation model compiled from the
network: row order, samplers, level plans, risks, groups), ``workspace`` (per-worker
buffers), ``passes`` (the vectorised forward and backward passes), ``chunk`` (sampling and
one chunk of trials), ``stats`` (histograms, percentiles, the stopping rule) and ``api``
(:func:`simulate`, :func:`sample_work` and their results). The names below are the
package's interface; the private ones are re-exported for the benchmark and the tests.
"""

from tracker_bridge.planner.montecarlo.api import Forecast as Forecast
from tracker_bridge.planner.montecarlo.api import SimulationResult as SimulationResult
from tracker_bridge.planner.montecarlo.api import sample_work as sample_work
from tracker_bridge.planner.montecarlo.api import simulate as simulate
from tracker_bridge.planner.montecarlo.chunk import _run_chunk as _run_chunk
from tracker_bridge.planner.montecarlo.chunk import chunk_size as chunk_size
from tracker_bridge.planner.montecarlo.distributions import Distribution as Distribution
from tracker_bridge.planner.montecarlo.distributions import beta_cdf as beta_cdf
from tracker_bridge.planner.montecarlo.distributions import duration_steps as duration_steps
from tracker_bridge.planner.montecarlo.distributions import duration_table as duration_table
from tracker_bridge.planner.montecarlo.distributions import three_point_cdf as three_point_cdf
from tracker_bridge.planner.montecarlo.distributions import three_point_hours as three_point_hours
from tracker_bridge.planner.montecarlo.distributions import tick_thresholds as tick_thresholds
from tracker_bridge.planner.montecarlo.model import _build_model as _build_model
from tracker_bridge.planner.montecarlo.stats import _Accumulator as _Accumulator
from tracker_bridge.planner.montecarlo.workspace import _Workspace as _Workspace
