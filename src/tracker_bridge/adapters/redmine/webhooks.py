"""Redmine's webhook deliveries (``POST /hooks/redmine``): verify, map to projects, spot echoes.

Two senders. **Redmine 7 core webhooks** sign the raw body (``X-Redmine-Signature-256:
sha256=<hex>``, the same scheme as GitHub) and post ``{"type": "issue.updated", "timestamp":
..., "data": {"issue": {...}, "journal": {...}}}`` (see :func:`parse_redmine`). The
**redmine_webhook plugin** signs nothing: its URL carries a secret token
(``/hooks/redmine?token=...``, compared in constant time), and it posts ``{"payload":
{"action", "url", "issue": {..., "project": {"id", "identifier"}}, "journal"?}}``. Neither
sends a delivery id, so the delivery id is ``sha256:<hex of the raw body>``: both bodies carry
the event's time (core: ``timestamp``; plugin: the issue's ``updated_on`` and the journal id),
so a re-sent body is a duplicate and two events differ.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tracker_bridge.adapters.protocol import Delivery, WebhookReceiver, WrittenValues
from tracker_bridge.adapters.redmine.settings import webhook_options
from tracker_bridge.adapters.values import same_shown_value
from tracker_bridge.delivery import (
    DeliveryRejected,
    dict_of,
    int_of,
    list_of,
    logical_fields,
    login_of,
    parse_json,
    text_of,
    token_ok,
    verify_signature,
)
from tracker_bridge.errors import ConfigError
from tracker_bridge.settings import Settings

__all__ = [
    "REDMINE_KINDS",
    "RedmineEvent",
    "RedmineReceiver",
    "parse_redmine",
    "redmine_is_echo",
    "redmine_projects",
]

KIND = "redmine"
#: Redmine 7 core event types (``type`` is ``<kind>.<action>``) that can change a plan.
REDMINE_KINDS = frozenset({"issue", "version", "time_entry"})


class RedmineReceiver:
    """Deliveries signed with ``webhooks.redmine_secret_*`` (Redmine 7) or carrying
    ``?token=`` (``webhooks.redmine_token_*``, the redmine_webhook plugin)."""

    def __init__(self, settings: Settings) -> None:
        hooks = webhook_options(settings)
        unknown = sorted(set(hooks.redmine_project_ids) - set(settings.projects))
        if unknown:
            known = ", ".join(sorted(settings.projects)) or "none configured"
            raise ConfigError(
                f"webhooks.redmine_project_ids: {', '.join(map(repr, unknown))} is not a "
                f"[projects.*] section ({known})"
            )
        self.settings = settings
        secret, token = hooks.redmine_secret(), hooks.redmine_token()  # read once, at start
        self._secret = secret.get_secret_value().encode() if secret else None
        self._token = token.get_secret_value().encode() if token else None

    def endpoints(self) -> dict[str, bool]:
        return {KIND: self._secret is not None, "redmine_plugin": self._token is not None}

    def receive(
        self,
        body: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        written: WrittenValues,
    ) -> Delivery:
        self._verify(body, headers, query)
        event = parse_redmine(parse_json(body))
        if event is None:
            raise DeliveryRejected(
                400, "not a Redmine webhook payload (neither Redmine 7 nor plugin)"
            )
        name = f"{event.kind}.{event.action}"
        source = f"{KIND}-{event.sender}"
        if event.kind not in REDMINE_KINDS:
            reason = f"event {name[:100]!r} is not handled"
            return Delivery(source, name, reply={"status": "ignored", "reason": reason})
        delivery = "sha256:" + hashlib.sha256(body).hexdigest()
        projects = redmine_projects(self.settings, event)
        echo = bool(projects) and redmine_is_echo(self.settings, written, projects, event)
        return Delivery(source, name, delivery, projects, echo)

    def _verify(self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
        if self._secret is None and self._token is None:
            raise DeliveryRejected(
                503,
                "Redmine webhooks are not configured: set webhooks.redmine_secret_env/_file "
                "(Redmine 7) or webhooks.redmine_token_env/_file (redmine_webhook plugin)",
            )
        signature = headers.get("x-redmine-signature-256")
        if signature is not None:
            if self._secret is None or not verify_signature(self._secret, body, signature):
                raise DeliveryRejected(401, "wrong X-Redmine-Signature-256")
        elif self._token is None or not token_ok(self._token, query.get("token")):
            raise DeliveryRejected(401, "missing or wrong X-Redmine-Signature-256 or ?token=")


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
        return _plugin_event(inner)
    kind_action = payload.get("type")
    data = payload.get("data")
    if isinstance(kind_action, str) and "." in kind_action and isinstance(data, dict):
        return _core_event(kind_action, data)
    return None


def _plugin_event(inner: dict[str, Any]) -> RedmineEvent:
    issue: dict[str, Any] = inner["issue"]
    project = dict_of(issue.get("project"))
    fields = {
        cid: text_of(cf.get("custom_field_name")) or ""
        for cf in list_of(issue.get("custom_field_values"))
        if isinstance(cf, dict) and (cid := int_of(cf.get("custom_field_id"))) is not None
    }
    journal = inner.get("journal")
    return RedmineEvent(
        sender="plugin",
        kind="issue",
        action=text_of(inner.get("action")) or "",
        project_id=int_of(project.get("id")),
        project_identifier=text_of(project.get("identifier")) or None,
        issue_id=int_of(issue.get("id")),
        journal=journal if isinstance(journal, dict) else None,
        custom_fields=fields,
    )


def _core_event(kind_action: str, data: dict[str, Any]) -> RedmineEvent:
    kind, action = kind_action.split(".", 1)
    obj = dict_of(data.get(kind))
    project = dict_of(obj.get("project"))
    fields = {
        cid: text_of(cf.get("name")) or ""
        for cf in list_of(obj.get("custom_fields"))
        if isinstance(cf, dict) and (cid := int_of(cf.get("id"))) is not None
    }
    journal = data.get("journal")
    return RedmineEvent(
        sender="core",
        kind=kind,
        action=action,
        project_id=int_of(project.get("id")),
        # not in Redmine 7.0's payload; used should a later version add it
        project_identifier=text_of(project.get("identifier")) or None,
        issue_id=int_of(obj.get("id")) if kind == "issue" else None,
        journal=journal if isinstance(journal, dict) else None,
        custom_fields=fields,
    )


def redmine_projects(settings: Settings, event: RedmineEvent) -> list[str]:
    """Configured Redmine projects a delivery concerns: by identifier when the payload has
    one (plugin), else by numeric id (``webhooks.redmine_project_ids``, or a project
    configured by its numeric id)."""
    names = []
    ids = webhook_options(settings).redmine_project_ids
    for name, project in settings.projects.items():
        tracker = settings.trackers.get(project.tracker)
        if tracker is None or tracker.kind != KIND:
            continue
        if event.project_identifier is not None:  # the identifier, when the payload has it
            if project.project == event.project_identifier:
                names.append(name)
        elif event.project_id is not None and (
            ids.get(name) == event.project_id or project.project == str(event.project_id)
        ):
            names.append(name)
    return names


def _bot_wrote(settings: Settings, journal: Mapping[str, Any]) -> bool:
    """The journal's author is our bot (plugin: ``author.login`` in ``webhooks.bot_logins``;
    Redmine 7: ``user.id`` in ``webhooks.redmine_bot_user_ids``)."""
    author = login_of(journal.get("author"))
    bots = {b.casefold() for b in settings.webhooks.bot_logins}
    if author is not None and author.casefold() in bots:
        return True
    user = journal.get("user")
    user_id = int_of(user.get("id")) if isinstance(user, dict) else None
    return user_id is not None and user_id in webhook_options(settings).redmine_bot_user_ids


def redmine_is_echo(
    settings: Settings, written: WrittenValues, projects: Iterable[str], event: RedmineEvent
) -> bool:
    """Whether a Redmine delivery is the echo of our own write: the bot wrote the journal,
    or every detail of it sets one of our custom fields to the value we last wrote."""
    journal = event.journal
    if journal is None or event.issue_id is None:
        return False
    if _bot_wrote(settings, journal):
        return True
    details = [d for d in list_of(journal.get("details")) if isinstance(d, dict)]
    if not details:
        return False
    logical_of = logical_fields(settings)
    item = f"redmine:{event.issue_id}"
    projects = list(projects)
    for detail in details:
        if detail.get("property") != "cf":
            return False
        cf_id = int_of(detail.get("prop_key"))
        if cf_id is None:
            return False
        logical = logical_of.get(str(cf_id)) or logical_of.get(
            event.custom_fields.get(cf_id, "").strip().casefold()
        )
        if logical is None:
            return False
        value = text_of(detail.get("value"))
        if not projects or not all(
            (old := written.written_value(p, item, logical)) is not None
            and same_shown_value(value, old)
            for p in projects
        ):
            return False
    return True


def conforms(settings: Settings) -> WebhookReceiver:
    """Never called: mypy checks here that the receiver implements the protocol."""
    return RedmineReceiver(settings)
