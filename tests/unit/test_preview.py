"""`tracker-bridge demo --preview`: the MedCo plan page as a local HTML file, no Redmine."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from tracker_bridge.cli import main
from tracker_bridge.demo.example import REFERENCE_AS_OF, load_example
from tracker_bridge.model import Plan
from tracker_bridge.planner import plan as make_plan
from tracker_bridge.publish.document import Document, Heading, Image, IssueRef, Paragraph, Table
from tracker_bridge.publish.html import render_html
from tracker_bridge.settings import Settings

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Section:
    heading: str
    tables: list[list[list[str]]] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)  # alt -> decoded PNG


class _PageParser(HTMLParser):
    """Splits a page into sections by heading, with their tables' cell texts and images."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[Section] = [Section("")]
        self.in_heading = False
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        section = self.sections[-1]
        if tag in ("h1", "h2", "h3", "h4"):
            self.sections.append(Section(""))
            self.in_heading = True
        elif tag == "table":
            section.tables.append([])
        elif tag == "tr":
            section.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "img":
            src = a.get("src") or ""
            prefix = "data:image/png;base64,"
            assert src.startswith(prefix), src[:40]
            section.images[a.get("alt") or ""] = base64.b64decode(src[len(prefix) :])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h1", "h2", "h3", "h4"):
            self.in_heading = False
        elif tag in ("td", "th") and self.cell is not None:
            self.sections[-1].tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.in_heading:
            self.sections[-1].heading += data
        elif self.cell is not None:
            self.cell.append(data)


def parse(page: str) -> dict[str, Section]:
    parser = _PageParser()
    parser.feed(page)
    return {s.heading: s for s in parser.sections}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """The page the CLI writes (one run for the module) and the CLI's output."""
    workdir = tmp_path_factory.mktemp("preview")
    result = CliRunner().invoke(main, ["demo", "--preview", "--dir", str(workdir)])
    assert result.exit_code == 0, result.output
    # nothing but the page lands in --dir, and the output says where it is
    assert [p.name for p in workdir.iterdir()] == ["plan.html"]
    assert (workdir / "plan.html").as_uri() in result.output
    return (workdir / "plan.html").read_text(encoding="utf-8"), result.output


@pytest.fixture(scope="module")
def medco_plan() -> Plan:
    """The example planned independently of the preview (the budget does not move dates)."""
    return make_plan(load_example(), Settings(), REFERENCE_AS_OF)


def test_preview_shows_the_gantt_chart_as_an_embedded_png(written: tuple[str, str]) -> None:
    sections = parse(written[0])
    top = sections["Schedule of MedCo order management system"]
    gantt = top.images["Gantt chart of the plan"]
    assert gantt.startswith(PNG_SIGNATURE) and len(gantt) > 10_000


def test_preview_critical_path_table_follows_the_plan(
    written: tuple[str, str], medco_plan: Plan
) -> None:
    tables = parse(written[0])["Critical path"].tables
    chains = medco_plan.project.critical_paths
    assert len(tables) == len(chains) >= 1  # one table per critical chain
    for table, chain in zip(tables, chains, strict=True):
        header, *rows = table
        assert header[:3] == ["#", "Issue", "Title"]
        assert [row[1] for row in rows] == chain
        for row in rows:
            assert row[3] == str(medco_plan.items[row[1]].early_start)
            assert row[6] == str(medco_plan.items[row[1]].total_float)
    chain = chains[0]
    assert f"critical path: {' -> '.join(chain)}" in written[1]


def test_preview_milestone_forecast_lists_every_milestone(
    written: tuple[str, str], medco_plan: Plan
) -> None:
    section = parse(written[0])["Milestone forecast"]
    header, *rows = section.tables[0]
    assert header[0] == "Milestone" and "P80" in header and header[-1] == "Chance to meet due"
    assert [row[0] for row in rows] == [m.name for m in medco_plan.milestones] + ["Project"]
    deterministic = {m.name: str(m.finish) for m in medco_plan.milestones}
    assert all(row[2] == deterministic[row[0]] for row in rows[:-1])
    assert all(row[-1].endswith("%") for row in rows)  # every milestone has a due date
    assert section.images["Distribution of the simulated project finish dates"].startswith(
        PNG_SIGNATURE
    )


def test_preview_has_the_budget_section_with_the_s_curve(written: tuple[str, str]) -> None:
    budget = parse(written[0])["Budget and earned value"]
    assert budget.tables, "the demo's rates give the page a budget table"
    [s_curve] = budget.images.values()
    assert s_curve.startswith(PNG_SIGNATURE)


def test_html_renderer_escapes_text_and_links_only_http_urls() -> None:
    doc = Document(
        [
            Heading(2, "<script>alert(1)</script>"),
            Paragraph(("see ", IssueRef("#1", "https://x.example/issues/1?a=1&b=2"))),
            Paragraph(IssueRef("#2", "javascript:alert(1)")),
            Table(["a & b"], [["<b>x</b>"]]),
            Image("missing.png", "not drawn"),
        ]
    )
    page = render_html(doc, {}, title="t")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert '<a href="https://x.example/issues/1?a=1&amp;b=2">#1</a>' in page
    assert "javascript:" not in page
    assert "<td>&lt;b&gt;x&lt;/b&gt;</td>" in page and "<th>a &amp; b</th>" in page
    assert "(chart missing.png not available)" in page


def test_preview_plans_with_the_demo_team_as_the_live_demo_does() -> None:
    # The example lists people with their role ("Ana Ruiz (Developer)"); the seeded tracker
    # knows them by name, and the demo's rates and capacities are keyed by name. The preview
    # must see the same names, or every labour cost drops out with a missing-rate warning.
    from tracker_bridge.demo.example import DEMO_RATES, preview_page

    _, plan = preview_page()
    assert [w for w in plan.warnings if w.code == "budget.rate_missing"] == []
    assert plan.overlays.levelling is not None
    assert plan.overlays.budget is not None
    fixed = 6000 + 4500  # the two fixed costs of the demo budget
    assert plan.overlays.budget.project.bac > fixed
    assignees = {i.assignee for i in load_example().items if i.assignee}
    assert {a.split(" (")[0] for a in assignees} == set(DEMO_RATES)
