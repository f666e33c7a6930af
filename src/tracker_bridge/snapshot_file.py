"""Reading and writing snapshot files (JSON), with errors that name the file and the item."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from tracker_bridge.errors import InputError
from tracker_bridge.gcpause import paused_gc
from tracker_bridge.model import Snapshot, parse_snapshot
from tracker_bridge.textfile import loads_json, read_text


def load_snapshot(path: Path) -> Snapshot:
    """Read and validate a snapshot file."""
    text = read_text(path, "snapshot file", InputError)
    try:
        # pydantic parses and validates in one go (no dicts in between)
        with paused_gc():
            return share_field_sets(Snapshot.model_validate_json(text))
    except (ValidationError, ValueError, RecursionError):
        pass  # read it again the slow way, which names what is wrong and where
    data = loads_json(text, str(path), InputError)
    if not isinstance(data, dict):
        raise InputError(f"{path}: a snapshot is a JSON object with 'project' and 'items'")
    try:
        return parse_snapshot(data)
    except InputError as e:
        raise InputError(f"{path}: {e}") from None
    except RecursionError:
        raise InputError(f"{path}: nested too deeply to read") from None


def share_field_sets(snapshot: Snapshot) -> Snapshot:
    """Let the items and dependencies that have every field set share one set of names.

    pydantic keeps a set of the fields given per object (2 kB for an item with all of its
    22 fields, most of a snapshot's memory). A set holding every field never changes
    (assigning a field adds its name), so one per model class serves them all.
    """
    for objects in (snapshot.items, snapshot.dependencies):
        if not objects:
            continue
        full = set(type(objects[0]).model_fields)
        size = len(full)
        for obj in objects:
            given = obj.__pydantic_fields_set__
            if len(given) == size and given == full:
                object.__setattr__(obj, "__pydantic_fields_set__", full)
    return snapshot


def save_snapshot(path: Path, snapshot: Snapshot) -> None:
    """Write a snapshot file atomically (a crash never leaves half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(snapshot.model_dump_json(indent=2, exclude_none=True) + "\n", encoding="utf-8")
    tmp.replace(path)
