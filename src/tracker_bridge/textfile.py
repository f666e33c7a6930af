"""Reading input files people write or copy around: config, snapshot and key files.

Each failure becomes one line naming the file and what is wrong with it (``error`` is the
exception class the caller wants: ConfigError for config and keys, InputError for
snapshots), never a traceback: unreadable files, files that are not UTF-8 (UTF-16 is named,
as Windows tools write it), JSON nested too deep for the parser, integers too long to read.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

from tracker_bridge.errors import TrackerBridgeError

__all__ = ["loads_json", "read_text"]

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def read_text(path: Path, what: str, error: type[TrackerBridgeError]) -> str:
    """The text of a UTF-8 file (a UTF-8 byte-order mark is allowed and dropped)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise error(f"{path}: cannot read {what}: {e.strerror}") from None
    if data.startswith(_UTF16_BOMS):
        raise error(f"{path}: the {what} is UTF-16; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise error(
            f"{path}: the {what} is not UTF-8 (byte 0x{data[e.start]:02x} on line {line}); "
            "save it as UTF-8"
        ) from None


def loads_json(text: str, where: str, error: type[TrackerBridgeError]) -> Any:
    """Parsed JSON; ``where`` names the source in messages."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise error(
            f"{where}: not valid JSON (line {e.lineno}, column {e.colno}): {e.msg}"
        ) from None
    except RecursionError:
        raise error(f"{where}: JSON nested too deeply to read") from None
    except ValueError:  # the only other ValueError: an integer of more than 4,300 digits
        raise error(f"{where}: a number in it has more than 4,300 digits") from None
