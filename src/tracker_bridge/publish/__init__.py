"""The publisher: Plan (+ Snapshot for titles and URLs) -> DesiredState. Pure, no network."""

from __future__ import annotations

from tracker_bridge.model import DesiredPage, DesiredState, Plan, Snapshot
from tracker_bridge.publish.document import MARKUPS, Document, render
from tracker_bridge.publish.fields import desired_fields
from tracker_bridge.publish.report import TRACKER_KINDS, build_report
from tracker_bridge.settings import FieldNames

__all__ = [
    "MARKUPS",
    "TRACKER_KINDS",
    "Document",
    "build_report",
    "desired_fields",
    "render",
    "render_desired",
]


def _check_markup(markup: str, tracker_kind: str) -> None:
    if markup not in MARKUPS:
        raise ValueError(f"unknown markup {markup!r}; use one of {', '.join(MARKUPS)}")
    if (tracker_kind == "github") != (markup == "gfm"):
        expected = "gfm" if tracker_kind == "github" else "textile, markdown or common_mark"
        raise ValueError(f"markup {markup!r} does not suit a {tracker_kind} wiki; use {expected}")


def render_desired(
    plan: Plan,
    snapshot: Snapshot,
    *,
    markup: str,
    tracker_kind: str,
    page_title: str,
    field_names: FieldNames,
) -> DesiredState:
    """Field values for every item and the plan page rendered in the tracker's markup."""
    if tracker_kind not in TRACKER_KINDS:
        raise ValueError(f"unknown tracker kind {tracker_kind!r}; use redmine or github")
    _check_markup(markup, tracker_kind)
    body = render(build_report(plan, snapshot, tracker_kind=tracker_kind), markup)
    return DesiredState(
        fields=desired_fields(plan, field_names),
        pages=[DesiredPage(title=page_title, body=body)],
    )
