"""Reading and writing snapshot files (JSON), with errors that name the file and the item."""

from __future__ import annotations

from pathlib import Path

from tracker_bridge.errors import InputError
from tracker_bridge.model import Snapshot, parse_snapshot
from tracker_bridge.textfile import loads_json, read_text


def load_snapshot(path: Path) -> Snapshot:
    """Read and validate a snapshot file."""
    data = loads_json(read_text(path, "snapshot file", InputError), str(path), InputError)
    if not isinstance(data, dict):
        raise InputError(f"{path}: a snapshot is a JSON object with 'project' and 'items'")
    try:
        return parse_snapshot(data)
    except InputError as e:
        raise InputError(f"{path}: {e}") from None
    except RecursionError:
        raise InputError(f"{path}: nested too deeply to read") from None


def save_snapshot(path: Path, snapshot: Snapshot) -> None:
    """Write a snapshot file atomically (a crash never leaves half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(snapshot.model_dump_json(indent=2, exclude_none=True) + "\n", encoding="utf-8")
    tmp.replace(path)
