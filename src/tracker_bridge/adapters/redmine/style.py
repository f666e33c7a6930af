"""How plan pages look in a Redmine wiki: the project's text formatting (Textile, Markdown or
CommonMark), and ``#42`` for an issue (Redmine links it by itself, to the right host, also
behind a proxy)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tracker_bridge.model import Snapshot
from tracker_bridge.publish.document import Document, IssueRef, Markup
from tracker_bridge.publish.markup import MarkdownRenderer, Renderer, TextileRenderer
from tracker_bridge.publish.style import Refer, link_by_url

__all__ = ["ISSUE_KEY", "RedminePageStyle", "split_doubled_brackets"]

#: ``redmine:42``: the issue id.
ISSUE_KEY = re.compile(r"redmine:(\d+)")
_WORD_JOINER = "\u2060"
_DOUBLED = re.compile(r"([{\[])(?=\1)")


def split_doubled_brackets(text: str) -> str:
    """``{{``/``[[`` split with a word joiner: Redmine looks for macro placeholders and wiki
    links in the HTML its Markdown formatters render, where backslash escapes are gone."""
    return _DOUBLED.sub(lambda m: m.group(1) + _WORD_JOINER, text)


@dataclass(frozen=True)
class RedminePageStyle:
    """``#42`` for Redmine issues; other trackers' items by key, linked to their URL."""

    markup: Markup = "textile"

    def __post_init__(self) -> None:
        if self.markup == "gfm":
            raise ValueError("gfm is GitHub's markup; use textile, markdown or common_mark")

    def references(self, snapshot: Snapshot) -> Refer:
        by_url = link_by_url(snapshot)

        def refer(key: str) -> IssueRef:
            match = ISSUE_KEY.fullmatch(key)
            if match is None:
                return by_url(key)
            return IssueRef(f"#{match.group(1)}", by_url(key).url, autolink=True)

        return refer

    def render(self, document: Document) -> str:
        renderer: Renderer = (
            TextileRenderer()
            if self.markup == "textile"
            else MarkdownRenderer(prepare=split_doubled_brackets)
        )
        return renderer.render(document)
