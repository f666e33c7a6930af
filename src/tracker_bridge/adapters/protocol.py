"""The adapter protocol: what the pipeline asks of every tracker adapter, and nothing more.

An adapter is found by its tracker kind in the ``tracker_bridge.adapters`` entry-point group
(:func:`adapter_factory`), exactly as a third-party adapter (Jira, GitLab...) registers
itself; the built-in Redmine and GitHub adapters are registered the same way in
``pyproject.toml``. Each adapter module checks itself against :class:`TrackerAdapter` with
mypy (a typed ``conforms`` function at its end), so a drift fails the type check, not a run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, SecretStr

from tracker_bridge.errors import ConfigError
from tracker_bridge.model import (
    ApplyReport,
    ChangeSet,
    Dependency,
    DesiredState,
    Finding,
    Snapshot,
)
from tracker_bridge.publish.style import PageStyle
from tracker_bridge.settings import (
    FieldNames,
    ProjectSettings,
    RiskSettings,
    Settings,
    TrackerSettings,
)

if TYPE_CHECKING:
    import click

__all__ = [
    "ENTRY_POINT_GROUP",
    "AdapterFactory",
    "Delivery",
    "FetchResult",
    "Progress",
    "ReceiverFactory",
    "TrackerAdapter",
    "WebhookReceiver",
    "WrittenValues",
    "adapter_factory",
    "installed_kinds",
    "webhook_receivers",
]

ENTRY_POINT_GROUP = "tracker_bridge.adapters"

#: ``(done, total)`` — called while a fetch reads many items (a progress bar).
Progress = Callable[[int, int], None]


@dataclass
class FetchResult:
    """What one fetch read, and how."""

    snapshot: Snapshot
    #: "incremental" when only changes since ``since`` were read and merged into ``cached``.
    mode: Literal["full", "incremental"] = "full"
    #: What to pass as ``since`` to the next incremental fetch; None: the pipeline derives
    #: it from the items' ``updated_on`` (or fetches in full next time when there are none).
    cursor: dt.datetime | None = None
    #: Why the fetch was full although ``since`` and ``cached`` were given ("" otherwise).
    fallback_reason: str = ""
    #: Dependencies whose predecessor is not in this snapshot (another tracker's item, e.g.
    #: ``redmine:123`` named in a GitHub issue); a combined plan adds those it can resolve.
    external_dependencies: list[Dependency] = field(default_factory=list)


class TrackerAdapter(Protocol):
    """One project in one tracker: fetch, diff, apply, check, close."""

    #: True when :meth:`fetch` can read only what changed since a cursor.
    supports_incremental: bool

    @property
    def requests_made(self) -> int:
        """API requests sent so far (retries included)."""
        ...

    @property
    def page_style(self) -> PageStyle:
        """How the tracker's wiki shows our page: its markup and issue references."""
        ...

    def fetch(
        self, *, since: dt.datetime | None = None, cached: Snapshot | None = None
    ) -> FetchResult:
        """Read the project. With ``since`` and ``cached`` (and ``supports_incremental``),
        read only what changed since ``since`` and merge it into ``cached``; an adapter may
        fall back to a full read and say why (``FetchResult.fallback_reason``)."""
        ...

    def diff(self, snapshot: Snapshot, desired: DesiredState) -> ChangeSet:
        """Compare desired with current state; only real changes, each with its native id."""
        ...

    def apply(self, changes: ChangeSet) -> ApplyReport:
        """Write exactly the changes; no write call when the change set is empty."""
        ...

    def check(self) -> list[Finding]:
        """Check connectivity, credentials, project, fields and wiki; stable finding ids."""
        ...

    def close(self) -> None:
        """Release connections (idempotent)."""
        ...


class WrittenValues(Protocol):
    """The values our passes last wrote (the store): how a receiver knows our own echoes."""

    def written_value(self, project: str, item: str, field: str) -> str | None: ...

    def written_values_of_field(self, project: str, field: str) -> set[str]: ...


