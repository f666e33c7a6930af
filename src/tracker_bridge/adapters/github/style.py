"""How plan pages look in a GitHub wiki: GitHub Markdown, and full links to issues (a wiki
page does not link a bare ``#12`` the way an issue comment does)."""

from __future__ import annotations

from dataclasses import dataclass

from tracker_bridge.adapters.github.keys import ISSUE_KEY
from tracker_bridge.model import Snapshot
from tracker_bridge.publish.document import Document, IssueRef, Markup
from tracker_bridge.publish.markup import MarkdownRenderer
from tracker_bridge.publish.style import Refer, link_by_url

__all__ = ["GitHubPageStyle"]


@dataclass(frozen=True)
class GitHubPageStyle:
    """``#12`` (or ``owner/repo#12`` when the page shows several repositories), linked to the
    issue's web page; other trackers' items by key, linked to their URL."""

    web_base: str = "https://github.com"
    markup: Markup = "gfm"

    def references(self, snapshot: Snapshot) -> Refer:
        by_url = link_by_url(snapshot)
        repos = {m.group(1) for item in snapshot.items if (m := ISSUE_KEY.fullmatch(item.key))}
        single_repo = len(repos) <= 1

        def refer(key: str) -> IssueRef:
            match = ISSUE_KEY.fullmatch(key)
            if match is None:
                return by_url(key)
            repo, number = match.groups()
            url = by_url(key).url
            if url is None or "/repos/" in url:  # none, or an API URL: link the web page
                url = f"{self.web_base}/{repo}/issues/{number}"
            return IssueRef(f"#{number}" if single_repo else f"{repo}#{number}", url)

        return refer

    def render(self, document: Document) -> str:
        return MarkdownRenderer().render(document)
