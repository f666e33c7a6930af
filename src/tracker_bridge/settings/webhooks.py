"""``[webhooks]``: the webhook server, its queue and its limits (the senders' secrets are
keys its adapters own)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import (
    Field,
    SecretStr,
)

from tracker_bridge.settings.adapter_options import AdapterSections, ModelRole
from tracker_bridge.settings.base import _read_secret


class WebhookSettings(AdapterSections):
    """The webhook server (``tracker-bridge serve``) and its queue.

    Secrets come from an environment variable (``*_env``) or a file (``*_file``), never from
    this file. Each tracker's senders are configured by keys that start with its kind
    (``github_secret_env``, ``redmine_token_env``...): its adapter owns and validates them.
    """

    _adapter_keys: ClassVar[Literal["table", "prefix"]] = "prefix"
    _adapter_model: ClassVar[ModelRole] = "webhook_settings_model"

    bot_logins: list[str] = Field(
        default_factory=list,
        description="Logins whose changes are our own (e.g. a GitHub App's 'app[bot]', the "
        "author of our journals), for the trackers whose deliveries name a login",
    )
    debounce_seconds: float = Field(
        default=5, ge=0, description="A pass starts this long after the last delivery"
    )
    max_wait_seconds: float = Field(
        default=60, ge=0, description="... but at most this long after the first one"
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Larger bodies: 413")
    lease_seconds: float = Field(
        default=300, gt=0, description="A claimed job is re-claimed after this (renewed live)"
    )
    max_attempts: int = Field(default=5, ge=1, description="Then the job is a dead letter")
    retry_backoff_seconds: float = Field(
        default=30, ge=0, description="First retry delay; doubles per attempt"
    )
    retention_days: float = Field(
        default=7, gt=0, description="Delivery ids and done jobs are kept this long"
    )
    health_cache_seconds: float = Field(
        default=60, ge=0, description="GET /healthz re-runs the doctor checks this often"
    )
    health_token_env: str | None = Field(
        default=None,
        description="Bearer token for the detail of /readyz and /healthz (default variable: "
        "TRACKER_BRIDGE_HEALTH_TOKEN); without one, only loopback clients see it",
    )
    health_token_file: Path | None = None
    max_connections: int = Field(
        default=1000,
        ge=16,
        description="Open connections at most; a new one closes the oldest idle one",
    )
    request_timeout_seconds: float = Field(
        default=10,
        gt=0,
        description="A request's headers and body must arrive within this, else it is closed",
    )
    keep_alive_seconds: float = Field(
        default=5, gt=0, description="An idle keep-alive connection is closed after this"
    )

    def health_token(self) -> SecretStr | None:
        """The token that unlocks the detail of ``/readyz`` and ``/healthz``, or None."""
        return _read_secret(
            "webhooks.health_token",
            self.health_token_env,
            self.health_token_file,
            "TRACKER_BRIDGE_HEALTH_TOKEN",
        )
