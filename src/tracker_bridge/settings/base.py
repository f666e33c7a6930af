"""The base of every config section (unknown keys and inline secrets are errors) and how
secrets are read: from an environment variable or a secret file, never from the config."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    SecretStr,
    model_validator,
)

from tracker_bridge.errors import ConfigError
from tracker_bridge.textfile import read_text

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SECRET_NAMES = {"api_key", "key", "token", "password", "secret"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in data:
                if str(name).lower() in _SECRET_NAMES:
                    raise ValueError(
                        f"'{name}' must not be written in the config file; put the secret in an "
                        f"environment variable ('{name}_env') or a secret file ('{name}_file')"
                    )
        return data


def _check_header_safe(key: str, what: str) -> None:
    """A key goes into an HTTP header: a line break or a character outside Latin-1 there
    fails inside the HTTP library (as "cannot reach" or a traceback); say what is wrong
    instead, without showing the key."""
    for position, char in enumerate(key, 1):
        if not char.isprintable():
            raise ConfigError(
                f"{what} contains a line break or control character (character {position}); "
                "a key is one line: copy it again"
            )
        if ord(char) > 0xFF:
            raise ConfigError(
                f"{what} contains a character that cannot be sent in an HTTP header "
                f"(character {position}, outside Latin-1); copy the key again"
            )


def _read_secret(
    where: str, env: str | None, file: Path | None, default_env: str, what: str = "secret file"
) -> SecretStr | None:
    """A secret from ``file`` (when set) or the environment variable; None when neither has one."""
    if file is not None:
        try:
            text = read_text(file.expanduser(), what, ConfigError).strip()
        except ConfigError as e:
            raise ConfigError(f"{where}_file: {e}") from None
        if not text:
            raise ConfigError(f"{where}_file: {file} is empty")
        return SecretStr(text)
    value = os.environ.get(env or default_env, "").strip()
    return SecretStr(value) if value else None
