"""The publisher: Plan (+ Snapshot for titles and URLs) -> DesiredState. Pure, no network."""

from __future__ import annotations

from tracker_bridge.model import Attachment, Baseline, DesiredPage, DesiredState, Plan, Snapshot
from tracker_bridge.publish.chart_inputs import ChartStore, chart_inputs_digest
from tracker_bridge.publish.document import MARKUPS, Document
from tracker_bridge.publish.fields import desired_fields, overlay_fields
from tracker_bridge.publish.markup import render
from tracker_bridge.publish.names import CHART_FILES
from tracker_bridge.publish.report import build_report
from tracker_bridge.publish.style import PageStyle, PlainStyle
from tracker_bridge.settings import FieldNames

__all__ = [
    "CHART_FILES",
    "MARKUPS",
    "Document",
    "PageStyle",
    "PlainStyle",
    "build_report",
    "desired_fields",
    "overlay_fields",
    "render",
    "render_desired",
]


def render_desired(
    plan: Plan,
    snapshot: Snapshot,
    *,
    style: PageStyle,
    page_title: str,
    field_names: FieldNames,
    charts: bool = True,
    baseline: Baseline | None = None,
    chart_store: ChartStore | None = None,
) -> DesiredState:
    """Field values for every item and the plan page in the tracker's style (its markup and
    issue references, given by its adapter).

    With ``charts`` the page gets the PNG charts the plan has data for (Gantt, finish-date
    distribution, S-curve; see :mod:`tracker_bridge.publish.charts`) as attachments, shown
    as images in the report. ``baseline``, the one the plan was compared with, adds its bars
    to the Gantt chart. Charts are deterministic bytes, so unchanged ones need no upload;
    with a ``chart_store`` they are not even drawn again while what they show is unchanged
    (:func:`~tracker_bridge.publish.chart_inputs.chart_inputs_digest`).
    """
    attachments: list[Attachment] = []
    if charts:
        digest = chart_inputs_digest(plan, snapshot, style, baseline) if chart_store else ""
        kept = chart_store.load(digest) if chart_store is not None else None
        if kept is not None:
            attachments = kept
        else:
            from tracker_bridge.publish.charts import render_charts  # matplotlib: on use

            attachments = render_charts(plan, snapshot, style=style, baseline=baseline)
            if chart_store is not None:
                chart_store.save(digest, attachments)
    document = build_report(plan, snapshot, style=style, charts=[a.filename for a in attachments])
    return DesiredState(
        fields=desired_fields(plan, field_names),
        pages=[DesiredPage(title=page_title, body=style.render(document), attachments=attachments)],
    )
