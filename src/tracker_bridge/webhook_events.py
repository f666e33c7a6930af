"""What a webhook delivery concerns: its projects, its Redmine shape, whether it is our echo.

Pure functions over a parsed payload and the settings (the echo checks also read the values
we last wrote from the store). Payloads come from outside: a field of an unexpected type
counts as absent, never as an error (see :func:`_text`, :func:`_list`, :func:`_int`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tracker_bridge.settings import ProjectSettings, Settings
from tracker_bridge.store import Store

__all__ = [
    "GITHUB_EVENTS",
    "REDMINE_KINDS",
    "RedmineEvent",
    "github_is_echo",
    "github_projects",
    "parse_redmine",
    "redmine_is_echo",
    "redmine_projects",
]

#: GitHub events that can change a plan; everything else is acknowledged and ignored.
GITHUB_EVENTS = frozenset(
    {"issues", "milestone", "sub_issues", "issue_dependencies", "projects_v2_item"}
)
#: Redmine 7 core event types (``type`` is ``<kind>.<action>``) that can change a plan.
REDMINE_KINDS = frozenset({"issue", "version", "time_entry"})

# ------------------------------------------------------------------------------ mapping


def _kind(settings: Settings, project: ProjectSettings) -> str | None:
    tracker = settings.trackers.get(project.tracker)
    return tracker.kind if tracker is not None else None


def _github_repositories(project: ProjectSettings) -> set[str]:
    # ``github`` is looked up defensively: older settings have no GitHub section
    github = getattr(project, "github", None)
    repos = list(getattr(github, "repositories", None) or [])
    if not repos and "/" in project.project:
        repos = [project.project]
    return {r.lower() for r in repos}


_BOARD = re.compile(r"^(org|user):([^/]+)/([0-9]+)$")


def _github_board(project: ProjectSettings) -> tuple[str, int] | None:
    board = getattr(getattr(project, "github", None), "project_v2", None)
    match = _BOARD.match(str(board or "").strip())
    return (match.group(2).lower(), int(match.group(3))) if match else None


def _login(node: Any) -> str | None:
    return _text(node.get("login")) or None if isinstance(node, dict) else None


def github_projects(settings: Settings, event: str, payload: Mapping[str, Any]) -> list[str]:
    """The configured projects a GitHub delivery concerns (empty: none of ours)."""
    names: list[str] = []
    if event == "projects_v2_item":
        org = (_login(payload.get("organization")) or "").lower()
        changes = payload.get("changes")
        value = changes.get("field_value") if isinstance(changes, dict) else None
        number = value.get("project_number") if isinstance(value, dict) else None
        for name, project in settings.projects.items():
            board = _github_board(project)
            if _kind(settings, project) != "github" or board is None:
                continue
            if board[0] == org and (number is None or _int(number) == board[1]):
                names.append(name)
        return names
    repos: set[str] = set()
    for key in ("repository", "sub_issue_repo", "blocking_issue_repo"):
        node = payload.get(key)
        full_name = _text(node.get("full_name")) if isinstance(node, dict) else None
        if full_name:
            repos.add(full_name.lower())
    for name, project in settings.projects.items():
        if _kind(settings, project) == "github" and repos & _github_repositories(project):
            names.append(name)
    return names


@dataclass(frozen=True)
class RedmineEvent:
    """A Redmine delivery in one shape, whichever sender posted it.

    ``sender`` is ``"core"`` (Redmine 7 webhooks) or ``"plugin"`` (redmine_webhook). ``kind``
    and ``action``: ``issue``/``version``/``time_entry``/``wiki_page``/``news`` and
    ``created``/``updated``/``deleted`` (plugin: ``issue`` and ``opened``/``updated``).
    ``custom_fields`` maps custom-field id -> name (from the issue in the payload).
    """

    sender: str
    kind: str
    action: str
    project_id: int | None
    project_identifier: str | None
    issue_id: int | None
    journal: Mapping[str, Any] | None
    custom_fields: dict[int, str] = field(default_factory=dict)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):  # also a number over Python's 4,300 digits
        return None


def _text(value: Any) -> str | None:
    """A payload scalar as text; None for null, objects and lists (never ``str()`` of them)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _list(value: Any) -> list[Any]:
    """A payload list; anything else counts as empty."""
    return value if isinstance(value, list) else []


def parse_redmine(payload: Mapping[str, Any]) -> RedmineEvent | None:
    """Read a Redmine delivery; None when it has neither known shape.

    Redmine 7 core (``app/models/webhook_payload.rb``): ``type`` ``"<kind>.<action>"``,
    ``timestamp``, ``data.<kind>`` rendered like the REST API's show view (an issue has
    ``project: {id, name}`` and ``custom_fields: [{id, name, value}]``), and for
    ``issue.updated`` ``data.journal: {id, created_on, notes, user: {id, name}, details:
    [{property, prop_key, old_value, value}]}``. The redmine_webhook plugin:
    ``payload.action`` ``opened``/``updated``, ``payload.issue`` with ``project: {id,
    identifier, ...}`` and ``custom_field_values: [{custom_field_id, custom_field_name,
    value}]``, ``payload.journal: {id, notes, author: {login, ...}, details: [...]}``.
    """
    inner = payload.get("payload")
    if isinstance(inner, dict) and isinstance(inner.get("issue"), dict):
        issue: dict[str, Any] = inner["issue"]
        project = _dict(issue.get("project"))
        fields = {
            cid: _text(cf.get("custom_field_name")) or ""
            for cf in _list(issue.get("custom_field_values"))
            if isinstance(cf, dict) and (cid := _int(cf.get("custom_field_id"))) is not None
        }
        journal = inner.get("journal")
        return RedmineEvent(
            sender="plugin",
            kind="issue",
            action=_text(inner.get("action")) or "",
            project_id=_int(project.get("id")),
            project_identifier=_text(project.get("identifier")) or None,
            issue_id=_int(issue.get("id")),
            journal=journal if isinstance(journal, dict) else None,
            custom_fields=fields,
        )
    kind_action = payload.get("type")
    data = payload.get("data")
    if isinstance(kind_action, str) and "." in kind_action and isinstance(data, dict):
        kind, action = kind_action.split(".", 1)
        obj = _dict(data.get(kind))
        project = _dict(obj.get("project"))
        fields = {
            cid: _text(cf.get("name")) or ""
            for cf in _list(obj.get("custom_fields"))
            if isinstance(cf, dict) and (cid := _int(cf.get("id"))) is not None
        }
        journal = data.get("journal")
        return RedmineEvent(
            sender="core",
            kind=kind,
            action=action,
            project_id=_int(project.get("id")),
            # not in Redmine 7.0's payload; used should a later version add it
            project_identifier=_text(project.get("identifier")) or None,
            issue_id=_int(obj.get("id")) if kind == "issue" else None,
            journal=journal if isinstance(journal, dict) else None,
            custom_fields=fields,
        )
    return None


