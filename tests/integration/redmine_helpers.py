"""Helpers shared by the integration tests (a module of its own, not conftest.py, so that any
subset of the test folders collects: ``from conftest import`` finds whichever folder's
conftest was imported first)."""

from __future__ import annotations

from pathlib import Path

from tracker_bridge.demo.instance import LocalRedmine


def write_config(redmine: LocalRedmine, tmp_path: Path, projects: dict[str, str]) -> Path:
    """A config file for the bot on this Redmine (key in a file), one ``[projects.NAME]`` per
    ``NAME -> identifier``, and a store in ``tmp_path``."""
    key_file = tmp_path / "bot.key"
    key_file.write_text(redmine.bot_key, encoding="utf-8")
    path = tmp_path / "tracker-bridge.toml"
    sections = "".join(
        f'[projects.{name}]\ntracker = "local"\nproject = "{identifier}"\n\n'
        for name, identifier in projects.items()
    )
    path.write_text(
        f'[trackers.local]\nkind = "redmine"\nurl = "{redmine.url}"\n'
        f'api_key_file = "{key_file}"\n\n{sections}'
        f'[store]\npath = "{tmp_path / "state.sqlite3"}"\n',
        encoding="utf-8",
    )
    return path
