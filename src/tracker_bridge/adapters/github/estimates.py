"""Estimates of an issue: from a body line, a board field, an estimate label or size labels.

GitHub has no estimate of its own; the sources and their precedence are in :func:`estimate`,
the text of one estimate (``3d``, ``2-3-6d``) in :func:`parse_estimate`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tracker_bridge.adapters.github.settings import GitHubSettings
from tracker_bridge.adapters.values import parse_float
from tracker_bridge.model import EstimateRange

__all__ = ["estimate", "parse_estimate"]


def parse_estimate(
    value: str, unit: str | None, hours_per_day: float
) -> tuple[float, EstimateRange | None] | None:
    """``("2-3-6", "d", 8)`` -> ``(24.0, EstimateRange(16, 24, 48))``; ``("6", "h")`` -> 6 h.

    One number is an estimate, three are optimistic-likely-pessimistic (the likely value is
    the estimate). No unit means hours. None when the text does not fit (two numbers, or a
    three-point estimate that is not ordered).
    """
    factor = hours_per_day if (unit or "h").strip().lower().startswith("d") else 1.0
    try:
        numbers = [float(part) * factor for part in re.split(r"\s*[-/]\s*", value.strip())]
    except ValueError:
        return None
    if len(numbers) == 1:
        return numbers[0], None
    if len(numbers) == 3 and numbers[0] <= numbers[1] <= numbers[2]:
        low, likely, high = numbers
        return likely, EstimateRange(optimistic=low, likely=likely, pessimistic=high)
    return None


def estimate(
    cfg: GitHubSettings,
    key: str,
    body: Any,
    labels: list[str],
    field_value: str | None,
    note: Callable[[str], None],
) -> tuple[float | None, EstimateRange | None]:
    """Hours (and a three-point range) from the configured sources, first match wins.

    1. ``body_pattern``: a line in the body (``Estimate: 3d``, ``Estimate: 2-3-6d``) --
       the person's own words on the issue, and the only source of a three-point range;
    2. ``estimate_field``: a number field on the board (hours); ``field_value`` is the
       value the board shows in it for this issue (None when there is none);
    3. ``estimate_label_pattern``: a label like ``estimate: 3d`` / ``estimate: 6h``;
    4. ``estimate_labels``: size labels mapped to hours (the largest when several).

    A body line that does not parse is reported through ``note`` and skipped.
    """
    if isinstance(body, str) and body:
        match = re.search(cfg.body_pattern, body)
        if match:
            parsed = parse_estimate(match.group("value"), _group(match, "unit"), cfg.hours_per_day)
            if parsed is not None:
                return parsed
            note(
                f"{key}: estimate line {match.group(0).strip()!r} is not one "
                "number or an ordered optimistic-likely-pessimistic triple; ignored"
            )
    value = parse_float(field_value)
    if value is not None and value >= 0:
        return value, None
    for label in labels:
        match = re.search(cfg.estimate_label_pattern, label.strip())
        if match:
            parsed = parse_estimate(match.group("value"), _group(match, "unit"), cfg.hours_per_day)
            if parsed is not None:
                return parsed[0], None
    if cfg.estimate_labels:
        table = {name.strip().casefold(): hours for name, hours in cfg.estimate_labels.items()}
        sizes = [
            table[label.strip().casefold()] for label in labels if label.strip().casefold() in table
        ]
        if sizes:
            return max(sizes), None
    return None, None


def _group(match: re.Match[str], name: str) -> str | None:
    return match.group(name) if name in match.re.groupindex else None
