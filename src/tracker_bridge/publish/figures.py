"""How the page shows a figure: dates, money, indices, percentages, chances, spans of
working days; an unknown or undefined figure is a dash."""

from __future__ import annotations

import math
from collections.abc import Sequence

DASH = "–"  # an unknown or undefined figure


def days_text(n: int, unit: str = "working day") -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def date_text(value: object) -> str:
    return DASH if value is None or value == "" else str(value)


def finite(value: object) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def money(value: object) -> str:
    """Whole currency units with thousands separators: ``-14,220``; None -> ``–``."""
    number = finite(value)
    if number is None:
        return DASH
    whole = math.floor(abs(number) + 0.5)
    return f"{'-' if number < 0 and whole else ''}{whole:,}"


def signed_money(value: object) -> str:
    """Like :func:`money` with an explicit ``+`` on gains: ``+22,640``."""
    text = money(value)
    number = finite(value)
    return f"+{text}" if number is not None and text not in ("0", DASH) and number > 0 else text


def index(value: object) -> str:
    """A performance index to 2 decimals: ``0.89``; None -> ``–``."""
    number = finite(value)
    if number is None:
        return DASH
    text = f"{number:.2f}"
    return "0.00" if text == "-0.00" else text


def percent(value: object, *, signed: bool = False) -> str:
    """A percentage (already x100) to one decimal: ``10.2 %``."""
    number = finite(value)
    if number is None:
        return DASH
    text = f"{number:+.1f}" if signed else f"{number:.1f}"
    return text.replace("+0.0", "0.0").replace("-0.0", "0.0") + " %"


def chance(probability: object) -> str:
    """A probability 0..1 as a whole percent; ``<1 %``/``>99 %`` rather than a false 0 or 100."""
    number = finite(probability)
    if number is None:
        return DASH
    if number <= 0:
        return "0 %"
    if number >= 1:
        return "100 %"
    whole = math.floor(number * 100 + 0.5)
    if whole < 1:
        return "<1 %"
    if whole > 99:
        return ">99 %"
    return f"{whole} %"


def hours_text(value: object) -> str:
    number = finite(value) or 0.0
    return f"{number:+,.0f} h" if number else "0 h"


def slip_text(days: object) -> str:
    """Working days, positive = later than the baseline: ``+19``, ``-5``, ``0``."""
    number = finite(days)
    if number is None:
        return DASH
    return f"{int(number):+d}" if number else "0"


def reasons_text(reasons: Sequence[str]) -> str:
    """Reasons in plain words: ``a; b; and c``."""
    parts = [r.strip() for r in reasons if r.strip()]
    if len(parts) > 2:
        return "; ".join(parts[:-1]) + "; and " + parts[-1]
    return " and ".join(parts)


def mean_sd(mean: object, std: object) -> str:
    """``2025-03-14 ± 2.5``: the mean finish and its standard deviation in working days."""
    day = date_text(mean)
    if day == DASH:
        return DASH
    spread = finite(std)
    return day if spread is None else f"{day} ± {spread:.1f}"