def redmine_projects(settings: Settings, event: RedmineEvent) -> list[str]:
    """Configured Redmine projects a delivery concerns: by identifier when the payload has
    one (plugin), else by numeric id (``webhooks.redmine_project_ids``, or a project
    configured by its numeric id)."""
    names = []
    ids = settings.webhooks.redmine_project_ids
    for name, project in settings.projects.items():
        if _kind(settings, project) != "redmine":
            continue
        if event.project_identifier is not None:  # the identifier, when the payload has it
            if project.project == event.project_identifier:
                names.append(name)
        elif event.project_id is not None and (
            ids.get(name) == event.project_id or project.project == str(event.project_id)
        ):
            names.append(name)
    return names


# ------------------------------------------------------------------------------ echoes


def _same(a: str | None, b: str | None) -> bool:
    """Field values equal as a tracker shows them: spaces, "3.50" == "3.5", date prefixes."""
    x, y = (a or "").strip(), (b or "").strip()
    if x == y:
        return True
    try:
        fx, fy = float(x), float(y)
    except ValueError:
        pass
    else:
        return math.isfinite(fx) and fx == fy
    date = re.compile(r"^\d{4}-\d{2}-\d{2}")
    return bool(date.match(x) and date.match(y) and x[:10] == y[:10])


def _field_logical(settings: Settings) -> dict[str, str]:
    """Configured field name (casefolded) or id (as text) -> logical field name."""
    out: dict[str, str] = {}
    for logical in settings.fields.logical_names():
        target = getattr(settings.fields, logical)
        out[str(target).strip().casefold()] = logical
    return out


def _github_value(value: Any) -> str | None:
    if isinstance(value, dict):  # a single-select option or an iteration
        return _text(value.get("name")) or _text(value.get("title")) or None
    return _text(value)


def github_is_echo(
    settings: Settings, store: Store, projects: Iterable[str], payload: Mapping[str, Any]
) -> bool:
    """Whether a GitHub delivery is the echo of our own write.

    Yes when ``sender.login`` is one of ``webhooks.bot_logins``, or when a
    ``projects_v2_item`` edit changed one of our fields (by name) to a value we last wrote
    to that field in the project (the payload names the item by node id only).
    """
    bots = {b.casefold() for b in settings.webhooks.bot_logins}
    sender = _login(payload.get("sender"))
    if sender is not None and sender.casefold() in bots:
        return True
    changes = payload.get("changes")
    value = changes.get("field_value") if isinstance(changes, dict) else None
    if not isinstance(value, dict) or not value.get("field_name") or "to" not in value:
        return False
    logical = _field_logical(settings).get((_text(value["field_name"]) or "").strip().casefold())
    if logical is None:
        return False
    new = _github_value(value.get("to"))
    projects = list(projects)
    return bool(projects) and all(
        any(_same(new, old) for old in store.written_values_of_field(p, logical)) for p in projects
    )


def redmine_is_echo(
    settings: Settings, store: Store, projects: Iterable[str], event: RedmineEvent
) -> bool:
    """Whether a Redmine delivery is the echo of our own write.

    Yes when the journal's author is the bot (plugin: ``author.login`` in
    ``webhooks.bot_logins``; Redmine 7: ``user.id`` in ``webhooks.redmine_bot_user_ids``), or
    when every detail of the journal sets one of our custom fields to the value we last wrote.
    """
    journal = event.journal
    if journal is None or event.issue_id is None:
        return False
    author = _login(journal.get("author"))
    if author is not None and author.casefold() in {
        b.casefold() for b in settings.webhooks.bot_logins
    }:
        return True
    user = journal.get("user")
    user_id = _int(user.get("id")) if isinstance(user, dict) else None
    if user_id is not None and user_id in settings.webhooks.redmine_bot_user_ids:
        return True
    details = [d for d in _list(journal.get("details")) if isinstance(d, dict)]
    if not details:
        return False
    logical_of = _field_logical(settings)
    item = f"redmine:{event.issue_id}"
    projects = list(projects)
    for detail in details:
        if detail.get("property") != "cf":
            return False
        cf_id = _int(detail.get("prop_key"))
        if cf_id is None:
            return False
        logical = logical_of.get(str(cf_id)) or logical_of.get(
            event.custom_fields.get(cf_id, "").strip().casefold()
        )
        if logical is None:
            return False
        value = _text(detail.get("value"))
        if not projects or not all(
            (written := store.written_value(p, item, logical)) is not None and _same(value, written)
            for p in projects
        ):
            return False
    return True
