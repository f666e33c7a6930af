"""A third tracker, written as a plugin author would: a project kept as files.

``<project>/snapshot.json`` holds the issues (the snapshot format of ``tracker-bridge fetch``);
the values we write go to ``<project>/fields.json`` and pages to ``<project>/pages/TITLE.md``.
Registered in the ``tracker_bridge.adapters`` entry-point group by the tests, it proves that
adding a tracker needs one module and no edit to the core, its options included:
``[projects.NAME.file] pages = "DIR"`` and ``[webhooks] file_token_env`` are validated with the
models below.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tracker_bridge.adapters.protocol import (
    AdapterFactory,
    Delivery,
    FetchResult,
    Progress,
    TrackerAdapter,
    WebhookReceiver,
    WrittenValues,
)
from tracker_bridge.delivery import DeliveryRejected, parse_json, text_of, token_ok
from tracker_bridge.managed_block import merge_block
from tracker_bridge.model import (
    ApplyReport,
    ChangeSet,
    DesiredState,
    FieldChange,
    FieldValue,
    Finding,
    PageChange,
    Snapshot,
)
from tracker_bridge.publish import PlainStyle
from tracker_bridge.publish.document import Markup
from tracker_bridge.settings import (
    FieldNames,
    ProjectSettings,
    RiskSettings,
    Settings,
    TrackerSettings,
)
from tracker_bridge.snapshot_file import load_snapshot

MARKUP: Markup = "common_mark"


def stored(value: FieldValue) -> str:
    """How the file tracker stores a value (dates ISO, booleans Yes/No)."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return "" if value is None else str(value)


class FileOptions(BaseModel):
    """``[projects.NAME.file]``: where the pages go, inside the project directory."""

    model_config = ConfigDict(extra="forbid")
    pages: str = Field(default="pages", pattern=r"^[A-Za-z0-9_-]+$")


class FileWebhookOptions(BaseModel):
    """``[webhooks] file_token_env``: the variable that holds the webhook's token."""

    model_config = ConfigDict(extra="forbid")
    file_token_env: str = "FILE_TRACKER_WEBHOOK_TOKEN"


class FileReceiver:
    """``POST /hooks/file?token=...`` with ``{"id": ..., "project": DIR}``: a file changed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        options = settings.webhooks.options(FileWebhookOptions) or FileWebhookOptions()
        self._token = os.environ.get(options.file_token_env, "").encode() or None

    def endpoints(self) -> dict[str, bool]:
        return {"file": self._token is not None}

    def receive(
        self,
        body: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        written: WrittenValues,
    ) -> Delivery:
        if self._token is None or not token_ok(self._token, query.get("token")):
            raise DeliveryRejected(401, "missing or wrong ?token=")
        payload = parse_json(body)
        delivery, directory = text_of(payload.get("id")), text_of(payload.get("project"))
        if not delivery:
            raise DeliveryRejected(400, "no delivery id")
        projects = [
            name
            for name, project in self.settings.projects.items()
            if self.settings.trackers[project.tracker].kind == "file"
            and project.project == directory
        ]
        return Delivery("file", "changed", delivery, projects)


class FileTracker:
    """One project directory: fetch, diff, apply, check."""

    supports_incremental = False
    webhooks = FileReceiver
    settings_model = FileOptions
    webhook_settings_model = FileWebhookOptions
    setup_command = None  # nothing to set up: the directory is the whole tracker
    page_style = PlainStyle(MARKUP)

    def __init__(
        self,
        tracker: TrackerSettings,
        project: ProjectSettings,
        field_names: FieldNames,
        api_key: SecretStr,
        *,
        progress: Progress | None = None,
        tracker_name: str = "file",
        risk: RiskSettings | None = None,
    ) -> None:
        self.root = Path(project.project)
        self.pages = (project.options(FileOptions) or FileOptions()).pages
        self.requests_made = 0

    @property
    def _fields_file(self) -> Path:
        return self.root / "fields.json"

    def _page(self, title: str) -> Path:
        return self.root / self.pages / f"{title}.md"

    def fetch(
        self, *, since: dt.datetime | None = None, cached: Snapshot | None = None
    ) -> FetchResult:
        self.requests_made += 1
        snapshot = load_snapshot(self.root / "snapshot.json")
        written = json.loads(self._fields_file.read_text()) if self._fields_file.exists() else {}
        items = [
            item.model_copy(update={"fields": written.get(item.key, {})}) for item in snapshot.items
        ]
        return FetchResult(snapshot.model_copy(update={"items": items}))

    def diff(self, snapshot: Snapshot, desired: DesiredState) -> ChangeSet:
        current = {item.key: item.fields for item in snapshot.items}
        fields = [
            FieldChange(item=key, field=name, old=current[key].get(name), new=stored(value))
            for key, values in desired.fields.items()
            if key in current
            for name, value in values.items()
            if current[key].get(name) != stored(value)
        ]
        pages = []
        for page in desired.pages:
            path = self._page(page.title)
            old = path.read_text() if path.exists() else None
            text = merge_block(old, page.body, MARKUP)
            if text != old:
                pages.append(
                    PageChange(
                        title=page.title,
                        action="create" if old is None else "update",
                        lines_changed=1,
                        text=text,
                    )
                )
        return ChangeSet(fields=fields, pages=pages, pages_desired=desired.pages)

    def apply(self, changes: ChangeSet) -> ApplyReport:
        if changes.empty:
            return ApplyReport()
        written = json.loads(self._fields_file.read_text()) if self._fields_file.exists() else {}
        for change in changes.fields:
            written.setdefault(change.item, {})[change.field] = change.new
        self._fields_file.write_text(json.dumps(written, indent=1, sort_keys=True))
        for page in changes.pages:
            self._page(page.title).parent.mkdir(exist_ok=True)
            self._page(page.title).write_text(page.text)
        return ApplyReport(
            issues_updated=changes.items_touched(),
            fields_written=len(changes.fields),
            pages_written=len(changes.pages),
        )

    def check(self) -> list[Finding]:
        found = (self.root / "snapshot.json").is_file()
        return [
            Finding(
                id="file.snapshot" if found else "file.snapshot.missing",
                ok=found,
                message=f"{self.root / 'snapshot.json'} {'found' if found else 'is missing'}",
                fix=None if found else "write it with `tracker-bridge fetch --output`",
            )
        ]

    def close(self) -> None:
        pass


def conforms(
    adapter: FileTracker, receiver: FileReceiver
) -> tuple[TrackerAdapter, WebhookReceiver]:
    """Never called: mypy checks that the plugin implements the protocol."""
    return adapter, receiver


def factory_conforms() -> AdapterFactory:
    """Never called: mypy checks that the class is a valid entry point."""
    return FileTracker
