"""What every part of the Redmine adapter knows of its project: the tracker and project
settings, our field names, the risk register's names, the Redmine URL, and where notes go."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from tracker_bridge.model import Source
from tracker_bridge.settings import FieldNames, ProjectSettings, RiskSettings, TrackerSettings

__all__ = ["Context"]

log = logging.getLogger(__package__)  # the package's logger: log lines name the adapter


@dataclass
class Context:
    """One configured Redmine (or Planio) project, as the parts of the adapter share it."""

    tracker: TrackerSettings
    project: ProjectSettings
    field_names: FieldNames
    #: Names of the risk tracker and of the risk and three-point estimate fields.
    risk: RiskSettings
    tracker_name: str  # the tracker's name in the configuration, for messages
    base_url: str  # the Redmine URL, without a trailing slash
    #: Things fetch, diff or apply noticed but did not fail on (relations leaving the
    #: project, ...); each is logged as a warning.
    notes: list[str] = field(default_factory=list)

    @property
    def pid(self) -> str:
        """The project's identifier (as in its URL)."""
        return self.project.project

    def note(self, message: str) -> None:
        self.notes.append(message)
        log.warning("redmine %s: %s", self.pid, message)

    def source(self) -> Source:
        """Where snapshots of this project come from."""
        return Source(kind="redmine", base_url=self.base_url, project=self.pid)

    def is_risk(self, raw: dict[str, Any]) -> bool:
        """Whether a raw issue is of the risk tracker (``risk.risk_tracker``)."""
        name = str((raw.get("tracker") or {}).get("name") or "")
        return bool(name) and name.strip().casefold() == self.risk.risk_tracker.strip().casefold()
