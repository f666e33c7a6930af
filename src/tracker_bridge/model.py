"""The common model: what every adapter produces and what the planner returns.

A ``Snapshot`` is a tracker project read into tracker-neutral types; it is also a public
file format (``tracker-bridge schema snapshot``) that people write by hand or export.
A ``Plan`` is the planner's answer for one snapshot (``tracker-bridge schema plan``).

Nothing here knows a tracker client library, the network, files or the clock.
"""

from __future__ import annotations

import datetime as dt
import difflib
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from tracker_bridge.errors import InputError
from tracker_bridge.plan_overlays import PlanOverlays

Key = Annotated[str, Field(min_length=1, description="Unique across trackers: '<kind>:<id>'")]


class _Strict(BaseModel):
    """Base for file-format types: unknown keys are errors, not silently dropped; numbers are
    finite (Infinity and NaN cannot be planned)."""

    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)


class Status(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class DependencyType(StrEnum):
    """Relation types of the precedence diagramming method."""

    FS = "FS"  # successor starts after predecessor finishes
    SS = "SS"  # successor starts after predecessor starts
    FF = "FF"  # successor finishes after predecessor finishes
    SF = "SF"  # successor finishes after predecessor starts


class EstimateRange(_Strict):
    """A three-point estimate in hours (optimistic <= likely <= pessimistic)."""

    optimistic: float = Field(ge=0)
    likely: float = Field(ge=0)
    pessimistic: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> EstimateRange:
        if not self.optimistic <= self.likely <= self.pessimistic:
            raise ValueError(
                "estimate_range must satisfy optimistic <= likely <= pessimistic, got "
                f"{self.optimistic} / {self.likely} / {self.pessimistic}"
            )
        return self


class Project(_Strict):
    name: str
    start: dt.date


class WorkItem(_Strict):
    """One issue of a tracker, the unit the planner schedules."""

    key: Key
    title: str = ""
    status: Status = Status.OPEN
    estimate_hours: float | None = Field(default=None, ge=0)
    start: dt.date | None = Field(
        default=None,
        description="The tracker's start date: the team's current date (compared, never "
        "binding) or, for closed work, the actual start",
    )
    due: dt.date | None = Field(
        default=None,
        description="The tracker's due date: the team's current date, compared with the "
        "forecast finish but not binding (use 'deadline' for a date that binds)",
    )
    start_no_earlier_than: dt.date | None = Field(
        default=None, description="Constraint: open work starts on or after this date"
    )
    deadline: dt.date | None = Field(
        default=None, description="Constraint: finish on or before this date (negative float)"
    )
    done_ratio: int = Field(default=0, ge=0, le=100)
    spent_hours: float = Field(default=0, ge=0)
    milestone: str | None = None
    assignee: str | None = None
    closed_on: dt.date | None = None
    estimate_range: EstimateRange | None = None
    url: str | None = None
    parent: str | None = Field(default=None, description="Key of the parent (summary) item")
    native_id: str | None = None
    labels: list[str] = Field(default_factory=list)
    tracker: str | None = Field(default=None, description="Tracker or type name, e.g. 'Bug'")
    updated_on: dt.datetime | None = None
    fields: dict[str, str | None] = Field(
        default_factory=dict,
        description="Current values of our own custom fields, by logical field name",
    )


class Dependency(_Strict):
    predecessor: Key
    successor: Key
    type: DependencyType = DependencyType.FS
    lag_days: int = Field(default=0, description="Working days; negative means lead")
    origin: str | None = Field(default=None, description="Where it came from, e.g. 'precedes'")

    @model_validator(mode="after")
    def _not_self(self) -> Dependency:
        if self.predecessor == self.successor:
            raise ValueError(f"item {self.predecessor!r} cannot depend on itself")
        return self


class Milestone(_Strict):
    key: Key
    name: str
    due: dt.date | None = None
    status: Literal["open", "locked", "closed"] = "open"
    native_id: str | None = None


class TimeEntry(_Strict):
    item: str | None = None
    person: str | None = None
    activity: str | None = None
    hours: float = Field(ge=0)
    date: dt.date


class Risk(_Strict):
    key: Key
    title: str = ""
    probability: float = Field(ge=0, le=1, description="Chance it happens, 0..1")
    impact_days: float = Field(default=0, ge=0)
    impact_cost: float = Field(default=0, ge=0)
    threatens: list[str] = Field(default_factory=list)
    status: Status = Status.OPEN


class Source(_Strict):
    kind: str = "file"
    base_url: str | None = None
    project: str | None = None


class Snapshot(_Strict):
    """A tracker project at one moment, in tracker-neutral terms."""

    project: Project
    items: list[WorkItem] = Field(default_factory=list)
    dependencies: list[Dependency] = Field(default_factory=list)
    milestones: list[Milestone] = Field(default_factory=list)
    time_entries: list[TimeEntry] = Field(default_factory=list)
    risks: list[Risk] = Field(default_factory=list)
    source: Source = Field(default_factory=Source)
    fetched_at: dt.datetime | None = None
    custom_fields: dict[str, str] = Field(
        default_factory=dict, description="Catalogue: tracker custom-field name -> id"
    )

    @model_validator(mode="after")
    def _keys_consistent(self) -> Snapshot:
        problems = self.reference_problems()
        if problems:
            summary = "; ".join(f"{where}: {message}" for where, message in problems)
            raise PydanticCustomError(
                _REFERENCES_ERROR,
                "{summary}",
                {"summary": summary, "problems": [list(p) for p in problems]},
            )
        return self

    def reference_problems(self) -> list[tuple[str, str]]:
        """Keys that clash or point nowhere, as ``(location, message)`` pairs."""
        problems: list[tuple[str, str]] = []
        keys: set[str] = set()
        for item in self.items:
            if item.key in keys:
                problems.append((f"items[{item.key}].key", f"duplicate item key {item.key!r}"))
            keys.add(item.key)
        milestones: set[str] = set()
        for milestone in self.milestones:
            if milestone.key in milestones:
                where = f"milestones[{milestone.key}].key"
                problems.append((where, f"duplicate milestone key {milestone.key!r}"))
            milestones.add(milestone.key)
        parents: dict[str, str] = {}
        for item in self.items:
            where = f"items[{item.key}]"
            if item.milestone is not None and item.milestone not in milestones:
                problems.append(
                    (f"{where}.milestone", f"{item.milestone!r} is not in 'milestones'")
                )
            if item.parent is not None:
                if item.parent not in keys:
                    problems.append((f"{where}.parent", f"{item.parent!r} is not an item"))
                else:
                    parents[item.key] = item.parent
        problems.extend(_parent_loops(parents))
        return problems

    def item_map(self) -> dict[str, WorkItem]:
        return {item.key: item for item in self.items}


def _parent_loops(parents: dict[str, str]) -> list[tuple[str, str]]:
    """Each loop of parent links once, from its first item: linear in the items.

    Every item is walked up at most once: a walk stops at an item already walked (whose
    ancestors are known to be fine or already reported) or on its own path (a loop).
    """
    order = {key: i for i, key in enumerate(parents)}
    walked: set[str] = set()
    problems: list[tuple[str, str]] = []
    for start in parents:
        path: dict[str, int] = {}
        node: str | None = start
        while node is not None and node not in walked and node not in path:
            path[node] = len(path)
            node = parents.get(node)
        walked.update(path)
        if node is not None and node in path:  # the walk came back onto itself
            chain = list(path)[path[node] :]
            first = min(range(len(chain)), key=lambda i: order[chain[i]])
            chain = chain[first:] + chain[:first]
            loop = " -> ".join([*chain, chain[0]])
            problems.append((f"items[{chain[0]}].parent", f"parents form a loop: {loop}"))
    return problems


_REFERENCES_ERROR = "snapshot_references"

# The type behind each list or object of the file format, for "did you mean" hints.
_SECTIONS: dict[str, type[BaseModel]] = {
    "": Snapshot,
    "project": Project,
    "items": WorkItem,
    "dependencies": Dependency,
    "milestones": Milestone,
    "time_entries": TimeEntry,
    "risks": Risk,
    "source": Source,
    "estimate_range": EstimateRange,
}
_KEYED_LISTS = ("items", "milestones", "risks")


def parse_snapshot(data: dict[str, Any]) -> Snapshot:
    """Validate snapshot data, naming items by key rather than by list position.

    Raises :class:`~tracker_bridge.errors.InputError` with one line per problem, e.g.
    ``items[B].estimate_hours <- Input should be greater than or equal to 0``: entries of
    ``items``, ``milestones`` and ``risks`` are named by their key, dependencies as
    ``pred->succ``; the list index is used only where the entry has no usable key.
    """
    try:
        return Snapshot.model_validate(data)
    except ValidationError as e:
        raise InputError("\n".join(snapshot_error_lines(data, e))) from None


def snapshot_error_lines(data: Any, error: ValidationError) -> list[str]:
    """Render snapshot validation errors as ``location <- message`` lines."""
    lines: list[str] = []
    for err in error.errors():
        ctx = err.get("ctx") or {}
        if err["type"] == _REFERENCES_ERROR and isinstance(ctx.get("problems"), list):
            lines.extend(f"{where} <- {message}" for where, message in ctx["problems"])
            continue
        loc = tuple(err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
            message = _unknown_key_message(loc)
        lines.append(f"{_location(data, loc)} <- {message}")
    return lines


def _location(data: Any, loc: tuple[int | str, ...]) -> str:
    """``('items', 1, 'estimate_hours')`` -> ``items[B].estimate_hours`` (B is items[1].key)."""
    parts: list[str] = []
    node: Any = data
    for depth, segment in enumerate(loc):
        in_dict = isinstance(node, dict) and segment in node
        in_list = isinstance(node, list) and isinstance(segment, int) and 0 <= segment < len(node)
        element: Any = node[segment] if in_dict or in_list else None
        if isinstance(segment, int):
            label = str(segment)
            if depth == 1 and isinstance(element, dict):
                label = _entry_label(str(loc[0]), element) or label
            if parts:
                parts[-1] += f"[{label}]"
            else:
                parts.append(f"[{label}]")
        else:
            parts.append(segment)
        node = element
    return ".".join(parts) or "(top level)"


def _entry_label(section: str, entry: dict[str, Any]) -> str | None:
    """How an entry of a top-level list is named in messages, if it can be."""
    if section in _KEYED_LISTS:
        key = entry.get("key")
        return key if isinstance(key, str) and key else None
    if section == "dependencies":
        pred, succ = entry.get("predecessor"), entry.get("successor")
        if isinstance(pred, str) and isinstance(succ, str):
            return f"{pred}->{succ}"
    return None


def _unknown_key_message(loc: tuple[int | str, ...]) -> str:
    section = next((s for s in reversed(loc[:-1]) if isinstance(s, str)), "")
    model = _SECTIONS.get(section)
    names = list(model.model_fields) if model else []
    close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.5)
    if close:
        return f"unknown key (did you mean {close[0]!r}?)"
    return "unknown key (check the spelling)"


# ---------------------------------------------------------------------------- plan


class ItemSchedule(BaseModel):
    """The planner's figures for one item. Finish dates are inclusive."""

    key: str
    early_start: dt.date
    early_finish: dt.date
    late_start: dt.date
    late_finish: dt.date
    total_float: int = Field(description="Working days; negative against a deadline")
    free_float: int = Field(description="Working days")
    critical: bool
    duration_days: int
    remaining_days: int
    state: Literal["planned", "in_progress", "done", "summary"] = "planned"
    estimate_missing: bool = False
    deadline: dt.date | None = Field(default=None, description="The deadline that binds it")
    due: dt.date | None = Field(default=None, description="The tracker's due date (compared)")
    finish_vs_due: int | None = Field(
        default=None,
        description="Working days from the due date to the forecast finish: positive = "
        "forecast later than the due date (open items with a due date only)",
    )
    # overlays filled by later planner stages
    risk_score: int | None = None
    risk_reasons: list[str] = Field(default_factory=list)
    criticality: float | None = None
    p80_finish: dt.date | None = None
    planned_cost: float | None = None
    planned_value: float | None = None
    earned_value: float | None = None
    actual_cost: float | None = None
    slip_days: int | None = None


class MilestoneForecast(BaseModel):
    key: str
    name: str
    due: dt.date | None
    finish: dt.date | None = Field(description="Deterministic forecast finish (latest item)")
    total_float: int | None = Field(description="Working days between forecast and due date")
    items: int = 0
    p50: dt.date | None = None
    p80: dt.date | None = None
    p95: dt.date | None = None
    mean_finish: dt.date | None = Field(
        default=None, description="Simulated mean finish: the working day nearest the mean"
    )
    std_days: float | None = Field(
        default=None, description="Standard deviation of the simulated finish (working days)"
    )
    probability_on_time: float | None = None
    slip_days: int | None = None


class PlanWarning(BaseModel):
    code: str
    message: str
    keys: list[str] = Field(default_factory=list)


class ProjectSchedule(BaseModel):
    name: str
    start: dt.date
    finish: dt.date
    as_of: dt.date
    critical_paths: list[list[str]]
    critical_paths_truncated: bool = False
    negative_float: bool = Field(description="True when some deadline cannot be met")
    min_total_float: int


class Plan(BaseModel):
    """Everything the planner computed for one snapshot."""

    project: ProjectSchedule
    items: dict[str, ItemSchedule]
    milestones: list[MilestoneForecast] = Field(default_factory=list)
    warnings: list[PlanWarning] = Field(default_factory=list)
    overlays: PlanOverlays = Field(
        default_factory=PlanOverlays,
        description="Risk, budget, baseline and levelling results, when computed",
    )

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# ------------------------------------------------------------- desired state and changes

FieldValue = bool | int | float | dt.date | str | None


class Attachment(BaseModel):
    """A file to attach to a page (charts as PNG)."""

    filename: str
    content_type: str = "image/png"
    data: bytes = Field(repr=False)


class DesiredPage(BaseModel):
    """Our managed block of one page, already rendered in the tracker's markup."""

    title: str
    body: str = Field(description="Markup that goes between our begin/end markers")
    attachments: list[Attachment] = Field(default_factory=list)


class DesiredState(BaseModel):
    """What the tracker should show after a pass, in tracker-neutral terms."""

    fields: dict[str, dict[str, FieldValue]] = Field(
        default_factory=dict, description="item key -> logical field name -> value"
    )
    pages: list[DesiredPage] = Field(default_factory=list)


class FieldChange(BaseModel):
    """One custom-field value to write: old and new as the tracker stores them."""

    item: str
    field: str
    old: str | None
    new: str


class PageChange(BaseModel):
    """One page to create or update; ``text`` is the whole new page text."""

    title: str
    action: Literal["create", "update"]
    lines_changed: int
    text: str = Field(repr=False)
    base_version: int | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    obsolete_attachments: list[int] = Field(
        default_factory=list,
        description="ids of our earlier chart files a newer same-named one replaced; deleted",
    )


class ChangeSet(BaseModel):
    """The diff ``apply`` consumes and ``--dry-run`` prints."""

    fields: list[FieldChange] = Field(default_factory=list)
    pages: list[PageChange] = Field(default_factory=list)
    pages_desired: list[DesiredPage] = Field(default_factory=list, repr=False)

    @property
    def empty(self) -> bool:
        return not self.fields and not self.pages

    def items_touched(self) -> int:
        return len({change.item for change in self.fields})


class ApplyReport(BaseModel):
    """What ``apply`` actually wrote."""

    issues_updated: int = 0
    fields_written: int = 0
    pages_written: int = 0
    attachments_uploaded: int = 0
    attachments_deleted: int = 0
    conflicts_retried: int = 0
    requests: int = 0
    #: Keys of the items whose field values were written (not in JSON output): after a
    #: partial failure, what to record as written.
    items_written: list[str] = Field(default_factory=list, exclude=True)


class Finding(BaseModel):
    """One ``doctor`` check result; ``id`` is stable for scripts and monitoring."""

    id: str
    ok: bool
    message: str
    fix: str | None = None


# ------------------------------------------------------------------------- baselines


class BaselineItem(BaseModel):
    """One item as it was planned when the baseline was saved."""

    key: str
    title: str = ""
    estimate_hours: float | None = None
    early_start: dt.date
    early_finish: dt.date
    planned_cost: float | None = None
    milestone: str | None = None


class Baseline(BaseModel):
    """A plan frozen at one moment: the yardstick for slip, cost and scope change."""

    name: str
    saved_at: dt.datetime
    as_of: dt.date
    project_finish: dt.date
    items: dict[str, BaselineItem]
    milestone_finish: dict[str, dt.date | None] = Field(default_factory=dict)
    budget_at_completion: float | None = None
