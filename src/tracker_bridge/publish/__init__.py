"""The publisher: Plan (+ Snapshot for titles and URLs) -> DesiredState. Pure, no network."""

from __future__ import annotations

from tracker_bridge.model import Attachment, Baseline, DesiredPage, DesiredState, Plan, Snapshot
from tracker_bridge.publish.document import MARKUPS, Document, render
from tracker_bridge.publish.fields import desired_fields, overlay_fields
from tracker_bridge.publish.report import CHART_FILES, TRACKER_KINDS, build_report
from tracker_bridge.settings import FieldNames

__all__ = [
    "CHART_FILES",
    "MARKUPS",
    "TRACKER_KINDS",
    "Document",
    "build_report",
    "desired_fields",
    "overlay_fields",
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
    charts: bool = True,
    baseline: Baseline | None = None,
) -> DesiredState:
    """Field values for every item and the plan page rendered in the tracker's markup.

    With ``charts`` the page gets the PNG charts the plan has data for (Gantt, finish-date
    distribution, S-curve; see :mod:`tracker_bridge.publish.charts`) as attachments, shown
    as images in the report. ``baseline``, the one the plan was compared with, adds its bars
    to the Gantt chart. Charts are deterministic bytes, so unchanged ones need no upload.
    """
    markup = page_markup(markup, tracker_kind)
    attachments: list[Attachment] = []
    if charts:
        from tracker_bridge.publish.charts import render_charts  # matplotlib: import on use

        attachments = render_charts(plan, snapshot, tracker_kind=tracker_kind, baseline=baseline)
    document = build_report(
        plan, snapshot, tracker_kind=tracker_kind, charts=[a.filename for a in attachments]
    )
    return DesiredState(
        fields=desired_fields(plan, field_names),
        pages=[
            DesiredPage(title=page_title, body=render(document, markup), attachments=attachments)
        ],
    )
