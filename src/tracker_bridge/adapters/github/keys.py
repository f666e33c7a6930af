"""Issue keys: ``github:owner/repo#N`` for issues, ``github:owner/repo:milestone:N`` for milestones.

Makes them with the configured spelling of a repository (GitHub ignores case), reads them from
issue JSON (list items, relation list items, webhooks), from the ``Depends on`` / ``Blocked
by`` lines of an issue body and from issue URLs, and sorts them by number.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ISSUE_KEY", "IssueKeys", "body_dependencies", "repo_of", "sort_key", "web_base"]

#: ``github:owner/repo#N``: the repository and the number.
ISSUE_KEY = re.compile(r"github:([^#]+)#(\d+)")


def web_base(api_base: str) -> str:
    """``https://api.github.com`` -> ``https://github.com``; GHES ``/api/v3`` dropped."""
    parts = urlsplit(api_base)
    host = parts.hostname or "github.com"
    if host == "api.github.com":
        return "https://github.com"
    host = host.removeprefix("api.")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme or 'https'}://{host}{port}"


def repo_of(raw: dict[str, Any]) -> str | None:
    """``owner/repo`` of an issue JSON (list item, relation list item or webhook)."""
    for url, marker in ((raw.get("html_url"), None), (raw.get("repository_url"), "repos")):
        if not url:
            continue
        parts = [p for p in urlsplit(str(url)).path.split("/") if p]
        if marker is None and len(parts) >= 4 and parts[-2] in ("issues", "pull"):
            return "/".join(parts[-4:-2])
        if marker is not None and marker in parts:
            i = parts.index(marker)
            if len(parts) >= i + 3:
                return "/".join(parts[i + 1 : i + 3])
    return None


def sort_key(key: str) -> tuple[str, int, str]:
    """Sorts ``github:acme/web#2`` before ``github:acme/web#10``."""
    match = re.fullmatch(r"(.*?)(\d+)", key)
    if match:
        return match.group(1), int(match.group(2)), key
    return key, 0, key


class IssueKeys:
    """Keys of issues and milestones, with repositories spelled as configured."""

    def __init__(self, repositories: list[str]) -> None:
        self._canonical = {r.casefold(): r for r in repositories}

    def configured(self, repo: str) -> bool:
        """Whether ``repo`` is one of the configured repositories (any case)."""
        return repo.casefold() in self._canonical

    def repository(self, repo: str) -> str:
        """``repo`` as configured, or as given when it is not configured."""
        return self._canonical.get(repo.casefold(), repo)

    def key(self, repo: str, number: int) -> str:
        return f"github:{self.repository(repo)}#{number}"

    def milestone(self, repo: str, number: Any) -> str:
        return f"github:{self.repository(repo)}:milestone:{number}"

    def issue_key(self, raw: dict[str, Any]) -> str | None:
        """The key of an issue JSON; None when it names no repository or number."""
        repo = repo_of(raw)
        number = raw.get("number")
        if repo is None or not isinstance(number, int):
            return None
        return self.key(repo, number)

    def canonical_key(self, key: str) -> str:
        """An issue key with the repository spelled as configured; other keys unchanged."""
        match = ISSUE_KEY.fullmatch(key)
        return self.key(match.group(1), int(match.group(2))) if match else key


_DEP_LINE = re.compile(
    r"(?im)^[ \t>*_-]*(?:depends[ \t]+on|blocked[ \t]+by)[*_]*[ \t]*:?[*_ \t]*(?P<refs>.+)$"
)
_DEP_REF = re.compile(
    r"(?P<url>https?://[^\s,;)<>\]]+)"
    r"|(?<![\w/])redmine[ \t]*#(?P<redmine>\d+)"
    r"|(?<![\w/.-])(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)#(?P<repo_number>\d+)"
    r"|(?<![\w/#])#(?P<number>\d+)",
    re.IGNORECASE,
)


def body_dependencies(
    body: str | None, repo: str, web_base: str = "https://github.com"
) -> list[str]:
    """Keys of the predecessors named on ``Depends on`` / ``Blocked by`` lines of a body.

    ``#12`` is an issue of ``repo``; ``owner/repo#12`` and a GitHub issue URL are GitHub
    issues (``github:owner/repo#12``); ``redmine#123`` and any other URL ending in
    ``/issues/123`` are Redmine issues (``redmine:123``).
    """
    if not body:
        return []
    web_host = urlsplit(web_base).hostname or "github.com"
    keys: list[str] = []
    for line in _DEP_LINE.finditer(body):
        for ref in _DEP_REF.finditer(line.group("refs")):
            key: str | None = None
            if ref.group("url"):
                url = urlsplit(ref.group("url").rstrip(".,"))
                parts = [p for p in url.path.split("/") if p]
                if url.hostname == web_host:
                    if len(parts) >= 4 and parts[2] == "issues" and parts[3].isdigit():
                        key = f"github:{parts[0]}/{parts[1]}#{int(parts[3])}"
                elif len(parts) >= 2 and parts[-2] == "issues" and parts[-1].isdigit():
                    key = f"redmine:{int(parts[-1])}"
            elif ref.group("redmine"):
                key = f"redmine:{int(ref.group('redmine'))}"
            elif ref.group("repo"):
                key = f"github:{ref.group('repo')}#{int(ref.group('repo_number'))}"
            elif ref.group("number"):
                key = f"github:{repo}#{int(ref.group('number'))}"
            if key is not None and key not in keys:
                keys.append(key)
    return keys
