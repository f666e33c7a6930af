"""Read PSPLIB single-mode ``.sm`` instances and check RCPSP schedules independently.

The checker shares no code with the scheduler: it walks every precedence and every day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instance:
    """Jobs 0..n-1 (the dummy source and sink included), FS precedences, 4 renewables."""

    name: str
    duration: list[int]
    successors: list[list[int]]
    demand: list[list[int]]
    capacity: list[int]


def _section(lines: list[str], title: str) -> list[str]:
    for k, line in enumerate(lines):
        if line.startswith(title):
            body: list[str] = []
            for row in lines[k + 1 :]:
                if row.startswith("*"):
                    return body
                body.append(row)
    raise ValueError(f"section {title!r} missing")


def parse(path: Path) -> Instance:
    """One ``.sm`` file -> Instance (job numbers shifted to start at 0)."""
    lines = path.read_text().splitlines()
    prec = [r.split() for r in _section(lines, "PRECEDENCE RELATIONS:")[1:] if r.strip()]
    n = len(prec)
    successors = [[int(s) - 1 for s in row[3:]] for row in prec]
    rows = [r.split() for r in _section(lines, "REQUESTS/DURATIONS:") if re.match(r"\s*\d", r)]
    duration = [0] * n
    demand = [[0] * 4 for _ in range(n)]
    for row in rows:
        job = int(row[0]) - 1
        duration[job] = int(row[2])
        demand[job] = [int(v) for v in row[3:]]
    avail = _section(lines, "RESOURCEAVAILABILITIES:")
    capacity = [int(v) for v in avail[1].split()]
    return Instance(path.name, duration, successors, demand, capacity)


def check(inst: Instance, start: list[int]) -> list[str]:
    """Every violated precedence and every over-used resource-day, as messages."""
    problems: list[str] = []
    n = len(inst.duration)
    for j in range(n):
        if start[j] < 0:
            problems.append(f"job {j + 1} starts before day 0")
        for s in inst.successors[j]:
            if start[s] < start[j] + inst.duration[j]:
                problems.append(f"job {s + 1} starts before job {j + 1} finishes")
    end = max(start[j] + inst.duration[j] for j in range(n))
    for day in range(end):
        for r, cap in enumerate(inst.capacity):
            used = sum(
                inst.demand[j][r] for j in range(n) if start[j] <= day < start[j] + inst.duration[j]
            )
            if used > cap:
                problems.append(f"resource {r + 1} over capacity on day {day}: {used} > {cap}")
    return problems
