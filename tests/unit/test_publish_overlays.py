"""The overlay sections of the plan report and the overlay custom fields, on the MedCo example.

The example (config/medco-snapshot.json) is planned with a budget (a rate per person, a
project-wide hosting cost and a dated licence fee), one open risk, and a baseline frozen two
months earlier with smaller estimates, an item that was dropped since and without one that
was added since: every overlay section has something to show.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from tracker_bridge.adapters.github.style import GitHubPageStyle
from tracker_bridge.adapters.redmine.style import RedminePageStyle
from tracker_bridge.model import Baseline, Plan, Risk, Snapshot, Status, WorkItem
from tracker_bridge.plan_overlays import EvmFigures
from tracker_bridge.planner import plan as make_plan
from tracker_bridge.planner.baseline import make_baseline
from tracker_bridge.publish import CHART_FILES, render_desired
from tracker_bridge.publish.document import (
    BulletList,
    Document,
    Heading,
    Image,
    IssueRef,
    Paragraph,
    Table,
)
from tracker_bridge.publish.fields import desired_fields, overlay_fields
from tracker_bridge.publish.figures import chance, index, money, percent, signed_money
from tracker_bridge.publish.names import FINISH_PNG, GANTT_PNG, S_CURVE_PNG
from tracker_bridge.publish.report import build_report
from tracker_bridge.settings import FieldNames, Settings, settings_from_dict
from tracker_bridge.snapshot_file import load_snapshot

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "medco-snapshot.json"
AS_OF = dt.date(2026, 11, 26)
THEN = dt.date(2026, 10, 1)
RATES = {
    "Ana Ruiz (Developer)": 95,
    "Ben Weber (Developer)": 90,
    "Chen Li (Developer)": 85,
    "Priya Nair (Scrum Master)": 80,
    "Sarah Okafor (Business Analyst)": 85,
    "Tom Berg (Tester)": 70,
    "Uma Rossi (Tester)": 70,
}
OVERLAY_HEADINGS = [
    "Milestone forecast",
    "Top risks",
    "Budget and earned value",
    "Against baseline",
]


def medco_settings() -> Settings:
    return settings_from_dict(
        {
            "budget": {
                "currency": "EUR",
                "rates": RATES,
                "fixed_costs": [
                    {"name": "Cloud hosting", "amount": 6000},
                    {
                        "name": "Licences",
                        "amount": 4500,
                        "milestone": "Build",
                        "date": "2026-11-02",
                    },
                ],
            },
            "risk": {"trials": 500},
        }
    )


def medco_snapshot() -> Snapshot:
    snapshot = load_snapshot(EXAMPLE)
    snapshot.risks.append(
        Risk(
            key="risk:pricing",
            title="Sales sign off the discount rules late",
            probability=0.4,
            impact_days=10,
            impact_cost=8000,
            threatens=["medco:12"],
        )
    )
    return snapshot


def earlier(snapshot: Snapshot) -> Snapshot:
    """The project on THEN: later work still open, smaller estimates, medco:17 not yet
    planned, a fax gateway that was dropped since."""
    early = snapshot.model_copy(deep=True)
    for item in early.items:
        if item.closed_on is not None and item.closed_on > THEN:
            item.status, item.closed_on, item.spent_hours = Status.OPEN, None, 0
        if item.start is not None and item.start > THEN:
            item.start = None
        if item.status is Status.OPEN:
            item.done_ratio = 0
        if item.key in ("medco:10", "medco:15"):
            item.estimate_hours = 200
    early.items = [i for i in early.items if i.key != "medco:17"]
    early.dependencies = [
        d for d in early.dependencies if "medco:17" not in (d.predecessor, d.successor)
    ]
    early.time_entries = [t for t in early.time_entries if t.date <= THEN]
    early.items.append(
        WorkItem(
            key="medco:99",
            title="Legacy fax gateway",
            estimate_hours=40,
            milestone="medco:version:build",
            assignee="Ben Weber (Developer)",
        )
    )
    return early


@pytest.fixture(scope="module")
def medco() -> tuple[Plan, Snapshot, Baseline]:
    settings = medco_settings()
    snapshot = medco_snapshot()
    early = earlier(snapshot)
    saved = dt.datetime(2026, 10, 1, 9, 30)
    base = make_baseline(make_plan(early, settings, THEN), early, "Kick-off", saved)
    return make_plan(snapshot, settings, AS_OF, baseline=base), snapshot, base


def section(doc: Document, heading: str) -> list[Any]:
    start = next(
        i for i, b in enumerate(doc.blocks) if isinstance(b, Heading) and b.text == heading
    )
    out = []
    for block in doc.blocks[start + 1 :]:
        if isinstance(block, Heading):
            break
        out.append(block)
    return out


def only_table(blocks: list[Any]) -> Table:
    tables = [b for b in blocks if isinstance(b, Table)]
    assert len(tables) == 1
    return tables[0]


def headings(doc: Document) -> list[str]:
    return [b.text for b in doc.blocks if isinstance(b, Heading)]


def report(plan: Plan, snapshot: Snapshot, charts: tuple[str, ...] = ()) -> Document:
    return build_report(plan, snapshot, style=RedminePageStyle(), charts=charts)


# ------------------------------------------------------------------------- formatting


def test_number_formats() -> None:
    assert money(245_560.0) == "245,560"
    assert money(-14_220.4) == "-14,220"
    assert money(-0.4) == money(0.0) == "0"
    assert money(2.5) == "3"  # halves up, not to even
    assert money(None) == money(float("nan")) == "–"
    assert signed_money(22_640.0) == "+22,640"
    assert signed_money(-5.0) == "-5"
    assert index(0.8893) == "0.89"
    assert index(-0.0) == "0.00"
    assert index(None) == "–"
    assert percent(10.156, signed=True) == "+10.2 %"
    assert percent(None) == "–"
    assert chance(0.8735) == "87 %"
    assert chance(0.004) == "<1 %"
    assert chance(0.996) == ">99 %"
    assert (chance(0.0), chance(1.0), chance(None)) == ("0 %", "100 %", "–")


# --------------------------------------------------------------------- sections present


def test_sections_appear_in_order_with_every_overlay(
    medco: tuple[Plan, Snapshot, Baseline],
) -> None:
    plan, snapshot, _ = medco
    assert plan.overlays.names() == {"risk", "budget", "baseline"}
    assert headings(report(plan, snapshot)) == [
        "Schedule of MedCo order management system",
        "Critical path",
        "Milestones",
        *OVERLAY_HEADINGS,
        "Negative float",
        "Forecast later than due date",
        "Items without estimates",
    ]


def test_absent_overlays_leave_their_sections_out() -> None:
    snapshot = medco_snapshot()
    bare = make_plan(snapshot, Settings(), AS_OF, overlays=False)
    assert not any(h in headings(report(bare, snapshot)) for h in OVERLAY_HEADINGS)
    risk_only = make_plan(snapshot, Settings(), AS_OF)  # no rates, no baseline
    assert risk_only.overlays.names() == {"risk"}
    found = headings(report(risk_only, snapshot))
    assert [h for h in OVERLAY_HEADINGS if h in found] == ["Milestone forecast", "Top risks"]


# ------------------------------------------------------------------- milestone forecast


def test_milestone_forecast_table_equals_the_plan(medco: tuple[Plan, Snapshot, Baseline]) -> None:
    plan, snapshot, _ = medco
    blocks = section(report(plan, snapshot), "Milestone forecast")
    table = only_table(blocks)
    assert table.header == [
        "Milestone",
        "Due",
        "Deterministic finish",
        "P50",
        "P80",
        "P95",
        "Mean ± SD (d)",
        "Chance to meet due",
    ]
    assert len(table.rows) == len(plan.milestones) + 1
    for row, m in zip(table.rows, plan.milestones, strict=False):
        assert m.p50 is not None and m.p80 is not None and m.p95 is not None
        assert m.mean_finish is not None and m.std_days is not None
        assert m.p50 <= m.p95 and m.std_days >= 0
        assert row == [
            m.name,
            str(m.due),
            str(m.finish),
            str(m.p50),
            str(m.p80),
            str(m.p95),
            f"{m.mean_finish} ± {m.std_days:.1f}",
            chance(m.probability_on_time),
        ]
    project = plan.overlays.risk.project
    assert table.rows[-1] == [
        "Project",
        "2027-03-31",  # the latest milestone due date
        str(plan.project.finish),
        str(project.p50),
        str(project.p80),
        str(project.p95),
        f"{project.mean} ± {project.std_days:.1f}",
        chance(project.probability_on_time),
    ]
    text = blocks[0].text
    assert "From 500 simulated schedules (PERT durations, seed 20261126)." in text
    expected_money = f"Expected cost of the open risks (probability x impact): {money(3200)} EUR."
    assert Paragraph(expected_money) in blocks


def test_no_trials_is_a_sentence() -> None:
    snapshot = Snapshot.model_validate(
        {
            "project": {"name": "Done", "start": "2025-01-06"},
            "items": [
                {
                    "key": "redmine:1",
                    "status": "closed",
                    "estimate_hours": 8,
                    "start": "2025-01-06",
                    "closed_on": "2025-01-06",
                }
            ],
        }
    )
    plan = make_plan(snapshot, Settings(), dt.date(2025, 1, 8))
    assert plan.overlays.risk.trials == 0
    blocks = section(report(plan, snapshot), "Milestone forecast")
    assert blocks == [Paragraph("No open work to simulate: the plan is the forecast.")]


# ---------------------------------------------------------------------------- top risks


def test_top_risks_list_score_and_reasons(medco: tuple[Plan, Snapshot, Baseline]) -> None:
    plan, snapshot, _ = medco
    top = plan.overlays.risk.top_risks
    assert top
    table = only_table(section(report(plan, snapshot), "Top risks"))
    assert table.header == ["Issue", "Title", "Score", "Reasons"]
    titles = snapshot.item_map()
    assert [row[:3] for row in table.rows] == [
        [IssueRef(e.key), titles[e.key].title, str(e.score)] for e in top
    ]
    for row, entry in zip(table.rows, top, strict=True):
        reasons: list[str] = entry.reasons
        assert plan.items[entry.key].risk_score == entry.score
        if len(reasons) > 2:
            assert row[3] == "; ".join(reasons[:-1]) + "; and " + reasons[-1]
        else:
            assert row[3] == " and ".join(reasons)
    assert table.rows[0][0] == IssueRef("medco:12")  # critical, late and threatened
    assert str(table.rows[0][3]).endswith(
        '; and threatened by open risk risk:pricing "Sales sign off the discount rules late" '
        "(40% likely, +10 working days)"
    )


def test_no_scored_item_is_a_sentence() -> None:
    snapshot = Snapshot.model_validate(
        {
            "project": {"name": "Calm", "start": "2025-01-06"},
            "items": [{"key": "redmine:1", "title": "A", "estimate_hours": 8}],
        }
    )
    plan = make_plan(snapshot, Settings(), dt.date(2025, 1, 6))
    blocks = section(report(plan, snapshot), "Top risks")
    if plan.overlays.risk.top_risks:  # high criticality scores: the single item is critical
        assert only_table(blocks).rows[0][0] == IssueRef("#1", autolink=True)
    plan.overlays.risk.top_risks = []
    assert section(report(plan, snapshot), "Top risks") == [
        Paragraph("No open item carries a risk.")
    ]


# ---------------------------------------------------------------- budget and earned value


def test_budget_table_per_milestone_and_project(medco: tuple[Plan, Snapshot, Baseline]) -> None:
    plan, snapshot, _ = medco
    budget = plan.overlays.budget
    blocks = section(report(plan, snapshot), "Budget and earned value")
    table = only_table(blocks)
    assert table.header == [
        "Scope",
        "BAC",
        "PV",
        "EV",
        "AC",
        "CV",
        "SV",
        "CPI",
        "SPI",
        "EAC",
        "EAC method",
        "ETC",
        "VAC",
        "TCPI",
    ]
    scopes: list[tuple[str, EvmFigures]] = [
        (figures.name, figures) for figures in budget.milestones.values()
    ]
    scopes.append(("Project", budget.project))
    assert len(table.rows) == len(scopes) == 5
    for row, (name, f) in zip(table.rows, scopes, strict=True):
        assert row == [
            name,
            *(money(getattr(f, k)) for k in ("bac", "pv", "ev", "ac", "cv", "sv")),
            index(f.cpi),
            index(f.spi),
            money(f.eac),
            f.eac_method,
            money(f.etc),
            money(f.vac),
            index(f.tcpi),
        ]
    # independent check of the project BAC: estimate x rate of every item + fixed costs
    labour = sum((i.estimate_hours or 0) * RATES[i.assignee or ""] for i in snapshot.items)
    project = table.rows[-1]
    assert project[1] == money(labour + 6000 + 4500) == "245,560"
    launch = table.rows[3]
    assert launch[0] == "Launch" and launch[7] == launch[8] == "–"  # nothing spent: no CPI
    assert launch[10] == "AC+(BAC-EV)"
    assert "Money in EUR" in blocks[0].text
    assert "the dates of baseline “Kick-off”" in blocks[0].text


def test_rate_missing_is_named() -> None:
    snapshot = medco_snapshot()
    rates = {k: v for k, v in RATES.items() if not k.startswith("Tom")}
    plan = make_plan(snapshot, settings_from_dict({"budget": {"rates": rates}}), AS_OF)
    blocks = section(report(plan, snapshot), "Budget and earned value")
    assert Paragraph("No hourly rate (their work costs 0): Tom Berg (Tester).") in blocks


# ----------------------------------------------------------------------- against baseline


def test_against_baseline_slip_cost_and_scope(medco: tuple[Plan, Snapshot, Baseline]) -> None:
    plan, snapshot, _ = medco
    base = plan.overlays.baseline
    blocks = section(report(plan, snapshot), "Against baseline")
    assert blocks[0] == Paragraph(
        "Baseline “Kick-off”, saved 2026-10-01 with status date 2026-10-01. Slip in working "
        "days, + is later than the baseline."
    )
    table = only_table(blocks)
    assert table.header == ["Milestone", "Baseline finish", "Forecast finish", "Slip (d)"]

    def slip(days: int) -> str:
        return "0" if days == 0 else f"{days:+d}"

    expected = [
        [m.name, str(m.baseline_finish), str(m.finish), slip(m.slip_days)]
        for m in base.milestones.values()
    ]
    project = base.project
    expected.append(
        [
            "Project",
            str(project.baseline_finish),
            str(project.finish),
            slip(project.slip_days),
        ]
    )
    assert table.rows == expected
    assert project.slip_days > 0
    assert Paragraph(f"{base.items_slipped} items finish later than in the baseline.") in blocks

    bullets = next(b for b in blocks if isinstance(b, BulletList))
    cost = base.cost
    assert cost.change > 0
    assert bullets.items[0] == (
        f"Cost: budget at completion {money(cost.bac)} EUR against "
        f"{money(cost.baseline_bac)} EUR in the baseline, a change of "
        f"{signed_money(cost.change)} EUR ({percent(cost.change_pct, signed=True)})."
    )
    scope = base.scope
    assert (scope.items_added, scope.items_removed) == (["medco:17"], ["medco:99"])
    growth = str(bullets.items[1])
    assert growth.startswith(
        f"Scope: estimates {scope.baseline_hours:,.0f} h in the baseline, "
        f"{scope.current_hours:,.0f} h now: {scope.growth_hours:+,.0f} h "
        f"({percent(scope.growth_pct, signed=True)}); 1 item added (+136 h), 1 item removed "
        "(-40 h)"
    )
    assert bullets.items[2] == ("Added: ", IssueRef("medco:17"))
    assert bullets.items[3] == ("Removed: ", IssueRef("medco:99"))


def test_baseline_without_budget_says_so() -> None:
    snapshot = medco_snapshot()
    early = earlier(snapshot)
    saved = dt.datetime(2026, 10, 1)
    base = make_baseline(make_plan(early, Settings(), THEN), early, "b", saved)
    plan = make_plan(snapshot, Settings(), AS_OF, baseline=base)
    bullets = next(
        b for b in section(report(plan, snapshot), "Against baseline") if isinstance(b, BulletList)
    )
    assert bullets.items[0] == "Cost: no budget is configured, so cost is not compared."


# ---------------------------------------------------------------------- images, markups


def test_charts_named_are_shown_in_their_sections(medco: tuple[Plan, Snapshot, Baseline]) -> None:
    plan, snapshot, _ = medco
    doc = report(plan, snapshot, charts=CHART_FILES)
    assert isinstance(doc.blocks[2], Image) and doc.blocks[2].filename == GANTT_PNG
    assert any(
        isinstance(b, Image) and b.filename == FINISH_PNG
        for b in section(doc, "Milestone forecast")
    )
    assert any(
        isinstance(b, Image) and b.filename == S_CURVE_PNG
        for b in section(doc, "Budget and earned value")
    )
    assert not any(isinstance(b, Image) for b in report(plan, snapshot).blocks)
    textile = RedminePageStyle().render(doc)
    assert "!tracker-bridge-gantt.png(Gantt chart of the plan)!" in textile
    assert "![Gantt chart of the plan](tracker-bridge-gantt.png)" in GitHubPageStyle().render(doc)


@pytest.mark.parametrize("markup", ["textile", "markdown", "common_mark", "gfm"])
def test_overlay_tables_are_well_formed(
    medco: tuple[Plan, Snapshot, Baseline], markup: str
) -> None:
    plan, snapshot, _ = medco
    style = GitHubPageStyle() if markup == "gfm" else RedminePageStyle(markup)  # type: ignore[arg-type]
    text = style.render(build_report(plan, snapshot, style=style, charts=CHART_FILES))
    table: list[str] = []
    for line in [*text.split("\n"), ""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            widths = {len(re.findall(r"(?<!\\)\|", row)) for row in table}
            assert len(widths) == 1, table
            table = []


def test_a_plan_read_back_from_json_renders_the_same(
    medco: tuple[Plan, Snapshot, Baseline],
) -> None:
    plan, snapshot, _ = medco
    again = Plan.model_validate(plan.to_json_dict())  # overlay dates are ISO strings now
    for style in (RedminePageStyle(), GitHubPageStyle()):
        first = build_report(plan, snapshot, style=style, charts=CHART_FILES)
        second = build_report(again, snapshot, style=style, charts=CHART_FILES)
        assert style.render(first) == style.render(second)


def test_render_desired_attaches_the_charts_it_shows(
    medco: tuple[Plan, Snapshot, Baseline],
) -> None:
    plan, snapshot, base = medco
    kwargs: dict[str, Any] = {
        "style": RedminePageStyle("textile"),
        "page_title": "Plan",
        "field_names": FieldNames(),
    }
    state = render_desired(plan, snapshot, baseline=base, **kwargs)
    page = state.pages[0]
    assert [a.filename for a in page.attachments] == [GANTT_PNG, FINISH_PNG, S_CURVE_PNG]
    assert all(a.content_type == "image/png" and a.data[:4] == b"\x89PNG" for a in page.attachments)
    expected = build_report(plan, snapshot, style=RedminePageStyle(), charts=CHART_FILES)
    assert page.body == RedminePageStyle().render(expected)
    plain = render_desired(plan, snapshot, charts=False, **kwargs).pages[0]
    assert plain.attachments == []
    assert "!tracker-bridge" not in plain.body
    again = render_desired(plan, snapshot, baseline=base, **kwargs).pages[0]
    assert [a.data for a in again.attachments] == [a.data for a in page.attachments]


# --------------------------------------------------------------------------- fields


def test_overlay_fields_are_emitted_with_their_types(
    medco: tuple[Plan, Snapshot, Baseline],
) -> None:
    plan, _, _ = medco
    fields = desired_fields(plan, FieldNames())
    assert overlay_fields(plan) == [
        "risk_score",
        "p80_finish",
        "criticality",
        "planned_cost",
        "slip_days",
    ]
    for key, values in fields.items():
        s = plan.items[key]
        # levelling is off here (planner.level), so its two fields are not emitted
        levelled = ("levelled_start", "levelled_finish")
        assert list(values) == [n for n in FieldNames().logical_names() if n not in levelled]
        assert type(values["risk_score"]) is int and values["risk_score"] == s.risk_score
        assert 0 <= values["risk_score"] <= 100
        assert type(values["p80_finish"]) is dt.date and values["p80_finish"] == s.p80_finish
        criticality = values["criticality"]
        assert type(criticality) is int and 0 <= criticality <= 100
        assert s.criticality is not None and abs(criticality - s.criticality * 100) <= 0.5
        cost = values["planned_cost"]
        assert type(cost) is float and s.planned_cost is not None
        assert cost == round(cost, 2) and abs(cost - s.planned_cost) <= 0.005
        if key == "medco:17":  # added after the baseline: no slip, the field is cleared
            assert values["slip_days"] is None
        else:
            assert type(values["slip_days"]) is int and values["slip_days"] == s.slip_days
    assert fields["medco:1"]["criticality"] == 0  # closed
    assert fields["medco:10"]["planned_cost"] == 240 * 90  # 240 h x Ben's rate
    assert fields["medco:15"]["slip_days"] == plan.items["medco:15"].slip_days


def test_overlay_fields_follow_the_overlays() -> None:
    snapshot = medco_snapshot()
    bare = make_plan(snapshot, medco_settings(), AS_OF, overlays=False)
    assert overlay_fields(bare) == []
    assert list(desired_fields(bare, FieldNames())["medco:10"]) == FieldNames().required()
    budget_only = make_plan(snapshot, medco_settings(), AS_OF)  # risk + budget, no baseline
    names = list(desired_fields(budget_only, FieldNames())["medco:10"])
    assert names == [
        *FieldNames().required(),
        "risk_score",
        "p80_finish",
        "criticality",
        "planned_cost",
    ]
