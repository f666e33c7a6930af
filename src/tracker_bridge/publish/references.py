"""References to items in the page's tracker style, their titles, and sentences of them."""

from __future__ import annotations

from collections.abc import Sequence

from tracker_bridge.model import Snapshot, WorkItem
from tracker_bridge.publish.document import (
    IssueRef,
    Span,
)
from tracker_bridge.publish.style import PageStyle

MAX_LISTED = 20  # items named in one sentence, then "and N more"


class IssueRefs:
    """References to items in the page's tracker style (:class:`PageStyle`), and titles."""

    def __init__(self, snapshot: Snapshot, style: PageStyle) -> None:
        self._refer = style.references(snapshot)
        self.items = snapshot.item_map()

    def ref(self, key: str) -> IssueRef:
        """How the page refers to ``key`` (a bare ``#123``, a link..., as the style says)."""
        return self._refer(key)

    def title(self, key: str) -> str:
        """The item's title, empty when the snapshot does not know the key."""
        item: WorkItem | None = self.items.get(key)
        return item.title if item is not None else ""


def refs_sentence(refs: IssueRefs, keys: Sequence[str]) -> tuple[Span, ...]:
    """Issue references separated by commas, at most MAX_LISTED, then ``and N more``."""
    spans: list[Span] = []
    for n, key in enumerate(keys[:MAX_LISTED]):
        if n:
            spans.append(", ")
        spans.append(refs.ref(key))
    if len(keys) > MAX_LISTED:
        spans.append(f" and {len(keys) - MAX_LISTED} more")
    return tuple(spans)
