"""The publisher: plan report, markup renderers and custom-field values, on real planner output."""

from __future__ import annotations

import datetime as dt
import html
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker_bridge.adapters.github.keys import web_base
from tracker_bridge.adapters.github.style import GitHubPageStyle
from tracker_bridge.adapters.redmine.style import RedminePageStyle, split_doubled_brackets
from tracker_bridge.model import Plan, Snapshot
from tracker_bridge.planner import plan as make_plan
from tracker_bridge.publish import PlainStyle, render_desired
from tracker_bridge.publish.document import (
    BulletList,
    Document,
    Heading,
    Image,
    IssueRef,
    Paragraph,
    Table,
)
from tracker_bridge.publish.fields import desired_fields
from tracker_bridge.publish.markup import escape_markdown, escape_textile
from tracker_bridge.publish.markup import render as render_markup
from tracker_bridge.publish.report import build_report, milestone_status
from tracker_bridge.settings import FieldNames, Settings

AS_OF = dt.date(2025, 1, 6)  # a Monday
HOSTILE = "Fix | pipe *bold* {{toc}} !img.png! [[Wiki]] _em_ -del- <b>x</b> @code@ ~~s~~ `c`"
WORD_JOINER = "\u2060"
MARKUPS = ("textile", "markdown", "common_mark", "gfm")


def redmine_snapshot(*, ship_due: str = "2025-01-10") -> Snapshot:
    """Kick-off (done) -> Design -> hostile title -> Ship; Docs beside; a parent; no estimate."""
    return Snapshot.model_validate(
        {
            "project": {"name": "Webshop", "start": "2025-01-06"},
            "source": {"kind": "redmine", "base_url": "https://pm.example.com"},
            "milestones": [
                {"key": "v1", "name": "Beta", "due": "2025-01-24"},
                {"key": "v2", "name": "Launch | *GA*", "due": ship_due},
                {"key": "v3", "name": "Later"},
            ],
            "items": [
                {
                    "key": "redmine:6",
                    "title": "Kick-off",
                    "status": "closed",
                    "estimate_hours": 4,
                    "start": "2025-01-06",
                    "closed_on": "2025-01-06",
                },
                {"key": "redmine:1", "title": "Design", "estimate_hours": 16},
                {"key": "redmine:2", "title": HOSTILE, "estimate_hours": 24, "milestone": "v1"},
                {"key": "redmine:3", "title": "Docs", "estimate_hours": 8, "milestone": "v1"},
                {"key": "redmine:4", "title": "Ship", "estimate_hours": 8, "milestone": "v2"},
                {"key": "redmine:5", "title": "Translations", "milestone": "v3"},
                {"key": "redmine:7", "title": "Epic"},
                {"key": "redmine:8", "title": "Child", "estimate_hours": 8, "parent": "redmine:7"},
            ],
            "dependencies": [
                {"predecessor": "redmine:6", "successor": "redmine:1"},
                {"predecessor": "redmine:1", "successor": "redmine:2"},
                {"predecessor": "redmine:2", "successor": "redmine:4"},
                {"predecessor": "redmine:1", "successor": "redmine:3"},
            ],
        }
    )


def github_snapshot() -> Snapshot:
    return Snapshot.model_validate(
        {
            "project": {"name": "Shop", "start": "2025-01-06"},
            "source": {"kind": "github", "base_url": "https://api.github.com"},
            "items": [
                {"key": "github:acme/shop#1", "title": "Design", "estimate_hours": 16},
                {
                    "key": "github:acme/shop#2",
                    "title": HOSTILE,
                    "estimate_hours": 8,
                    "due": "2025-01-07",
                    "url": "https://api.github.com/repos/acme/shop/issues/2",
                },
                {
                    "key": "github:acme/shop#3",
                    "title": "Docs",
                    "url": "https://github.com/acme/shop/issues/3",
                },
            ],
            "dependencies": [
                {"predecessor": "github:acme/shop#1", "successor": "github:acme/shop#2"},
            ],
        }
    )


def planned(snapshot: Snapshot) -> Plan:
    return make_plan(snapshot, Settings(), AS_OF)


def report_text(markup: str, snapshot: Snapshot | None = None) -> str:
    snapshot = snapshot or redmine_snapshot()
    return render(build_report(planned(snapshot), snapshot, style=style_for(markup)), markup)


