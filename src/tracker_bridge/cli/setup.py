"""The ``setup`` group: one-time set-up in a tracker, ``setup KIND``.

Each adapter brings its own set-up command (``setup_command`` on the adapter class, see
:class:`~tracker_bridge.adapters.protocol.AdapterFactory`); the group lists the installed
adapters that have one and imports a command's module only when it runs.
"""

from __future__ import annotations

import click

from tracker_bridge.adapters.protocol import adapter_factory, installed_kinds
from tracker_bridge.cli.app import main


def _command(kind: str) -> click.Command | None:
    """The adapter's set-up command (an adapter written before there was one has none)."""
    make = getattr(adapter_factory(kind), "setup_command", None)
    return make() if make is not None else None


class AdapterCommands(click.Group):
    """The set-up commands of the installed adapters, by tracker kind."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [kind for kind in installed_kinds() if _command(kind) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return _command(cmd_name) if cmd_name in installed_kinds() else None


@main.group(cls=AdapterCommands)
def setup() -> None:
    """One-time set-up in a tracker (fields tracker-bridge writes)."""
