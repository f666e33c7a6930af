"""How a tracker shows our pages: its markup, how it is rendered, how a page refers to an issue.

The publisher knows no tracker: each adapter provides a :class:`PageStyle` (one tracker links
a bare ``#42`` by itself, another's wiki needs a full link; one reads macros into its rendered
pages). :class:`PlainStyle` suits any tracker whose items carry a URL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tracker_bridge.model import Snapshot
from tracker_bridge.publish.document import Document, IssueRef, Markup
from tracker_bridge.publish.markup import render

__all__ = ["PageStyle", "PlainStyle", "Refer", "link_by_url"]

#: Turns an item key into the reference a page shows (label, link).
Refer = Callable[[str], IssueRef]


class PageStyle(Protocol):
    """What the publisher asks of a tracker to write a page for it."""

    @property
    def markup(self) -> Markup:
        """The markup the tracker's pages are written in."""
        ...

    def references(self, snapshot: Snapshot) -> Refer:
        """How this page refers to the snapshot's items (and to keys it does not know)."""
        ...

    def render(self, document: Document) -> str:
        """The document as the tracker's page text, in :attr:`markup`."""
        ...


def link_by_url(snapshot: Snapshot) -> Refer:
    """Items shown by their key, linked to their URL when they have one."""
    urls = {item.key: item.url for item in snapshot.items}
    return lambda key: IssueRef(key, urls.get(key))


@dataclass(frozen=True)
class PlainStyle:
    """Any tracker: keys as labels, linked to the items' URLs."""

    markup: Markup = "common_mark"

    def references(self, snapshot: Snapshot) -> Refer:
        return link_by_url(snapshot)

    def render(self, document: Document) -> str:
        return render(document, self.markup)
