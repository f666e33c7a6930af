"""``[webhooks]``: the webhook server, its queue, its senders' secrets and its limits."""

from __future__ import annotations

from pathlib import Path

from pydantic import (
    Field,
    SecretStr,
)

from tracker_bridge.settings.base import _read_secret, _Section


class WebhookSettings(_Section):
    """The webhook server (``tracker-bridge serve``) and its queue.

    Secrets come from an environment variable (``*_env``) or a file (``*_file``), never from
    this file. ``github_secret``: the secret of the GitHub webhook (``X-Hub-Signature-256``).
    ``redmine_secret``: the secret of a Redmine 7 webhook (``X-Redmine-Signature-256``).
    ``redmine_token``: the token in the URL of the redmine_webhook plugin, which signs nothing
    (``.../hooks/redmine?token=...``).
    """

    github_secret_env: str | None = Field(
        default=None, description="Default: TRACKER_BRIDGE_GITHUB_WEBHOOK_SECRET"
    )
    github_secret_file: Path | None = None
    redmine_secret_env: str | None = Field(
        default=None, description="Default: TRACKER_BRIDGE_REDMINE_WEBHOOK_SECRET"
    )
    redmine_secret_file: Path | None = None
    redmine_token_env: str | None = Field(
        default=None, description="Default: TRACKER_BRIDGE_REDMINE_WEBHOOK_TOKEN"
    )
    redmine_token_file: Path | None = None
    bot_logins: list[str] = Field(
        default_factory=list,
        description="Logins whose changes are our own (GitHub sender.login, e.g. 'app[bot]'; "
        "the Redmine plugin's journal author)",
    )
    redmine_bot_user_ids: list[int] = Field(
        default_factory=list,
        description="Redmine user ids of the bot (Redmine 7 journals name users by id and name)",
    )
    redmine_project_ids: dict[str, int] = Field(
        default_factory=dict,
        description="Configured project -> Redmine numeric project id, for Redmine 7 payloads "
        "(they carry the project's id and name, not its identifier)",
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

    def github_secret(self) -> SecretStr | None:
        """The GitHub webhook secret, or None when none is configured."""
        return _read_secret(
            "webhooks.github_secret",
            self.github_secret_env,
            self.github_secret_file,
            "TRACKER_BRIDGE_GITHUB_WEBHOOK_SECRET",
        )

    def redmine_secret(self) -> SecretStr | None:
        """The Redmine 7 webhook secret, or None."""
        return _read_secret(
            "webhooks.redmine_secret",
            self.redmine_secret_env,
            self.redmine_secret_file,
            "TRACKER_BRIDGE_REDMINE_WEBHOOK_SECRET",
        )

    def health_token(self) -> SecretStr | None:
        """The token that unlocks the detail of ``/readyz`` and ``/healthz``, or None."""
        return _read_secret(
            "webhooks.health_token",
            self.health_token_env,
            self.health_token_file,
            "TRACKER_BRIDGE_HEALTH_TOKEN",
        )

    def redmine_token(self) -> SecretStr | None:
        """The redmine_webhook plugin's URL token, or None."""
        return _read_secret(
            "webhooks.redmine_token",
            self.redmine_token_env,
            self.redmine_token_file,
            "TRACKER_BRIDGE_REDMINE_WEBHOOK_TOKEN",
        )