def style_for(markup: str) -> GitHubPageStyle | RedminePageStyle:
    return GitHubPageStyle() if markup == "gfm" else RedminePageStyle(markup)  # type: ignore[arg-type]


def render(doc: Document, markup: str) -> str:
    """The page text as the adapter whose wiki speaks ``markup`` renders it."""
    return style_for(markup).render(doc)


# --------------------------------------------------------------------------- helpers


def section_blocks(doc: Document, heading: str) -> list[Any]:
    """The blocks after a level-3 heading, up to the next heading."""
    blocks = doc.blocks
    start = next(i for i, b in enumerate(blocks) if isinstance(b, Heading) and b.text == heading)
    out = []
    for block in blocks[start + 1 :]:
        if isinstance(block, Heading):
            break
        out.append(block)
    return out


def section_table(doc: Document, heading: str) -> Table:
    tables = [b for b in section_blocks(doc, heading) if isinstance(b, Table)]
    assert len(tables) == 1
    return tables[0]


def text_tables(text: str) -> list[list[str]]:
    """Runs of consecutive lines that start with '|'."""
    tables: list[list[str]] = []
    current: list[str] = []
    for line in text.split("\n"):
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def cells(line: str) -> list[str]:
    """Cells of a table line; escaped content never holds a raw '|'."""
    assert line.startswith("|")
    assert line.endswith("|")
    return [c.strip() for c in line[1:-1].split("|")]


def textile_cell(cell: str) -> str:
    return re.sub(r"^_?>?\. ", "", cell)


def markdown_plain(text: str) -> str:
    """Undo Markdown escapes the way a renderer would (backslashes, entities, word joiners)."""
    return html.unescape(re.sub(r"\\(.)", r"\1", text)).replace(WORD_JOINER, "")


