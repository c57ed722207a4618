"""Readings written as a time line followed by value line(s) (DTS controllers, some loggers)."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from edge_agent.infer.table import DELIMITERS, split

# A line holding only a time, maybe behind a label ("Time: 2021-06-01 12:00:00").
_TIME_LINE = re.compile(
    r"^\s*(?:[A-Za-z][A-Za-z ._/-]{0,30}[:=]\s*)?\d[\d\s/\-.:T]*\d\s*(?:[AaPp]\.?[Mm]?\.?)?\s*$"
)


@dataclass
class Grouped:
    """The records of a file whose readings start with a line holding only their time."""

    pattern: str  # csv.recordStartPattern
    first: int  # 0-based index of the first time line
    delimiter: str
    rows: list[list[str]]
    width: int


def _is_time_line(line: str) -> bool:
    text = line.strip()
    return bool(_TIME_LINE.match(text)) and ":" in text and bool(re.search(r"\d[-/.]\d", text))


def time_line_groups(lines: list[str]) -> Grouped | None:
    """The grouped records, if the file's readings each start with a lone time line."""
    starts = [i for i, line in enumerate(lines[:20_000]) if _is_time_line(line)]
    if len(starts) < 3:
        return None
    values = [
        lines[i]
        for a, b in zip(starts, [*starts[1:], len(lines)], strict=True)
        for i in range(a + 1, b)
        if lines[i].strip()
    ]
    between = [b - a for a, b in itertools.pairwise(starts)]
    if not values or min(between) < 2:
        return None  # time lines next to each other: a one-column file, not readings
    counts = {d: sum(line.count(d) for line in values[:200]) for d in DELIMITERS}
    delimiter = max(DELIMITERS, key=lambda d: counts[d])
    shape = re.sub(r"\d+", r"\\d+", re.escape(lines[starts[0]].strip()))
    rows = []
    for a, b in zip(starts, [*starts[1:], len(lines)], strict=True):
        cells = [lines[a].strip()]
        for i in range(a + 1, b):
            if lines[i].strip():
                cells += split(lines[i], delimiter)
        rows.append(cells)
    if starts[-1] == len(lines) - 1 or len(rows[-1]) < len(rows[0]):
        rows.pop()  # a reading without its values yet
    width = max(len(r) for r in rows)
    return Grouped(rf"^\s*{shape}\s*$", starts[0], delimiter, rows, width)
