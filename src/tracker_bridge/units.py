"""Planning units: what one pass plans, locks and reports, whoever starts it.

A unit is either one project or a combined plan (``[plans.NAME]``) with all of its projects.
``run`` (cron or on demand), the webhook worker and ``serve`` all go through :func:`run_unit`,
so a pass started by a webhook for one member of a combined plan plans the whole plan, exactly
as the nightly run does — two triggers never write different values for the same item.

Every project of a unit is locked for the whole pass (:func:`unit_locks`), in one fixed order
(sorted by name) so two units that share a project never deadlock. Any exception in one unit
becomes failed results for its projects; the caller goes on with the next unit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from tracker_bridge.adapters.protocol import Progress
from tracker_bridge.errors import TrackerBridgeError
from tracker_bridge.pipeline import PassResult, WriteRecorder, run_pass, unexpected_error
from tracker_bridge.settings import Settings
from tracker_bridge.store import Database, StoreTarget
from tracker_bridge.store.locks import project_locks

__all__ = ["PlanningUnit", "planning_units", "run_unit", "unit_locks", "unit_of"]


@dataclass(frozen=True)
class PlanningUnit:
    """One project, or a combined plan (``plan`` set) with all of its projects."""

    projects: tuple[str, ...]
    plan: str | None = None

    @property
    def name(self) -> str:
        """The plan's name, or the project's name for a single project."""
        return self.plan or self.projects[0]


def unit_of(settings: Settings, project: str) -> PlanningUnit:
    """The unit a project is planned in: its combined plan when it has one."""
    for plan_name, plan in settings.plans.items():
        if project in plan.projects:
            return PlanningUnit(tuple(plan.projects), plan_name)
    return PlanningUnit((project,))


def planning_units(settings: Settings, projects: list[str]) -> list[PlanningUnit]:
    """The units that plan these projects, in first-named order, each once."""
    units: list[PlanningUnit] = []
    for project in projects:
        unit = unit_of(settings, project)
        if unit not in units:
            units.append(unit)
    return units


@contextmanager
def unit_locks(
    store: StoreTarget, unit: PlanningUnit, *, wait: float = 0.0, on: Database | None = None
) -> Iterator[None]:
    """Hold the lock of every project of the unit (sorted, so overlapping units never
    deadlock); raises :class:`~tracker_bridge.store.ProjectLockedError` for the first one
    another run holds. ``on``: an open store whose connection holds PostgreSQL's locks."""
    with project_locks(store, unit.projects, wait=wait, on=on):
        yield


def run_unit(
    settings: Settings,
    unit: PlanningUnit,
    *,
    as_of: dt.date,
    dry_run: bool = False,
    progress: Progress | None = None,
    store: WriteRecorder | None = None,
    full: bool = False,
    lock: bool = True,
    wait: float = 0.0,
) -> list[PassResult]:
    """One pass of the unit: one result per project, never an exception.

    With ``lock`` (and not ``dry_run``) every project of the unit is locked for the pass; a
    lock held elsewhere gives failed results that say who holds it. A caller that must tell
    "locked" apart (the worker puts the job back) takes :func:`unit_locks` itself and passes
    ``lock=False``.
    """
    try:
        with ExitStack() as held:
            if lock and not dry_run:
                held.enter_context(unit_locks(settings.store, unit, wait=wait))
            return _run_unlocked(settings, unit, as_of, dry_run, progress, store, full)
    except TrackerBridgeError as e:  # locked, or our own error naming what and where
        return failed_results(unit, str(e), dry_run)
    except Exception as e:  # one unit's bug or fault must not stop the others
        return failed_results(unit, unexpected_error(unit.name, e), dry_run)


def _run_unlocked(
    settings: Settings,
    unit: PlanningUnit,
    as_of: dt.date,
    dry_run: bool,
    progress: Progress | None,
    store: WriteRecorder | None,
    full: bool,
) -> list[PassResult]:
    if unit.plan is None:
        return [
            run_pass(
                settings,
                unit.projects[0],
                as_of=as_of,
                dry_run=dry_run,
                progress=progress,
                store=store,
                full=full,
            )
        ]
    from tracker_bridge.combined import run_combined_pass

    return run_combined_pass(
        settings, unit.plan, as_of=as_of, dry_run=dry_run, progress=progress, store=store
    )


def failed_results(unit: PlanningUnit, error: str, dry_run: bool = False) -> list[PassResult]:
    """A failed result for every project of the unit, all with the same error."""
    return [PassResult(project=p, error=error, dry_run=dry_run) for p in unit.projects]
