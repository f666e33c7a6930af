"""A tiny tracker-neutral document structure: headings, paragraphs, tables, images, lists.

Text in a document is plain text: the renderers (:mod:`tracker_bridge.publish.markup`) escape
it, so an issue title can neither break a table (``|``) nor turn into formatting, images or
links. Which renderer a page gets, and how it refers to an issue, is the tracker's
:class:`~tracker_bridge.publish.style.PageStyle`, given by its adapter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

#: The markup languages a page can be written in: Textile, Markdown (original syntax),
#: CommonMark, GitHub Flavored Markdown.
Markup = Literal["textile", "markdown", "common_mark", "gfm"]
MARKUPS: tuple[Markup, ...] = ("textile", "markdown", "common_mark", "gfm")


@dataclass(frozen=True)
class IssueRef:
    """A reference to one issue. ``autolink``: the tracker links the bare label by itself
    (a ``#N`` number is then written as it is, not escaped and not linked)."""

    label: str
    url: str | None = None
    autolink: bool = False


Span = str | IssueRef
Cell = Span | tuple[Span, ...]


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: Cell


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[Cell]]
    right: tuple[int, ...] = ()  # indices of right-aligned (numeric) columns

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(f"table row has {len(row)} cells, header has {len(self.header)}")


@dataclass(frozen=True)
class Image:
    filename: str
    alt: str = ""

    def __post_init__(self) -> None:
        if not _FILENAME.fullmatch(self.filename):
            raise ValueError(f"unsafe image file name {self.filename!r}")


@dataclass(frozen=True)
class BulletList:
    items: list[Cell]


Block = Heading | Paragraph | Table | Image | BulletList


@dataclass
class Document:
    blocks: list[Block] = field(default_factory=list)


_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
