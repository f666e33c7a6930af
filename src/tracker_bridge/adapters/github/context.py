"""What every part of the GitHub adapter knows of its project: its name and settings, our field
names, the repositories and their issue keys, GitHub's addresses, where notes go, and
the clock."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from tracker_bridge.adapters.github.keys import IssueKeys
from tracker_bridge.adapters.github.settings import GitHubSettings
from tracker_bridge.settings import FieldNames

__all__ = ["Context", "Notes"]

log = logging.getLogger(__package__)  # the package's logger: log lines name the adapter


class Notes:
    """Things fetch, diff or apply noticed but did not fail on; each is logged as a warning."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)
        log.warning("github %s: %s", self.name, message)


@dataclass(frozen=True)
class Context:
    """One configured project on GitHub, as the parts of the adapter share it."""

    name: str  # the project's identifier on the tracker (``project``), for messages and logs
    settings: GitHubSettings
    field_names: FieldNames
    repositories: list[str]  # owner/repo, as configured
    keys: IssueKeys
    api_base: str  # https://api.github.com, or the GitHub Enterprise API
    web_base: str  # https://github.com, or the GitHub Enterprise host
    notes: Notes
    clock: Callable[[], float]  # seconds since the epoch (time.time, or a test's fake)
    #: The project's section name in the configuration (``[projects.SECTION]``), for fixes
    #: that name a config section or a ``--project`` option.
    section: str = ""
