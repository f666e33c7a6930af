"""The team's own dates, compared with the forecast (they never bind the schedule).

A tracker's start and due dates are the team's current dates, and often the tracker's own
bookkeeping: a tracker may give every new issue the creation day as its start and move the
start and due date of a follower whenever its predecessor moves. Read as constraints they
would make the plan report what the tracker did, not what the work needs. So
only ``deadline``, ``start_no_earlier_than`` and milestone due dates bind (see
:mod:`.network`); an open item's due date is compared here: ``finish_vs_due`` is the number
of working days from the due date to the forecast finish (positive: forecast later).
"""

from __future__ import annotations

from tracker_bridge.model import Finding, ItemSchedule, PlanWarning, Snapshot, Status
from tracker_bridge.planner.calendar import WorkCalendar
from tracker_bridge.settings import ProjectSettings

LATE_CODE = "due.forecast_late"


def compare_due_dates(
    items: dict[str, ItemSchedule], snapshot: Snapshot, calendar: WorkCalendar
) -> list[PlanWarning]:
    """Fill ``due`` and ``finish_vs_due`` of the planned items; warn about the late ones."""
    late: list[tuple[int, str]] = []
    for item in snapshot.items:
        shown = items.get(item.key)
        if shown is None or item.due is None:
            continue
        shown.due = item.due
        if item.status is not Status.OPEN:
            continue  # closed work keeps its actual dates: nothing left to forecast
        last_day = calendar.finish_bound(item.due) - 1  # the last working day on or before
        shown.finish_vs_due = calendar.index_on_or_after(shown.early_finish) - last_day
        if shown.finish_vs_due > 0:
            late.append((shown.finish_vs_due, item.key))
    if not late:
        return []
    worst = max(days for days, _key in late)
    return [
        PlanWarning(
            code=LATE_CODE,
            message=(
                f"{len(late)} open item(s) are forecast to finish after their due date "
                f"(worst +{worst} working days); due dates are compared, not binding: set a "
                "deadline to make a date bind"
            ),
            keys=[key for _days, key in sorted(late, key=lambda x: (-x[0], x[1]))],
        )
    ]


def dates_finding(project: ProjectSettings) -> Finding:
    """``doctor``: what binds the schedule of ``project`` (informational; never a failure)."""
    binding = ["milestone due dates"]
    binding += [f"field '{name}'" for name in (project.deadline_field,) if name]
    starts = [f"field '{name}'" for name in (project.start_no_earlier_than_field,) if name]
    compared: list[str] = []
    if project.due_dates == "deadline":
        binding.append('issue due dates (due_dates = "deadline")')
    else:
        compared.append("due")
    if project.start_dates == "constraint":
        starts.append('issue start dates (start_dates = "constraint")')
    else:
        compared.append("start")
    message = "deadlines: " + ", ".join(binding)
    message += "; start no earlier than: " + (", ".join(starts) or "none")
    if compared:
        message += f"; issue {' and '.join(compared)} dates are compared, not binding"
    fix = None
    if len(compared) < 2:
        fix = (
            "trackers may set and move issue dates by themselves (creation day, "
            "followers of a moved issue); bind them only if the team sets them as commitments, "
            "else use a deadline field"
        )
    return Finding(id="dates.binding", ok=True, message=message, fix=fix)
