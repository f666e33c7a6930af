"""GitHub's webhook deliveries (``POST /hooks/github``): verify, map to projects, spot echoes.

``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`` is checked in constant
time; ``X-GitHub-Event`` names the event and ``X-GitHub-Delivery`` is the delivery id (GitHub
keeps it on a redelivery). Handled events: ``issues``, ``milestone``, ``sub_issues``,
``issue_dependencies`` (mapped by ``repository.full_name``, and the other issue's repository
for cross-repository links, to the projects whose ``github.repositories`` list it) and
``projects_v2_item`` (mapped by ``organization.login`` and the board number to the projects
whose ``github.project_v2`` names that board). ``ping`` answers 200 "pong"; other events 202
"ignored".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from tracker_bridge.adapters.github.settings import GitHubSettings, GitHubWebhookSettings
from tracker_bridge.adapters.protocol import Delivery, WebhookReceiver, WrittenValues
from tracker_bridge.adapters.values import same_shown_value
from tracker_bridge.delivery import (
    DeliveryRejected,
    int_of,
    logical_fields,
    login_of,
    parse_json,
    text_of,
    verify_signature,
)
from tracker_bridge.settings import ProjectSettings, Settings

__all__ = ["GITHUB_EVENTS", "GitHubReceiver", "github_is_echo", "github_projects"]

KIND = "github"
#: GitHub events that can change a plan; everything else is acknowledged and ignored.
GITHUB_EVENTS = frozenset(
    {"issues", "milestone", "sub_issues", "issue_dependencies", "projects_v2_item"}
)
_BOARD = re.compile(r"^(org|user):([^/]+)/([0-9]+)$")


class GitHubReceiver:
    """Deliveries signed with ``webhooks.github_secret_env``/``_file``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        hooks = settings.webhooks.options(GitHubWebhookSettings) or GitHubWebhookSettings()
        secret = hooks.github_secret()  # read once: a missing file fails at start
        self._secret = secret.get_secret_value().encode() if secret else None

    def endpoints(self) -> dict[str, bool]:
        return {KIND: self._secret is not None}

    def receive(
        self,
        body: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        written: WrittenValues,
    ) -> Delivery:
        if self._secret is None:
            raise DeliveryRejected(
                503,
                "GitHub webhooks are not configured: set webhooks.github_secret_env or "
                "webhooks.github_secret_file",
            )
        if not verify_signature(self._secret, body, headers.get("x-hub-signature-256")):
            raise DeliveryRejected(401, "missing or wrong X-Hub-Signature-256")
        event = headers.get("x-github-event")
        if not event:
            raise DeliveryRejected(400, "missing X-GitHub-Event header")
        payload = parse_json(body)
        if event == "ping":
            zen = payload.get("zen")
            reply = {"status": "pong", "zen": zen if isinstance(zen, str) else None}
            return Delivery(KIND, event, reply=reply, reply_status=200)
        if event not in GITHUB_EVENTS:
            reason = f"event {event[:100]!r} is not handled"
            return Delivery(KIND, event, reply={"status": "ignored", "reason": reason})
        delivery = headers.get("x-github-delivery")
        if not delivery:
            raise DeliveryRejected(400, "missing X-GitHub-Delivery header")
        projects = github_projects(self.settings, event, payload)
        echo = bool(projects) and github_is_echo(self.settings, written, projects, payload)
        return Delivery(KIND, event, delivery, projects, echo)


def _ours(settings: Settings) -> dict[str, ProjectSettings]:
    """The configured projects on a GitHub tracker."""
    return {
        name: project
        for name, project in settings.projects.items()
        if (tracker := settings.trackers.get(project.tracker)) is not None and tracker.kind == KIND
    }


def _repositories(project: ProjectSettings) -> set[str]:
    options = project.options(GitHubSettings)
    repos = list(options.repositories) if options is not None else []
    if not repos and "/" in project.project:
        repos = [project.project]
    return {r.lower() for r in repos}


def _board(project: ProjectSettings) -> tuple[str, int] | None:
    options = project.options(GitHubSettings)
    board = options.project_v2 if options is not None else None
    match = _BOARD.match(str(board or "").strip())
    return (match.group(2).lower(), int(match.group(3))) if match else None


def github_projects(settings: Settings, event: str, payload: Mapping[str, Any]) -> list[str]:
    """The configured projects a GitHub delivery concerns (empty: none of ours)."""
    if event == "projects_v2_item":
        org = (login_of(payload.get("organization")) or "").lower()
        changes = payload.get("changes")
        value = changes.get("field_value") if isinstance(changes, dict) else None
        number = value.get("project_number") if isinstance(value, dict) else None
        return [
            name
            for name, project in _ours(settings).items()
            if (board := _board(project)) is not None
            and board[0] == org
            and (number is None or int_of(number) == board[1])
        ]
    repos: set[str] = set()
    for key in ("repository", "sub_issue_repo", "blocking_issue_repo"):
        node = payload.get(key)
        full_name = text_of(node.get("full_name")) if isinstance(node, dict) else None
        if full_name:
            repos.add(full_name.lower())
    return [name for name, project in _ours(settings).items() if repos & _repositories(project)]


def _shown_value(value: Any) -> str | None:
    if isinstance(value, dict):  # a single-select option or an iteration
        return text_of(value.get("name")) or text_of(value.get("title")) or None
    return text_of(value)


def github_is_echo(
    settings: Settings, written: WrittenValues, projects: Iterable[str], payload: Mapping[str, Any]
) -> bool:
    """Whether a GitHub delivery is the echo of our own write.

    Yes when ``sender.login`` is one of ``webhooks.bot_logins``, or when a
    ``projects_v2_item`` edit changed one of our fields (by name) to a value we last wrote
    to that field in the project (the payload names the item by node id only).
    """
    bots = {b.casefold() for b in settings.webhooks.bot_logins}
    sender = login_of(payload.get("sender"))
    if sender is not None and sender.casefold() in bots:
        return True
    changes = payload.get("changes")
    value = changes.get("field_value") if isinstance(changes, dict) else None
    if not isinstance(value, dict) or not value.get("field_name") or "to" not in value:
        return False
    field_name = (text_of(value["field_name"]) or "").strip().casefold()
    logical = logical_fields(settings).get(field_name)
    if logical is None:
        return False
    new = _shown_value(value.get("to"))
    projects = list(projects)
    return bool(projects) and all(
        any(same_shown_value(new, old) for old in written.written_values_of_field(p, logical))
        for p in projects
    )


def conforms(settings: Settings) -> WebhookReceiver:
    """Never called: mypy checks here that the receiver implements the protocol."""
    return GitHubReceiver(settings)
