"""Charts already drawn, kept on disk beside the store, by a digest of what they show.

Drawing the charts is the slowest part of a pass that changes nothing (importing matplotlib
alone takes a second). The publisher names the inputs of the charts with one digest
(:func:`tracker_bridge.publish.charts.chart_inputs_digest`); this cache keeps the PNGs of the
latest digest of each project in ``<store directory>/chart-cache/<project>/<digest>/``, so
the next pass with the same inputs reuses the bytes instead of drawing them again.

A cache that cannot be read or written is no error: the charts are then simply drawn.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

from tracker_bridge.model import Attachment

log = logging.getLogger(__name__)
_COMPLETE = "complete"  # written last: a directory without it was interrupted


class ChartCache:
    """The charts of one project, by input digest (only the latest digest is kept)."""

    def __init__(self, directory: Path, project: str) -> None:
        # the project name is hashed: it may hold characters a file name cannot
        self.root = directory / hashlib.sha256(project.encode()).hexdigest()[:16]

    def load(self, digest: str) -> list[Attachment] | None:
        """The charts saved for ``digest``, or None when there are none."""
        folder = self.root / digest
        try:
            if not (folder / _COMPLETE).is_file():
                return None
            names = (folder / _COMPLETE).read_text(encoding="utf-8").split()
            return [
                Attachment(
                    filename=name, content_type="image/png", data=(folder / name).read_bytes()
                )
                for name in names
            ]
        except OSError as e:
            log.info("chart cache %s unreadable (%s); drawing the charts", folder, e)
            return None

    def save(self, digest: str, charts: list[Attachment]) -> None:
        """Keep ``charts`` as those of ``digest``, replacing what the project had."""
        folder = self.root / digest
        try:
            if self.root.is_dir():
                for old in self.root.iterdir():
                    if old.name != digest:
                        shutil.rmtree(old, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
            for chart in charts:
                (folder / chart.filename).write_bytes(chart.data)
            names = "\n".join(chart.filename for chart in charts)
            (folder / _COMPLETE).write_text(names, encoding="utf-8")
        except OSError as e:
            log.info("chart cache %s not written (%s)", folder, e)
