"""The Redmine adapter's config: the ``[webhooks] redmine_*`` keys; the core validates them
with :class:`RedmineWebhookSettings`, found through the adapter registry."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from tracker_bridge.settings import Settings
from tracker_bridge.settings.base import _read_secret, _Section

__all__ = ["RedmineWebhookSettings", "webhook_options"]


class RedmineWebhookSettings(_Section):
    """Redmine's webhook senders. ``redmine_secret``: the secret of a Redmine 7 webhook
    (``X-Redmine-Signature-256``). ``redmine_token``: the token in the URL of the
    redmine_webhook plugin, which signs nothing (``.../hooks/redmine?token=...``). Both come
    from an environment variable (``*_env``) or a file (``*_file``), never from the config."""

    redmine_secret_env: str | None = Field(
        default=None, description="Default: TRACKER_BRIDGE_REDMINE_WEBHOOK_SECRET"
    )
    redmine_secret_file: Path | None = None
    redmine_token_env: str | None = Field(
        default=None, description="Default: TRACKER_BRIDGE_REDMINE_WEBHOOK_TOKEN"
    )
    redmine_token_file: Path | None = None
    redmine_bot_user_ids: list[int] = Field(
        default_factory=list,
        description="Redmine user ids of the bot (Redmine 7 journals name users by id and name)",
    )
    redmine_project_ids: dict[str, int] = Field(
        default_factory=dict,
        description="Configured project -> Redmine numeric project id, for Redmine 7 payloads "
        "(they carry the project's id and name, not its identifier)",
    )

    def redmine_secret(self) -> SecretStr | None:
        """The Redmine 7 webhook secret, or None."""
        return _read_secret(
            "webhooks.redmine_secret",
            self.redmine_secret_env,
            self.redmine_secret_file,
            "TRACKER_BRIDGE_REDMINE_WEBHOOK_SECRET",
        )

    def redmine_token(self) -> SecretStr | None:
        """The redmine_webhook plugin's URL token, or None."""
        return _read_secret(
            "webhooks.redmine_token",
            self.redmine_token_env,
            self.redmine_token_file,
            "TRACKER_BRIDGE_REDMINE_WEBHOOK_TOKEN",
        )


def webhook_options(settings: Settings) -> RedmineWebhookSettings:
    """The ``[webhooks] redmine_*`` keys of ``settings`` (defaults when none is set)."""
    return settings.webhooks.options(RedmineWebhookSettings) or RedmineWebhookSettings()
