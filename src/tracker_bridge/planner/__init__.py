"""The planner: pure functions from a Snapshot (and settings, status date) to a Plan.

No network, no files, no clock except the ``as_of`` date it is given.
"""

from tracker_bridge.planner.plan import plan

__all__ = ["plan"]
