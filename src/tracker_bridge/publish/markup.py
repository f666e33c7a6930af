"""Renderers of a :class:`~tracker_bridge.publish.document.Document` in a markup language:
Textile and Markdown (also CommonMark and GitHub Flavored Markdown). Tracker-neutral: a
tracker's page style (given by its adapter) picks the renderer and configures it.

Text is escaped, so an issue title can neither break a table (``|``) nor turn into
formatting, images or links.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

from tracker_bridge.publish.document import (
    MARKUPS,
    Block,
    BulletList,
    Cell,
    Document,
    Heading,
    Image,
    IssueRef,
    Paragraph,
)

__all__ = [
    "MarkdownRenderer",
    "Renderer",
    "TextileRenderer",
    "escape_markdown",
    "escape_textile",
    "render",
    "safe_url",
]

_WHITESPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: A bare ``#N`` reference: written as it is when the tracker links it by itself.
_BARE_NUMBER = re.compile(r"#\d+")
_LIST_START = re.compile(r"(\d+)([.)])")
# Characters that may start Textile markup; '-' only matters at a word boundary.
_TEXTILE_SPECIAL = frozenset("|*_+^~@%!\"'[]{}#=<>&\\:?`")
# '(' starts acronyms "ABC(...)" after a word and the glyphs (c), (r), (tm).
_TEXTILE_PAREN = re.compile(r"(?<=\S)\(|\((?=(?:c|r|tm)\))", re.IGNORECASE)
# Characters that may start Markdown markup; '_' only matters at a word boundary.
_MARKDOWN_SPECIAL = frozenset("\\`*{}[]<>#!~^=")
_ALT_UNSAFE = re.compile(r"[^\w .,;:/-]|_")


def _clean(text: str) -> str:
    """One line of text: control characters dropped, whitespace runs collapsed to a space."""
    return _WHITESPACE.sub(" ", _CONTROL.sub("", text))


def _alt_text(text: str) -> str:
    """Image alt text reduced to characters no markup treats specially inside ``!...!``/``![]``."""
    return _WHITESPACE.sub(" ", _ALT_UNSAFE.sub("", _clean(text))).strip()


def _inside_word(text: str, i: int) -> bool:
    return 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()


def escape_textile(text: str) -> str:
    """Plain text as Textile: markup characters become numeric character references."""
    text = _clean(text)
    parens = {m.start() for m in _TEXTILE_PAREN.finditer(text)}
    return "".join(
        f"&#{ord(ch)};"
        if ch in _TEXTILE_SPECIAL or i in parens or (ch == "-" and not _inside_word(text, i))
        else ch
        for i, ch in enumerate(text)
    )


def escape_markdown(text: str, *, prepare: Callable[[str], str] | None = None) -> str:
    """Plain text as Markdown inline text (backslash escapes; ``|`` as ``&#124;``).

    ``prepare`` changes the cleaned text first: a tracker that reads more into its rendered
    HTML than Markdown does (macros, wiki links) neutralises that there (its page style).
    """
    text = _clean(text)
    if prepare is not None:
        text = prepare(text)
    out = []
    for i, ch in enumerate(text):
        if ch == "|":
            out.append("&#124;")
        elif ch == "&":
            out.append("&amp;")
        elif ch in _MARKDOWN_SPECIAL or (ch == "_" and not _inside_word(text, i)):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _markdown_block_start(text: str) -> str:
    """Escape what would make escaped inline text a list item at the start of a block."""
    if text[:1] in ("-", "+"):
        return "\\" + text
    match = _LIST_START.match(text)
    if match:
        return match.group(1) + "\\" + text[match.end(1) :]
    return text


def safe_url(url: str | None) -> str | None:
    """An http(s) URL with the characters that would end a link percent-encoded."""
    if url is None or not url.startswith(("http://", "https://")):
        return None
    return quote(url, safe="/:?#[]@!$&'*+,;=%~.-_")


class Renderer:
    """Shared layout; subclasses supply the syntax of one markup."""

    def __init__(self, escape: Callable[[str], str]) -> None:
        self.escape = escape

    def ref(self, ref: IssueRef) -> str:
        raise NotImplementedError

    def inline(self, cell: Cell) -> str:
        spans = cell if isinstance(cell, tuple) else (cell,)
        text = "".join(self.ref(s) if isinstance(s, IssueRef) else self.escape(s) for s in spans)
        return text.strip()

    def block(self, block: Block) -> str:
        raise NotImplementedError

    def render(self, doc: Document) -> str:
        return "\n\n".join(self.block(b) for b in doc.blocks) + "\n"


class TextileRenderer(Renderer):
    """Textile."""

    def __init__(self) -> None:
        super().__init__(escape_textile)

    def ref(self, ref: IssueRef) -> str:
        if ref.autolink and _BARE_NUMBER.fullmatch(ref.label):
            return ref.label
        url = safe_url(ref.url)
        if url is None:
            return self.escape(ref.label)
        return f'"{self.escape(ref.label)}":{url}'

    def block(self, block: Block) -> str:
        if isinstance(block, Heading):
            return f"h{block.level}. {self.inline(block.text)}"
        if isinstance(block, Paragraph):
            return f"p. {self.inline(block.text)}"
        if isinstance(block, Image):
            alt = f"({_alt_text(block.alt)})" if _alt_text(block.alt) else ""
            return f"!{block.filename}{alt}!"
        if isinstance(block, BulletList):
            return "\n".join(f"* {self.inline(item)}" for item in block.items)
        head = "".join(
            f"|_{'>' if i in block.right else ''}. {self.inline(h)} "
            for i, h in enumerate(block.header)
        )
        lines = [head + "|"]
        for row in block.rows:
            cells = "".join(
                f"|{'>. ' if i in block.right else ' '}{self.inline(c)} " for i, c in enumerate(row)
            )
            lines.append(cells + "|")
        return "\n".join(lines)


class MarkdownRenderer(Renderer):
    """Markdown, CommonMark and GitHub Flavored Markdown (one syntax suits all three).

    ``prepare``: see :func:`escape_markdown`.
    """

    def __init__(self, *, prepare: Callable[[str], str] | None = None) -> None:
        super().__init__(lambda text: escape_markdown(text, prepare=prepare))

    def ref(self, ref: IssueRef) -> str:
        if ref.autolink and _BARE_NUMBER.fullmatch(ref.label):
            return ref.label
        url = safe_url(ref.url)
        prefix, hash_sign, number = ref.label.rpartition("#")
        if hash_sign and number.isdigit() and number.isascii():  # '#12' needs no escape here
            label = f"{self.escape(prefix)}#{number}"
        else:
            label = self.escape(ref.label)
        if url is None:
            return label
        return f"[{label}]({url})"

    def block(self, block: Block) -> str:
        if isinstance(block, Heading):
            return f"{'#' * block.level} {self.inline(block.text)}"
        if isinstance(block, Paragraph):
            return _markdown_block_start(self.inline(block.text))
        if isinstance(block, Image):
            return f"![{_alt_text(block.alt)}]({block.filename})"
        if isinstance(block, BulletList):
            return "\n".join(
                f"- {_markdown_block_start(self.inline(item))}" for item in block.items
            )
        lines = [
            "| " + " | ".join(self.inline(h) for h in block.header) + " |",
            "|"
            + "|".join("---:" if i in block.right else "---" for i in range(len(block.header)))
            + "|",
        ]
        lines.extend("| " + " | ".join(self.inline(c) for c in row) + " |" for row in block.rows)
        return "\n".join(lines)


def render(doc: Document, markup: str) -> str:
    """Render a document in ``textile``, ``markdown``, ``common_mark`` or ``gfm`` with the
    plain renderer of that markup (a page style may configure its own)."""
    if markup == "textile":
        renderer: Renderer = TextileRenderer()
    elif markup in ("markdown", "common_mark", "gfm"):
        renderer = MarkdownRenderer()
    else:
        raise ValueError(f"unknown markup {markup!r}; use one of {', '.join(MARKUPS)}")
    return renderer.render(doc)
