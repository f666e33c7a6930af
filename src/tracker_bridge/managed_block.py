"""Our managed block inside a wiki page: the text between a begin and an end marker.

Everything a person wrote outside the markers is kept byte for byte (line endings included);
only the text between the markers is replaced. Pure and tracker-neutral: no I/O.

Markers are invisible in the rendered page. Verified against Redmine 5.0.4 (rendered HTML of a
wiki page, and each formatter's ``to_html``; see tests/integration/test_redmine_adapter.py):

============  ===================================================  ==========================
markup        marker line                                          rendered
============  ===================================================  ==========================
textile       ``<!-- tracker-bridge:begin ... -->``                nothing (RedCloth drops
                                                                   HTML comments)
markdown      ``[//]: # (tracker-bridge:begin ...)``               nothing (a link reference
(Redcarpet)                                                        definition)
common_mark   ``[//]: # (tracker-bridge:begin ...)``               nothing
gfm / github  ``[//]: # (tracker-bridge:begin ...)``               nothing
============  ===================================================  ==========================

Traps found on the way: Redmine's Textile shows a RedCloth ``###.`` comment as a paragraph,
and Redmine's "markdown" (Redcarpet with ``filter_html``) shows ``<!-- ... -->`` escaped as
text. Both marker styles are *recognised* whatever the markup, so a page written under one
setting is still managed after the setting changes (the block is then rewritten with the
markers of the current markup).

Rules of :func:`merge_block`:

* no page or an empty (or whitespace-only) page: the page becomes just our block;
* no markers yet: our block is appended after the human text, separated by a blank line;
* both markers present: only the lines from the begin marker to the end marker are replaced;
* a begin marker without an end marker, an end marker without a begin marker, markers in the
  wrong order or more than one block: :class:`~tracker_bridge.errors.InputError` (we never
  guess where a person's text starts, so we never delete it).

The page's line-ending style is kept: if the existing text contains ``\\r\\n`` (Redmine stores
browser edits that way), our block is written with ``\\r\\n`` too, so an unchanged plan gives
an identical page and no new page version.
"""

from __future__ import annotations

import re
from typing import Final

from tracker_bridge.errors import InputError

__all__ = ["MARKUPS", "begin_marker", "end_marker", "extract_block", "merge_block"]

MARKUPS: Final = ("textile", "markdown", "common_mark", "gfm", "github")

_TAG: Final = "tracker-bridge"
_HINT: Final = "generated, edits up to the end marker are replaced on the next run"

# One marker line (either style, begin or end), spaces and tabs allowed around it. The match
# never includes the line terminator, so CRLF text keeps its "\r\n" outside our block.
_MARKER_RE: Final = re.compile(
    r"^[ \t]*(?:"
    r"<!--[ \t]*" + _TAG + r":(?P<kind1>begin|end)\b[^\r\n]*?-->"
    r"|\[//\]:[ \t]*#[ \t]*\([ \t]*" + _TAG + r":(?P<kind2>begin|end)\b[^\r\n]*\)"
    r")[ \t]*(?=\r?\n|\r|\Z)",
    re.MULTILINE,
)


def _check_markup(markup: str) -> str:
    key = markup.strip().lower()
    if key not in MARKUPS:
        raise ValueError(f"unknown markup {markup!r}; expected one of {', '.join(MARKUPS)}")
    return key


def begin_marker(markup: str) -> str:
    """The begin-marker line we write for ``markup`` (without a line terminator)."""
    if _check_markup(markup) == "textile":
        return f"<!-- {_TAG}:begin; {_HINT} -->"
    return f"[//]: # ({_TAG}:begin; {_HINT})"


def end_marker(markup: str) -> str:
    """The end-marker line we write for ``markup`` (without a line terminator)."""
    if _check_markup(markup) == "textile":
        return f"<!-- {_TAG}:end -->"
    return f"[//]: # ({_TAG}:end)"


def _newline_of(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _render(block: str, markup: str, nl: str) -> str:
    """Markers plus the block body, blank lines around the body, in line ending ``nl``."""
    body = block.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    lines = [begin_marker(markup), ""]
    if body:
        lines += [*body.split("\n"), ""]
    lines.append(end_marker(markup))
    return nl.join(lines)


def _span(text: str) -> tuple[int, int, int, int] | None:
    """(begin-line start, begin-line end, end-line start, end-line end) or None.

    Raises InputError for a broken structure rather than guessing.
    """
    begins: list[re.Match[str]] = []
    ends: list[re.Match[str]] = []
    for match in _MARKER_RE.finditer(text):
        kind = match.group("kind1") or match.group("kind2")
        (begins if kind == "begin" else ends).append(match)
    if not begins and not ends:
        return None
    fix = (
        "Restore the missing marker line (copy it from the page history) or remove the "
        "remaining marker and our generated text by hand, then run again; tracker-bridge "
        "does not guess which text is yours."
    )
    if begins and not ends:
        raise InputError(
            f"the page has the {_TAG}:begin marker (line {_line_no(text, begins[0].start())}) "
            f"but its {_TAG}:end marker was deleted. {fix}"
        )
    if ends and not begins:
        raise InputError(
            f"the page has the {_TAG}:end marker (line {_line_no(text, ends[0].start())}) "
            f"but its {_TAG}:begin marker was deleted. {fix}"
        )
    if len(begins) > 1 or len(ends) > 1:
        raise InputError(
            f"the page has {len(begins)} {_TAG}:begin and {len(ends)} {_TAG}:end markers; "
            "exactly one block is allowed. Remove the extra copy of the block (or its "
            "markers), then run again."
        )
    begin, end = begins[0], ends[0]
    if end.start() < begin.start():
        raise InputError(
            f"the page's {_TAG}:end marker (line {_line_no(text, end.start())}) comes before "
            f"its {_TAG}:begin marker (line {_line_no(text, begin.start())}). Put them back in "
            "order, then run again."
        )
    return begin.start(), begin.end(), end.start(), end.end()


def _line_no(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def extract_block(text: str | None, markup: str) -> str | None:
    """The body between our markers (line endings as stored, the padding blank lines removed).

    ``None`` when the page has no markers. Raises InputError for a broken marker structure.
    ``markup`` is validated; markers of any style are recognised.
    """
    _check_markup(markup)
    if not text:
        return None
    span = _span(text)
    if span is None:
        return None
    _, begin_end, end_start, _ = span
    inner = text[begin_end:end_start]
    return inner.strip("\r\n")


def merge_block(existing: str | None, block: str, markup: str) -> str:
    """The whole new page text: ``existing`` with our block set to ``block``.

    Text outside the markers is kept byte for byte. See the module docstring for the rules.
    """
    _check_markup(markup)
    if existing is None or not existing.strip():
        return _render(block, markup, "\n")
    nl = _newline_of(existing)
    ours = _render(block, markup, nl)
    span = _span(existing)
    if span is None:
        if existing.endswith(("\n\n", "\r\n\r\n", "\r\r")):
            separator = ""
        elif existing.endswith(("\n", "\r")):
            separator = nl
        else:
            separator = nl + nl
        return existing + separator + ours
    begin_start, _, _, end_end = span
    return existing[:begin_start] + ours + existing[end_end:]
