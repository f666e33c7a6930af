"""The managed block: our text between markers, a person's text around it kept byte for byte."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker_bridge.errors import InputError
from tracker_bridge.managed_block import (
    MARKUPS,
    begin_marker,
    end_marker,
    extract_block,
    merge_block,
)

BODY = "h2. Plan\n\n|_. Item |_. Float |\n| #1 | 0 |"


@pytest.mark.parametrize("existing", [None, ""])
@pytest.mark.parametrize("markup", ["textile", "markdown", "common_mark"])
def test_empty_page_is_just_our_block(existing: str | None, markup: str) -> None:
    text = merge_block(existing, BODY, markup)
    assert text == f"{begin_marker(markup)}\n\n{BODY}\n\n{end_marker(markup)}"
    assert extract_block(text, markup) == BODY


def test_textile_uses_html_comments_and_markdown_link_reference_definitions() -> None:
    assert begin_marker("textile").startswith("<!-- tracker-bridge:begin")
    assert begin_marker("textile").endswith("-->")
    assert "--" not in begin_marker("textile")[4:-3]  # a valid HTML comment
    assert end_marker("textile") == "<!-- tracker-bridge:end -->"
    for markup in ("markdown", "common_mark", "gfm"):
        assert begin_marker(markup).startswith("[//]: # (tracker-bridge:begin")
        assert end_marker(markup) == "[//]: # (tracker-bridge:end)"


def test_unknown_markup_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown markup 'rst'"):
        merge_block(None, BODY, "rst")


def test_whitespace_only_page_counts_as_empty() -> None:
    assert merge_block(" \r\n\r\n", BODY, "textile") == merge_block(None, BODY, "textile")


@pytest.mark.parametrize(
    ("human", "separator"),
    [
        ("Intro by a person.", "\n\n"),
        ("Intro by a person.\n", "\n"),
        ("Intro by a person.\n\n", ""),
        ("Intro\r\nby a person.", "\r\n\r\n"),
        ("Intro\r\nby a person.\r\n", "\r\n"),
        ("Intro\r\nby a person.\r\n\r\n", ""),
    ],
)
def test_no_markers_appends_after_the_human_text(human: str, separator: str) -> None:
    text = merge_block(human, BODY, "textile")
    nl = "\r\n" if "\r\n" in human else "\n"
    expected_block = nl.join(
        [begin_marker("textile"), "", *BODY.split("\n"), "", end_marker("textile")]
    )
    assert text == human + separator + expected_block
    assert text.startswith(human)


def test_markers_present_replace_only_the_inside_byte_for_byte() -> None:
    above = "Written by a person.\r\n\r\n  Indented, trailing spaces   \r\n\r\n"
    below = "\r\n\r\nNotes below\r\n* one\r\n* two\r\n\r\n"
    first = merge_block(above.rstrip("\r\n"), "old body", "textile")
    page = above + first[first.index("<!--") :] + below
    assert extract_block(page, "textile") == "old body"

    new = merge_block(page, "h2. New\n\nline two", "textile")
    assert new.startswith(above)
    assert new.endswith(below)
    assert extract_block(new, "textile") == "h2. New\r\n\r\nline two"
    # the block uses the page's CRLF line endings: no lone "\n" anywhere
    assert "\n" not in new.replace("\r\n", "")


def test_unchanged_body_gives_an_identical_page() -> None:
    page = merge_block("Human\r\n", BODY, "textile")
    assert merge_block(page, BODY, "textile") == page
    # and a body given with CRLF (or trailing blank lines) changes nothing either
    assert merge_block(page, BODY.replace("\n", "\r\n") + "\n\n", "textile") == page


def test_switching_markup_rewrites_the_block_with_the_new_markers() -> None:
    page = merge_block("Human text", BODY, "textile")
    md = merge_block(page, "## Plan", "markdown")
    assert md.startswith("Human text\n\n")
    assert begin_marker("markdown") in md
    assert "<!--" not in md
    assert extract_block(md, "textile") == "## Plan"  # recognised whatever the markup


def test_markers_with_surrounding_spaces_are_recognised() -> None:
    page = "A\n\n  <!-- tracker-bridge:begin -->  \nours\n\t<!-- tracker-bridge:end -->\nB"
    assert extract_block(page, "textile") == "ours"
    assert merge_block(page, "new", "textile").endswith("\nB")
    assert merge_block(page, "new", "textile").startswith("A\n\n")


def test_text_that_merely_mentions_a_marker_is_not_a_marker() -> None:
    page = "See the tracker-bridge:begin marker below; <!-- tracker-bridge:begin --> inline."
    assert extract_block(page, "textile") is None
    merged = merge_block(page, "x", "textile")
    assert merged.startswith(page + "\n\n")


def test_begin_without_end_raises_and_keeps_the_human_text() -> None:
    page = "Mine above\n\n<!-- tracker-bridge:begin -->\n\nold\n\nMine below, end marker deleted\n"
    with pytest.raises(InputError, match=r"end marker was deleted.*Restore the missing marker"):
        merge_block(page, "new", "textile")
    with pytest.raises(InputError, match="line 3"):
        extract_block(page, "textile")


def test_end_without_begin_raises() -> None:
    page = "Mine\n\nold\n\n<!-- tracker-bridge:end -->\n"
    with pytest.raises(InputError, match="begin marker was deleted"):
        merge_block(page, "new", "textile")


def test_two_blocks_raise() -> None:
    one = merge_block(None, "a", "textile")
    with pytest.raises(InputError, match="exactly one block"):
        merge_block(one + "\n\n" + one, "new", "textile")


def test_end_before_begin_raises() -> None:
    page = "<!-- tracker-bridge:end -->\n\nx\n\n<!-- tracker-bridge:begin -->"
    with pytest.raises(InputError, match="comes before"):
        merge_block(page, "new", "textile")


def test_empty_body_keeps_markers() -> None:
    text = merge_block(None, "", "textile")
    assert text == f"{begin_marker('textile')}\n\n{end_marker('textile')}"
    assert extract_block(text, "textile") == ""


_human = st.lists(
    st.sampled_from([*"ab <>!-#[]():/\t", "\n", "\r\n", "é", "tracker-bridge", "begin", "end"]),
    max_size=40,
).map("".join)


@given(
    above=_human,
    below=_human,
    old=_human,
    new=_human,
    markup=st.sampled_from(MARKUPS),
    crlf=st.booleans(),
)
def test_property_outside_text_survives_any_update(
    above: str, below: str, old: str, new: str, markup: str, crlf: bool
) -> None:
    nl = "\r\n" if crlf else "\n"
    block = merge_block(None, old, markup)
    if crlf:
        block = block.replace("\n", "\r\n")
    # a person's text around the block, on its own lines
    prefix = above + nl if above else ""
    suffix = nl + below if below else ""
    page = prefix + block + suffix
    try:
        merged = merge_block(page, new, markup)
    except InputError:
        # only possible when the person's own text contains marker lines
        assert "tracker-bridge" in above + below
        return
    assert merged.startswith(prefix)
    assert merged.endswith(suffix)
    assert merge_block(merged, new, markup) == merged  # idempotent
