"""What the charts show, as one digest: equal digests draw equal PNGs (no matplotlib here).

The charts are drawn from the plan, the titles, URLs and ids of the snapshot's items (how
the page refers to them), the page style, the baseline and matplotlib itself. A pass whose
digest matches the one of the charts it drew last time can reuse them (see
:class:`ChartStore`) instead of drawing them again.
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from typing import Protocol

from tracker_bridge.model import Attachment, Baseline, Plan, Snapshot
from tracker_bridge.publish.style import PageStyle

DIGEST_VERSION = "1"  # bump when a chart starts to read something not hashed below


class ChartStore(Protocol):
    """Charts already drawn, by input digest (the pipeline keeps them beside its store)."""

    def load(self, digest: str) -> list[Attachment] | None:
        """The charts saved for ``digest``, or None."""
        ...

    def save(self, digest: str, charts: list[Attachment]) -> None:
        """Keep ``charts`` as those drawn for ``digest``."""
        ...


def _matplotlib_version() -> str:
    try:
        return version("matplotlib")
    except PackageNotFoundError:  # pragma: no cover - a dependency of the package
        return "?"


def chart_inputs_digest(
    plan: Plan, snapshot: Snapshot, style: PageStyle, baseline: Baseline | None
) -> str:
    """A digest of everything the charts are drawn from."""
    digest = hashlib.sha256()
    header = [DIGEST_VERSION, _matplotlib_version(), type(style).__qualname__, style.markup]
    digest.update(json.dumps(header).encode())
    digest.update(plan.model_dump_json().encode())
    refs = [
        (item.key, item.title, item.url, item.native_id, item.tracker) for item in snapshot.items
    ]
    digest.update(json.dumps([refs, snapshot.source.model_dump(mode="json")]).encode())
    digest.update(baseline.model_dump_json().encode() if baseline is not None else b"-")
    return digest.hexdigest()[:32]
