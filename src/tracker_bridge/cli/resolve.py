"""What a command starts from: its settings (flags > environment > ./tracker-bridge.toml >
defaults) and its status date (--as-of, else today)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from tracker_bridge.settings import Settings, load_settings

CONFIG_ENV = "TRACKER_BRIDGE_CONFIG"
DEFAULT_CONFIG = Path("tracker-bridge.toml")


def resolve_settings(config_path: Path | None) -> Settings:
    """Flags > environment > ./tracker-bridge.toml > defaults."""
    if config_path is None and os.environ.get(CONFIG_ENV):
        config_path = Path(os.environ[CONFIG_ENV])
    if config_path is None and DEFAULT_CONFIG.exists():
        config_path = DEFAULT_CONFIG
    return load_settings(config_path)


def status_date(value: dt.datetime | None) -> dt.date:
    return value.date() if value else dt.date.today()
