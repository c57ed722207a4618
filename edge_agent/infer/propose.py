"""``edge-agent infer``: a dataset configuration proposed from one file.

Everything proposed is read back with the agent's own code (the timestamp formats through
``csvread.timeformats``, the zones through ``csvread.zones``), so the configuration reads the
file the way ``infer`` saw it. Each guess ``infer`` is not sure of carries a note, which the
YAML shows as a comment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent.csvread.zones import zone_in_text
from edge_agent.infer.arrays import Kind, array_ids, kinds_of
from edge_agent.infer.columns import (
    ColumnGuess,
    number_style,
)
from edge_agent.infer.grouped import time_line_groups
from edge_agent.infer.guesses import column_guesses
from edge_agent.infer.rows import data_rows, row_order, sidecar_names
from edge_agent.infer.snapshot import preamble_time
from edge_agent.infer.table import Table, find_table, is_marker
from edge_agent.infer.text import FileText, read_text
from edge_agent.infer.times import TimeGuess, find_timestamp

_DEFAULT_NULLS = ("", "NaN", "-")
_FILETIME = re.compile(r"(?<!\d)(1[2-4]\d{16})(?!\d)")  # 100 ns ticks since 1601: 1981 to 2045


class InferError(ValueError):
    """The file cannot be read as a table at all."""


@dataclass
class Proposal:
    """A dataset configuration (camelCase document) and the notes on its unsure guesses."""

    name: str
    csv: dict[str, Any]
    columns: list[ColumnGuess]
    notes: dict[str, str] = field(default_factory=dict)  # csv key -> note
    kinds: list[Kind] = field(default_factory=list)  # recordTypes of a mixed-array file


def propose(path: Path, *, name: str | None = None, timezone: str | None = None) -> Proposal:
    """Look at ``path`` and propose how to read it."""
    text = read_text(path)
    notes = dict(text.notes)
    csv: dict[str, Any] = {"encoding": text.encoding}
    grouped = time_line_groups(text.lines)
    if grouped is not None:
        table = Table(grouped.delimiter, None, grouped.first, len(text.lines) - 1)
        table.width = grouped.width
        rows = grouped.rows
        csv["recordStartPattern"] = grouped.pattern
        notes["recordStartPattern"] = "each reading is a time line and the value line(s) after it"
    else:
        found = find_table(text.lines, text.tail)
        if found is None:
            raise InferError(f"{path}: found no rows of values (a table) in the first lines")
        table = found
        rows = data_rows(text, table)
    csv["delimiter"] = "fixed" if table.cuts is not None else table.delimiter
    width = table.width
    names = list(table.names)[:width] if table.header is not None else []
    names += [""] * (width - len(names)) if names else []
    keys = names or [str(i + 1) for i in range(width)]
    # A title that repeats, or is empty, cannot key the column map: its position does.
    keys = [k if k.strip() and keys.count(k) == 1 else str(i + 1) for i, k in enumerate(keys)]
    columns = [[r[i] if i < len(r) else "" for r in rows] for i in range(width)]
    if table.header is None:
        names = sidecar_names(path, columns, width, notes)
    preamble = text.lines[: table.header if table.header is not None else table.first_data]
    # Numbers: decimal and thousands from every cell that looks like one.
    decimal, thousands, why = number_style(columns)
    csv["decimal"] = decimal
    csv["thousands"] = thousands
    if why:
        notes["thousands"] = why
    csv["headerRow"] = table.header + 1 if table.header is not None else None
    if table.header_rows > 1:
        csv["headerRows"] = table.header_rows
    if table.units is not None:
        csv["unitsRow"] = table.units + 1
    last_head = max(x for x in (table.header, table.units, -1) if x is not None)
    last_head += table.header_rows - 1 if table.header is not None else 0
    if table.first_data != last_head + 1:
        csv["firstDataRow"] = table.first_data + 1
    found_nulls = sorted(
        {c.strip() for col in columns for c in col if is_marker(c)} - set(_DEFAULT_NULLS)
    )
    csv["nullValues"] = [*_DEFAULT_NULLS, *found_nulls]
    ids = array_ids(rows) if table.header is None else None
    kinds = (
        kinds_of(path, rows, ids, table, decimal=decimal, thousands=thousands, notes=notes)
        if ids
        else []
    )
    guess = next((k.time for k in kinds if k.time is not None), None) if kinds else None
    guess = (
        guess
        or find_timestamp(names or keys, columns, preamble)
        or _relative_time(names, columns, text.lines[: table.first_data], csv, notes)
    )
    guesses = column_guesses(
        keys=keys,
        names=names,
        columns=columns,
        table=table,
        guess=guess,
        decimal=decimal,
        thousands=thousands,
    )
    if guess is not None and len(guess.columns) == 1 and guess.fmt not in ("offset_ms", "offset_s"):
        order = row_order(columns[guess.columns[0]], guess.fmt)
        if order:
            csv["rowOrder"] = order
            notes["rowOrder"] = "the rows are newest first"
    if guess is not None:
        _time(
            csv=csv,
            notes=notes,
            guess=guess,
            keys=keys,
            names=names,
            text=text,
            table=table,
            timezone=timezone,
        )
    elif (snapshot := preamble_time(preamble)) is not None:
        csv["timeBase"], notes["timeBase"] = snapshot
        _zone(csv=csv, notes=notes, titles=[], text=text, table=table, timezone=timezone)
    else:
        notes["timestampColumn"] = "no column of times found: the records have no ts"
    for kind in kinds:
        if kind.time is not None and kind.time != guess:
            notes["recordTypes"] = f"kind {kind.key} has its times elsewhere: see its columns"
    short = not kinds and any(len(r) < width for r in rows)
    if short:
        csv["shortRows"] = "pad"
        notes["shortRows"] = "some rows have fewer cells than the header: read as empty"
    if table.footer:
        csv["footerPatterns"] = [f"^{re.escape(line)}$" for line in table.footer[:5]]
    skip = [f"^{re.escape(line)}$" for line in table.markers[:5]]
    if any(c.strip().startswith("$RT_") for col in columns[:1] for c in col):
        # WinCC writes runtime markers ($RT_OFF$, $RT_COUNT$) as rows of the log.
        skip.append(r'^"?\$RT_(OFF|COUNT)\$')
        notes["skipPatterns"] = "WinCC runtime marker rows ($RT_OFF$, $RT_COUNT$)"
    if skip:
        csv["skipPatterns"] = skip
    dataset_name = name or _name(path)
    return Proposal(dataset_name, csv, [] if kinds else guesses, notes, kinds)


def _relative_time(
    names: list[str],
    columns: list[list[str]],
    preamble: list[str],
    csv: dict[str, Any],
    notes: dict[str, str],
) -> TimeGuess | None:
    """Per-channel time columns counting from a start written once (TwinCAT Scope)."""
    if len(names) < 4:
        return None
    label = names[0]
    pairs = all(names[i] == label for i in range(0, len(names) - 1, 2)) and label
    if not pairs:
        return None
    start = next(
        (line for line in preamble if "start" in line.lower() and _FILETIME.search(line)), None
    )
    if start is None:
        return None
    ticks = _FILETIME.search(start)
    assert ticks is not None
    prefix = start[: ticks.start()]
    csv["timeBase"] = {
        "pattern": f"^{re.escape(prefix)}(?P<base>\\d{{17,18}})",
        "format": "filetime",
    }
    unit_ms = any("[ms]" in line or "(ms)" in line for line in preamble)
    fmt = "offset_ms" if unit_ms else "offset_s"
    if not unit_ms:
        notes["timestampFormat"] = "unsure: offsets read as seconds (no [ms] in the header)"
    # The time column with a value in the most rows (the channel sampled in every row).
    candidates = range(0, len(names) - 1, 2)
    best = max(candidates, key=lambda i: (sum(1 for v in columns[i] if v.strip()), -i))
    return TimeGuess((best,), fmt, more=tuple(i for i in candidates if i != best))


def _time(
    *,
    csv: dict[str, Any],
    notes: dict[str, str],
    guess: TimeGuess,
    keys: list[str],
    names: list[str],
    text: FileText,
    table: Table,
    timezone: str | None,
) -> None:
    cols = [keys[i] if keys[i] else str(i + 1) for i in guess.columns]
    csv["timestampColumn"] = cols[0] if len(cols) == 1 else cols
    csv["timestampFormat"] = guess.fmt
    if guess.unsure:
        notes["timestampFormat"] = guess.unsure
    if guess.prefix_pattern is not None:
        csv["timeBase"] = {"pattern": guess.prefix_pattern, "format": None}
        notes["timeBase"] = "the year and month are only in a line before the header"
    if guess.fmt in ("epoch_s", "epoch_ms", "offset_s", "offset_ms", "filetime"):
        csv["timezone"] = "UTC"
        return
    titles = [names[i] for i in guess.columns if names and i < len(names)]
    _zone(csv=csv, notes=notes, titles=titles, text=text, table=table, timezone=timezone)


def _zone(
    *,
    csv: dict[str, Any],
    notes: dict[str, str],
    titles: list[str],
    text: FileText,
    table: Table,
    timezone: str | None,
) -> None:
    """The zone of the file's local times: its time column's name, a line before the data
    that names it, ``--timezone``, or UTC with a note."""
    for title in titles:
        zone = zone_in_text(title)
        if zone is not None:
            csv["timezone"] = zone
            csv["timezonePattern"] = _zone_pattern(zone)
            notes["timezonePattern"] = f"the zone is in the column name {title!r}"
            return
    head = text.lines[: table.first_data]
    for number, line in enumerate(head, start=1):
        if re.search(r"time ?zone|zeitzone|fuseau", line, re.IGNORECASE):
            zone = zone_in_text(line)
            if zone is not None:
                label = re.split(r"[;,\t:]", line.strip().lstrip("\ufeff"))[0]
                csv["timezone"] = zone
                csv["timezonePattern"] = (
                    f"^{re.escape(label)}\\W+(?P<zone>[A-Za-z_]+/[A-Za-z_/]+|(?:UTC|GMT)[^\"';,]*)"
                )
                notes["timezonePattern"] = f"the zone is in line {number}"
                return
    if timezone is not None:
        csv["timezone"] = timezone
        notes["timezone"] = "from --timezone: the file does not say its zone"
        return
    csv["timezone"] = "UTC"
    notes["timezone"] = (
        "unsure: the file does not say its zone; UTC assumed: set the zone of the equipment's "
        "clock (infer --timezone Europe/Berlin)"
    )


def _zone_pattern(zone: str) -> str:
    if re.match(r"(?:UTC|GMT)[+-]", zone):
        return r"(?P<zone>(?:UTC|GMT)[+-]\d{1,2}:?\d{2})"
    return rf"\b(?P<zone>{re.escape(zone)})\b"


def _name(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).strip("_.-") or "dataset"
    if not stem[0].isalnum():
        stem = "d" + stem
    return stem[:64]
