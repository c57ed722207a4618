"""The data rows ``infer`` looks at, the order of their times, and names kept beside them."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path

from edge_agent.csvread.timeformats import compile_format
from edge_agent.infer.sidecar import program_names
from edge_agent.infer.table import Table, data_like, split
from edge_agent.infer.text import FileText

MAX_ROWS = 5000  # data rows of the head looked at (and the tail's)


def row_order(values: list[str], fmt: str) -> str | None:
    """descending if the times mostly run backwards (newest first), else None."""
    parsed = [t for t in (parse_time(v, fmt) for v in values[:500] if v.strip()) if t]
    falling = sum(1 for a, b in itertools.pairwise(parsed) if b < a)
    rising = sum(1 for a, b in itertools.pairwise(parsed) if b > a)
    return "descending" if falling > rising else None


def parse_time(value: str, fmt: str) -> datetime | None:
    """The naive time of ``value`` in ``fmt``, or None."""
    text = value.strip()
    try:
        if fmt == "iso":
            return datetime.fromisoformat(text).replace(tzinfo=None)
        if fmt in ("epoch_s", "epoch_ms"):
            seconds = float(text) / (1000 if fmt == "epoch_ms" else 1)
            return datetime(1970, 1, 1) + timedelta(seconds=seconds)
        if "%" not in fmt:
            return None
        return compile_format(fmt)(text)
    except (ValueError, OverflowError):
        return None


def data_rows(text: FileText, table: Table) -> list[list[str]]:
    """The cells of the head's data rows (and the tail's), a last line cut short left out."""
    head = text.lines[table.first_data : table.last_data + 1]
    lines = head[:MAX_ROWS]
    if len(head) > MAX_ROWS:
        lines += head[-MAX_ROWS // 4 :]
    lines += [t for t in text.tail if data_like(split(t, table.delimiter, table.cuts))][
        -MAX_ROWS // 4 :
    ]
    rows = []
    for line in lines:
        cells = split(line, table.delimiter, table.cuts)
        if data_like(cells) or (len(cells) == table.width and sum(1 for c in cells if c) >= 2):
            rows.append(cells)
    if not text.final_newline and rows and len(rows[-1]) < table.width:
        rows.pop()  # a last line cut while being written: not a short row of the format
    return rows


def sidecar_names(
    path: Path, columns: list[list[str]], width: int, notes: dict[str, str]
) -> list[str]:
    """Column names of a headerless array from a Short Cut program beside the file."""
    ids = {v.strip() for v in columns[0]} if columns else set()
    if len(ids) != 1:
        return []
    found = program_names(path.parent, next(iter(ids)), width)
    if found is None:
        notes["headerRow"] = "no header: columns are named by position"
        return []
    program, names = found
    notes["headerRow"] = f"no header: column names from {program.name}"
    return ["array_id", *names[1:]]
