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
    "page_markup",
    "render",
    "render_desired",
]


def page_markup(markup: str, tracker_kind: str) -> str:
    """The markup a page is written in: GitHub wikis always get ``gfm``.

    ``markup`` is Redmine's text-formatting setting (``textile``, ``markdown`` or
    ``common_mark``); it does not apply to GitHub, whose wikis only speak GFM.
    """
    if tracker_kind not in TRACKER_KINDS:
        raise ValueError(f"unknown tracker kind {tracker_kind!r}; use redmine or github")
    if tracker_kind == "github":
        return "gfm"
    if markup not in MARKUPS or markup == "gfm":
        raise ValueError(
            f"markup {markup!r} does not suit a Redmine wiki; use textile, markdown or common_mark"
        )
    return markup


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
    markup = page_markup(markup, tracker_kind)
    body = render(build_report(plan, snapshot, tracker_kind=tracker_kind), markup)
    return DesiredState(
        fields=desired_fields(plan, field_names),
        pages=[DesiredPage(title=page_title, body=body)],
    )