@dataclass(frozen=True)
class Delivery:
    """What a verified webhook delivery means: which passes to queue, or what to answer."""

    #: Who sent it (delivery ids are unique per source), e.g. "github" or "redmine-core".
    source: str
    #: What happened, for logs and ``queue list`` (e.g. "issues", "issue.updated").
    event: str
    #: The sender's delivery id. None: record nothing, answer ``reply`` (ping, ignored).
    id: str | None = None
    #: The configured projects it concerns (a pass of each is queued).
    projects: list[str] = field(default_factory=list)
    #: The delivery reports our own write: recorded, nothing queued.
    echo: bool = False
    #: The answer when ``id`` is None.
    reply: dict[str, Any] = field(default_factory=dict)
    reply_status: int = 202


class WebhookReceiver(Protocol):
    """One tracker kind's webhook endpoint, ``POST /hooks/<kind>``.

    ``receive`` verifies the delivery (signature or token) and maps it onto configured
    projects; it raises :class:`tracker_bridge.delivery.DeliveryRejected` for a client
    mistake (401 bad signature, 400 malformed, 503 not configured). It never calls the
    tracker: the server answers in milliseconds.
    """

    def endpoints(self) -> dict[str, bool]:
        """Which of its senders are configured (have a secret or token), for health."""
        ...

    def receive(
        self,
        body: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        written: WrittenValues,
    ) -> Delivery:
        """Verify and map one delivery (runs in a worker thread, may read ``written``)."""
        ...


class ReceiverFactory(Protocol):
    """Builds a kind's receiver from the settings (reads its secrets once, at start)."""

    def __call__(self, settings: Settings) -> WebhookReceiver: ...


class AdapterFactory(Protocol):
    """How the pipeline builds an adapter for one configured project (the adapter class).

    ``webhooks`` is the kind's webhook receiver class, or None when the tracker has none.
    ``settings_model`` validates the project's ``[projects.NAME.<kind>]`` section and
    ``webhook_settings_model`` the ``[webhooks] <kind>_*`` keys (None: the adapter has no such
    options); the adapter reads them back with ``project.options(Model)`` and
    ``settings.webhooks.options(Model)``. ``setup_command`` returns the adapter's
    ``tracker-bridge setup <kind>`` command (None: it needs no set-up); it is called only by
    that command, so the adapter imports the command line's modules only then.
    """

    @property
    def webhooks(self) -> ReceiverFactory | None: ...

    @property
    def settings_model(self) -> type[BaseModel] | None: ...

    @property
    def webhook_settings_model(self) -> type[BaseModel] | None: ...

    @property
    def setup_command(self) -> Callable[[], click.Command] | None: ...

    def __call__(
        self,
        tracker: TrackerSettings,
        project: ProjectSettings,
        field_names: FieldNames,
        api_key: SecretStr,
        *,
        progress: Progress | None = None,
        tracker_name: str = ...,
        risk: RiskSettings | None = None,
    ) -> TrackerAdapter: ...


def _registered() -> dict[str, EntryPoint]:
    """The adapters installed in the entry-point group, by tracker kind (read afresh: a
    plugin installed since start-up counts)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def installed_kinds() -> list[str]:
    """The tracker kinds an adapter is registered for (sorted)."""
    return sorted(_registered())


def webhook_receivers(settings: Settings) -> dict[str, WebhookReceiver]:
    """The webhook receiver of every installed kind that has one, by kind."""
    receivers: dict[str, WebhookReceiver] = {}
    for kind, entry in sorted(_registered().items()):
        factory: AdapterFactory = entry.load()
        if factory.webhooks is not None:
            receivers[kind] = factory.webhooks(settings)
    return receivers


def adapter_factory(kind: str) -> AdapterFactory:
    """The adapter class registered for a tracker kind."""
    found = _registered()
    if kind not in found:
        known = ", ".join(sorted(found)) or "none installed"
        raise ConfigError(f"no adapter for tracker kind {kind!r} (installed: {known})")
    factory: AdapterFactory = found[kind].load()
    return factory