class _HtmlCells(HTMLParser):
    """Rows of a rendered HTML table: each cell as (text, inner tags)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[str, list[str]]]] = []
        self.cell: tuple[list[str], list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = ([], [])
        elif self.cell is not None:
            self.cell[1].append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(("".join(self.cell[0]), self.cell[1]))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell[0].append(data)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def tags_and_text(rendered: str) -> tuple[list[str], str]:
    parser = _Tags()
    parser.feed(rendered)
    return parser.tags, "".join(parser.text)


def commonmark_html(text: str) -> str:
    markdown_it = pytest.importorskip("markdown_it")
    md = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])
    rendered: str = md.render(text)
    return rendered


# --------------------------------------------------------------------------- report content


@pytest.mark.parametrize("markup", ["textile", "markdown"])
def test_critical_path_table_lists_the_chain_in_order_with_issue_numbers(markup: str) -> None:
    snapshot = redmine_snapshot()
    plan = planned(snapshot)
    assert plan.project.critical_paths == [["redmine:1", "redmine:2", "redmine:4"]]
    doc = build_report(plan, snapshot, style=RedminePageStyle())
    table = section_table(doc, "Critical path")
    assert table.header == [
        "#",
        "Issue",
        "Title",
        "Early start",
        "Early finish",
        "Duration (d)",
        "Total float (d)",
    ]
    for position, (row, key) in enumerate(
        zip(table.rows, plan.project.critical_paths[0], strict=True), start=1
    ):
        s = plan.items[key]
        assert row == [
            str(position),
            IssueRef(f"#{key.split(':')[1]}", autolink=True),
            snapshot.item_map()[key].title,
            str(s.early_start),
            str(s.early_finish),
            str(s.duration_days),
            str(s.total_float),
        ]

    text = render(doc, markup)
    critical = text_tables(text)[0]
    body = [cells(line) for line in critical[(1 if markup == "textile" else 2) :]]
    assert [row[1] for row in body] == ["#1", "#2", "#4"]  # Redmine links bare #ids itself
    assert [textile_cell(row[0]) for row in body] == ["1", "2", "3"]


def test_every_chain_gets_a_table_when_there_are_several() -> None:
    snapshot = Snapshot.model_validate(
        {
            "project": {"name": "Two", "start": "2025-01-06"},
            "items": [
                {"key": "redmine:1", "title": "A", "estimate_hours": 8},
                {"key": "redmine:2", "title": "B", "estimate_hours": 8},
            ],
        }
    )
    plan = planned(snapshot)
    assert len(plan.project.critical_paths) == 2
    blocks = section_blocks(build_report(plan, snapshot, style=RedminePageStyle()), "Critical path")
    assert [b.text for b in blocks if isinstance(b, Paragraph)] == ["Chain 1 of 2", "Chain 2 of 2"]
    assert [[r[1] for r in b.rows] for b in blocks if isinstance(b, Table)] == [
        [IssueRef("#1", autolink=True)],
        [IssueRef("#2", autolink=True)],
    ]


def test_milestone_table_numbers_equal_the_plan() -> None:
    snapshot = redmine_snapshot()
    plan = planned(snapshot)
    table = section_table(build_report(plan, snapshot, style=RedminePageStyle()), "Milestones")
    assert table.header == ["Milestone", "Due", "Forecast finish", "Float (d)", "Status"]
    assert len(table.rows) == len(plan.milestones) == 3
    for row, m in zip(table.rows, plan.milestones, strict=True):
        assert row[0] == m.name
        assert row[1] == (str(m.due) if m.due else "–")
        assert row[2] == (str(m.finish) if m.finish else "–")
        assert row[3] == (str(m.total_float) if m.total_float is not None else "–")
        assert row[4] == milestone_status(m)
    beta, launch, later = plan.milestones
    assert (launch.total_float, beta.total_float, later.total_float) == (-2, 9, None)
    assert [row[4] for row in table.rows] == ["on track", "late by 2 working days", "no due date"]


def test_summary_line_and_footer_come_from_the_plan() -> None:
    snapshot = redmine_snapshot()
    plan = planned(snapshot)
    doc = build_report(plan, snapshot, style=RedminePageStyle())
    summary = doc.blocks[1]
    assert isinstance(summary, Paragraph)
    p = plan.project
    assert summary.text == (
        f"Project start {p.start} · forecast finish {p.finish} · status date {p.as_of} · "
        "7 items (6 open, 3 critical) · minimum total float -2 d · plus 1 summary item"
    )
    assert p.min_total_float == -2
    footer = doc.blocks[-1]
    assert footer == Paragraph(
        "Generated by tracker-bridge at 2025-01-06; edit outside this block — text between the "
        "markers is replaced on every run."
    )


def test_negative_float_table_lists_items_that_miss_a_deadline() -> None:
    snapshot = redmine_snapshot()
    plan = planned(snapshot)
    table = section_table(build_report(plan, snapshot, style=RedminePageStyle()), "Negative float")
    late = sorted(
        (s for s in plan.items.values() if s.total_float < 0 and s.state != "summary"),
        key=lambda s: (s.total_float, s.early_finish, s.key),
    )
    assert [row[0] for row in table.rows] == [
        IssueRef("#1", autolink=True),
        IssueRef("#2", autolink=True),
        IssueRef("#4", autolink=True),
    ]
    for row, s in zip(table.rows, late, strict=True):
        assert row[2:] == [
            str(s.deadline) if s.deadline else "–",
            str(s.early_finish),
            str(s.total_float),
        ]
    assert table.rows[2][2] == "2025-01-10"  # Ship's deadline is its milestone's due date


def test_no_negative_float_is_a_sentence() -> None:
    snapshot = redmine_snapshot(ship_due="2025-02-28")
    plan = planned(snapshot)
    assert not plan.project.negative_float
    blocks = section_blocks(
        build_report(plan, snapshot, style=RedminePageStyle()), "Negative float"
    )
    assert blocks == [Paragraph("No item is late against its deadline.")]


def test_items_without_estimates_are_listed() -> None:
    snapshot = redmine_snapshot()
    blocks = section_blocks(
        build_report(planned(snapshot), snapshot, style=RedminePageStyle()),
        "Items without estimates",
    )
    assert blocks[1] == BulletList([(IssueRef("#5", autolink=True), " ", "Translations")])
    assert "* #5 Translations" in report_text("textile")
    assert "- #5 Translations" in report_text("markdown")


def test_keys_that_are_not_redmine_issues_keep_their_key() -> None:
    snapshot = Snapshot.model_validate(
        {
            "project": {"name": "Mixed", "start": "2025-01-06"},
            "items": [
                {"key": "medco:10", "title": "From a file", "estimate_hours": 8},
                {
                    "key": "redmine:3",
                    "title": "From Redmine",
                    "estimate_hours": 8,
                    "url": "https://pm.example.com/issues/3",
                },
            ],
            "dependencies": [{"predecessor": "medco:10", "successor": "redmine:3"}],
        }
    )
    doc = build_report(planned(snapshot), snapshot, style=RedminePageStyle())
    assert [row[1] for row in section_table(doc, "Critical path").rows] == [
        IssueRef("medco:10"),
        IssueRef("#3", "https://pm.example.com/issues/3", autolink=True),
    ]
    text = render(doc, "textile")
    assert "| medco&#58;10 | From a file |" in text
    assert "| #3 | From Redmine |" in text
    # a tracker without a style of its own: keys, linked to the items' URLs
    plain = build_report(planned(snapshot), snapshot, style=PlainStyle())
    assert [row[1] for row in section_table(plain, "Critical path").rows] == [
        IssueRef("medco:10"),
        IssueRef("redmine:3", "https://pm.example.com/issues/3"),
    ]


# --------------------------------------------------------------------------- markup syntax


@pytest.mark.parametrize("markup", MARKUPS)
def test_tables_are_well_formed(markup: str) -> None:
    snapshot = github_snapshot() if markup == "gfm" else redmine_snapshot()
    tables = text_tables(report_text(markup, snapshot))
    assert len(tables) >= 2
    for lines in tables:
        width = len(cells(lines[0]))
        assert all(len(cells(line)) == width for line in lines)
        if markup == "textile":
            assert all(c.startswith(("_. ", "_>. ")) for c in cells(lines[0]))
            assert not any(c.startswith("_") for line in lines[1:] for c in cells(line))
        else:
            assert re.fullmatch(r"\|(---:?\|)+", lines[1])
            assert not any(re.fullmatch(r"-+:?", c) for line in lines[2:] for c in cells(line))


@pytest.mark.parametrize("markup", ["markdown", "common_mark", "gfm"])
def test_markdown_tables_parse_with_a_commonmark_renderer(markup: str) -> None:
    snapshot = github_snapshot() if markup == "gfm" else redmine_snapshot()
    parser = _HtmlCells()
    parser.feed(commonmark_html(report_text(markup, snapshot)))
    assert parser.rows
    hostile_cells = [c for row in parser.rows for c in row if "pipe" in c[0]]
    assert hostile_cells  # the critical path and the negative float table
    for text, tags in hostile_cells:
        assert text.replace(WORD_JOINER, "") == HOSTILE
        assert tags == []  # no <em>, <strong>, <img>, <code>, <del>, <a>, <b>


def test_hostile_title_stays_text_in_textile() -> None:
    text = report_text("textile")
    row = next(line for line in text.split("\n") if "pipe" in line)
    assert len(cells(row)) == 7
    title = cells(row)[2]
    assert html.unescape(title) == HOSTILE
    assert not re.search(r"[|*_{}\[\]!<>@~`]", re.sub(r"&#\d+;", "", title))
    assert "{{" not in text
    assert "[[" not in text


@pytest.mark.parametrize("markup", ["markdown", "common_mark"])
def test_hostile_title_stays_text_in_redmine_markdown(markup: str) -> None:
    text = report_text(markup)
    row = next(line for line in text.split("\n") if "pipe" in line)
    assert len(cells(row)) == 7
    title = cells(row)[2]
    assert markdown_plain(title) == HOSTILE
    # Redmine finds macros in the source and wiki links in the HTML, after escapes are gone
    unescaped = title.replace("\\", "")
    assert "{{" not in unescaped
    assert "[[" not in unescaped


@given(st.text(alphabet=st.sampled_from(list("ab1 \t\n|*_+-^~@%!\"'[]{}()#=<>&\\:?`.äé—"))))
def test_textile_escape_round_trips_and_leaves_no_markup(text: str) -> None:
    escaped = escape_textile(text)
    assert html.unescape(escaped) == re.sub(r"\s+", " ", text)
    bare = re.sub(r"&#\d+;", "", escaped)
    assert not re.search(r"[|*_+^~@%!\"'\[\]{}#=<>&\\:?`\n]", bare)
    assert not re.search(r"(^|\W)-|-(\W|$)", bare)


@given(st.text(alphabet=st.sampled_from(list("ab1 \t|*_+-^~@%!\"'[]{}()#=<>&\\:?`.äé"))))
def test_markdown_paragraph_renders_as_the_plain_text(text: str) -> None:
    expected = re.sub(r"\s+", " ", text).strip()
    if not expected:
        return
    tags, body = tags_and_text(commonmark_html(render(Document([Paragraph(text)]), "gfm")))
    assert tags == ["p"]
    assert body.strip() == expected


@given(st.text(alphabet=st.sampled_from(list("ab{[|]} "))))
def test_redmine_markdown_never_leaves_doubled_braces(text: str) -> None:
    plain = escape_markdown(text, prepare=split_doubled_brackets).replace("\\", "")
    assert "{{" not in plain
    assert "[[" not in plain


def test_textile_and_markdown_syntax() -> None:
    doc = Document(
        [
            Heading(2, "Plan"),
            Paragraph("h1. not a heading"),
            Table(["A", "N"], [[IssueRef("#7", autolink=True), "-3"]], right=(1,)),
            Image("chart.png", "Gantt (critical)!"),
            BulletList([(IssueRef("A-1", url="https://x.example/a b|c"), " ", "1. item")]),
        ]
    )
    assert render(doc, "textile") == (
        "h2. Plan\n\np. h1. not a heading\n\n|_. A |_>. N |\n| #7 |>. &#45;3 |\n\n"
        "!chart.png(Gantt critical)!\n\n"
        '* "A-1":https://x.example/a%20b%7Cc 1. item\n'
    )
    assert render(doc, "markdown") == (
        "## Plan\n\nh1. not a heading\n\n| A | N |\n|---|---:|\n| #7 | -3 |\n\n"
        "![Gantt critical](chart.png)\n\n"
        "- [A-1](https://x.example/a%20b%7Cc) 1. item\n"
    )
    assert render(Document([Paragraph("1. x"), BulletList(["- y"])]), "gfm") == (
        "1\\. x\n\n- \\- y\n"
    )


def test_document_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="2 cells, header has 1"):
        Table(["A"], [["x", "y"]])
    with pytest.raises(ValueError, match="unsafe image file name"):
        Image("../x.png")
    with pytest.raises(ValueError, match="unknown markup 'rst'"):
        render_markup(Document(), "rst")
    assert render(Document([Paragraph((IssueRef("#1"),))]), "textile") == "p. &#35;1\n"
    assert render(Document([Paragraph((IssueRef("#1", "javascript:x"),))]), "gfm") == "#1\n"
    # the plain renderers are the styles' renderers without a tracker's extras
    hostile = Document([Paragraph("{{toc}} [[Wiki]]")])
    assert render_markup(hostile, "common_mark") == "\\{\\{toc\\}\\} \\[\\[Wiki\\]\\]\n"
    assert render(hostile, "common_mark") == render_markup(hostile, "common_mark").replace(
        "\\{\\{", f"\\{{{WORD_JOINER}\\{{"
    ).replace("\\[\\[", f"\\[{WORD_JOINER}\\[")


@pytest.mark.parametrize("markup", MARKUPS)
def test_rendering_is_byte_identical_for_an_unchanged_plan(markup: str) -> None:
    snapshot = github_snapshot() if markup == "gfm" else redmine_snapshot()
    first = report_text(markup, snapshot)
    assert report_text(markup, snapshot) == first
    # a later fetch of the same project (new fetched_at) plans and renders the same page
    later = snapshot.model_copy(update={"fetched_at": dt.datetime(2031, 5, 4, 3, 2, 1)})
    assert report_text(markup, later) == first
    assert "2031" not in first


# --------------------------------------------------------------------------- GitHub


def test_github_issue_links_are_full_urls() -> None:
    snapshot = github_snapshot()
    plan = planned(snapshot)
    doc = build_report(plan, snapshot, style=GitHubPageStyle())
    refs = [
        c
        for b in doc.blocks
        if isinstance(b, Table)
        for row in b.rows
        for c in row
        if isinstance(c, IssueRef)
    ]
    assert refs
    for ref in refs:
        assert ref.url is not None
        assert re.fullmatch(r"https://github\.com/acme/shop/issues/\d+", ref.url)
        assert ref.url.endswith("/" + ref.label.lstrip("#"))
    text = render(doc, "gfm")
    assert "| 1 | [#1](https://github.com/acme/shop/issues/1) | Design |" in text
    assert "[#2](https://github.com/acme/shop/issues/2)" in text  # API URL -> web page
    assert "- [#3](https://github.com/acme/shop/issues/3) Docs" in text


def test_github_labels_name_the_repository_when_there_are_several() -> None:
    data = github_snapshot().model_dump()
    data["items"].append({"key": "github:acme/api#9", "title": "API"})
    snapshot = Snapshot.model_validate(data)
    # a GitHub Enterprise server: the adapter knows its web address from its API address
    style = GitHubPageStyle(web_base("https://git.example.com/api/v3"))
    text = render(build_report(planned(snapshot), snapshot, style=style), "gfm")
    assert "[acme/api#9](https://git.example.com/acme/api/issues/9)" in text
    assert "| [acme/shop#1](https://git.example.com/acme/shop/issues/1) | Design |" in text
    assert "[acme/shop#3](https://github.com/acme/shop/issues/3)" in text  # the item's own URL


# --------------------------------------------------------------------------- fields


def test_desired_fields_types_and_values_match_the_plan() -> None:
    snapshot = redmine_snapshot()
    plan = planned(snapshot)
    assert plan.overlays.risk is not None and plan.overlays.budget is None  # no rates, no baseline
    fields = desired_fields(plan, FieldNames())
    assert list(fields) == list(plan.items)  # summaries included
    risk_fields = ["risk_score", "p80_finish", "criticality"]
    for key, values in fields.items():
        s = plan.items[key]
        assert list(values) == [*FieldNames().required(), *risk_fields]
        assert type(values["critical"]) is bool
        assert type(values["total_float"]) is int
        for name in ("early_start", "early_finish", "late_finish", "p80_finish"):
            assert type(values[name]) is dt.date
        assert type(values["risk_score"]) is int
        assert type(values["criticality"]) is int
        schedule = {
            "early_start": s.early_start,
            "early_finish": s.early_finish,
            "risk_score": s.risk_score,
            "p80_finish": s.p80_finish,
        }
        criticality = values["criticality"]
        assert isinstance(criticality, int) and s.criticality is not None
        assert abs(criticality - s.criticality * 100) <= 0.5
        others = {name: value for name, value in values.items() if name != "criticality"}
        if s.state == "done":
            assert others == {
                "critical": False,
                "total_float": 0,
                "late_finish": s.early_finish,
                **schedule,
            }
        else:
            assert others == {
                "critical": s.critical,
                "total_float": s.total_float,
                "late_finish": s.late_finish,
                **schedule,
            }
    assert fields["redmine:6"]["early_finish"] == dt.date(2025, 1, 6)  # closed: actual date
    assert fields["redmine:6"]["risk_score"] == fields["redmine:6"]["criticality"] == 0
    assert fields["redmine:4"]["total_float"] == -2
    assert fields["redmine:7"]["critical"] is False  # summary of a non-critical child
    schedule_only = make_plan(snapshot, Settings(), AS_OF, overlays=False)
    assert list(desired_fields(schedule_only, FieldNames())["redmine:4"]) == FieldNames().required()


# --------------------------------------------------------------------------- render_desired


def test_render_desired_bundles_fields_and_one_page() -> None:
    snapshot = redmine_snapshot()
    plan = planned(snapshot)
    state = render_desired(
        plan,
        snapshot,
        style=RedminePageStyle("textile"),
        page_title="Plan",
        field_names=FieldNames(),
        charts=False,  # charts: tests/unit/test_publish_overlays.py
    )
    assert [page.title for page in state.pages] == ["Plan"]
    assert state.pages[0].attachments == []
    assert state.pages[0].body == report_text("textile")
    assert state.fields == desired_fields(plan, FieldNames())


def test_markup_per_tracker_kind() -> None:
    assert GitHubPageStyle().markup == "gfm"  # GitHub wikis only speak GFM
    assert RedminePageStyle("common_mark").markup == "common_mark"
    with pytest.raises(ValueError, match="gfm is GitHub's markup"):
        RedminePageStyle("gfm")
    snapshot = github_snapshot()
    state = render_desired(
        planned(snapshot),
        snapshot,
        style=GitHubPageStyle(),
        page_title="Plan",
        field_names=FieldNames(),
        charts=False,
    )
    assert state.pages[0].body == report_text("gfm", snapshot)
