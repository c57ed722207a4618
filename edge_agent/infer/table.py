"""Where the table is in a file: its delimiter, header and units rows, data rows and footer.

The data rows are the long run of lines most of whose cells are values (numbers, dates,
times); the header is the line before them with the most distinct names; a units row follows
the header and holds unit words. Lines before the header are the preamble (metadata), lines
after the data are the footer.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field

from edge_agent.csvread.fixedwidth import RULE, column_cuts, split_fixed, stacked_names

DELIMITERS = (",", ";", "\t", "|")
_VALUE = re.compile(r"^[+-]?(?:\d[\d.,' ]*|[.,]\d+)(?:[eE][+-]?\d+)?$")
_TIMELIKE = re.compile(r"^[\d\s/\-.:,TZ+]*\d[\d\s/\-.:,TZ+]*\s*(?:[AaPp]\.?[Mm]?\.?)?$")
_MARKERS = frozenset(
    {"nan", "-nan", "inf", "-inf", "-", "--", "---", "n/a", "na", "null", "#n/a", "err", "error"}
)
_UNIT_WORDS = re.compile(
    r"^(?:°\s?[CFK]|deg\s?[CFK]|[CFK]|%\S*|V|Volts?|mV|A|mA|kW|W|Wh|kWh|MWh|VA|var|Hz|mm|cm|m|"
    r"km|m/s|km/h|mph|knots?|mm/hr?|in|ft|Ft|Pa|hPa|kPa|mbar|bar|mmHg|inHg|psi|ppm|ppb|lux|lx|"
    r"W/m\^?2|kW/m\^?2|MJ/m\^?2|s|ms|min|h|TS|RN|deg|degrees?|l|L|l/min|m3|m³|m3/h|rpm|dB|pH|"
    r"µS/cm|uS/cm|mS/cm|g|kg|t|µmol/m²/s|umol/m2/s|PPFD|unitless|\(none\)|-)$",
    re.IGNORECASE,
)
_RUN = 5  # data rows in a row that start the data


def is_marker(cell: str) -> bool:
    """A cell that says 'no value' (NaN, ---, N/A ...)."""
    return cell.strip().lower() in _MARKERS


def is_value(cell: str) -> bool:
    """A number, a date or a time (not a name)."""
    text = cell.strip()
    return bool(text) and (bool(_VALUE.match(text)) or bool(_TIMELIKE.match(text)))


def split(line: str, delimiter: str, cuts: tuple[int, ...] | None = None) -> list[str]:
    """The cells of a line (quoted CSV, or fixed-width columns)."""
    if cuts is not None:
        try:
            return split_fixed(line, cuts)
        except csv.Error:
            return line.split()
    try:
        return next(csv.reader([line], delimiter=delimiter, quotechar='"'), [])
    except csv.Error:
        return line.split(delimiter)


def data_like(cells: list[str]) -> bool:
    """Most non-empty cells are values (or 'no value' markers), and there are two or more."""
    filled = [c for c in cells if c.strip()]
    if len(filled) < 2:
        return False
    values = sum(1 for c in filled if is_value(c) or is_marker(c))
    return values * 2 > len(filled)


@dataclass
class Table:
    """Where the table is: 0-based line indexes into the head lines."""

    delimiter: str  # one character, or "fixed"
    cuts: tuple[int, ...] | None
    first_data: int
    last_data: int  # last data line of the head
    header: int | None = None
    header_rows: int = 1
    units: int | None = None
    names: list[str] = field(default_factory=list)
    units_cells: list[str] = field(default_factory=list)
    width: int = 0
    footer: list[str] = field(default_factory=list)  # footer line texts
    markers: list[str] = field(default_factory=list)  # single-cell lines among the data
    sep_line: bool = False


def find_table(lines: list[str], tail: list[str]) -> Table | None:
    """The table of a file's lines, or None if no delimiter or alignment gives one."""
    best: Table | None = None
    best_score = 0
    for delimiter in DELIMITERS:
        rows = [split(line, delimiter) for line in lines]
        table = _locate(rows, delimiter, None)
        if table is None:
            continue
        score = (table.last_data - table.first_data + 1) * min(table.width, 50)
        if score > best_score:
            best, best_score = table, score
    if best is None or best.width < 3:
        fixed = _fixed(lines)
        if fixed is not None and (best is None or fixed.width > best.width):
            best = fixed
    if best is None:
        return None
    best.sep_line = bool(lines) and lines[0].strip().lower().startswith("sep=")
    _header(best, lines)
    _footer(best, lines, tail)
    return best


def _locate(rows: list[list[str]], delimiter: str, cuts: tuple[int, ...] | None) -> Table | None:
    like = [data_like(r) for r in rows]
    first = next(
        (i for i in range(len(rows)) if all(like[i : i + _RUN]) and len(like[i : i + _RUN]) > 1),
        None,
    )
    if first is None:
        return None
    data = [r for r, ok in zip(rows[first:], like[first:], strict=True) if ok]
    widths = Counter(len(r) for r in data)
    mode = widths.most_common(1)[0][0]
    width = max(w for w in widths if widths[w] * 50 >= len(data) or w == mode)
    last = first
    for i in range(first, len(rows)):
        # A row as wide as the data with two values is data too (an event row: "Logged").
        if like[i] or (len(rows[i]) == width and sum(1 for c in rows[i] if c.strip()) >= 2):
            last = i
    return Table(delimiter, cuts, first, last, width=width)


def _fixed(lines: list[str]) -> Table | None:
    """A whitespace-aligned table: runs of blanks between values, a dashed rule maybe."""
    body = [line for line in lines if line.strip() and not RULE.match(line)]
    rows = [line.split() for line in lines]
    table = _locate(rows, "fixed", None)
    if table is None or not body:
        return None
    data = [lines[i] for i in range(table.first_data, table.last_data + 1)][:200]
    heads = [
        lines[i]
        for i in range(max(0, table.first_data - 4), table.first_data)
        if lines[i].strip() and not RULE.match(lines[i])
    ]
    cuts = column_cuts([*heads, *data])
    table.cuts = cuts
    table.width = len(cuts)
    return table


def _header(table: Table, lines: list[str]) -> None:
    """Header (stacked for fixed-width), units row."""
    start = max(0, table.first_data - 40)
    if table.cuts is not None:
        heads = [
            i
            for i in range(start, table.first_data)
            if lines[i].strip() and not RULE.match(lines[i])
        ]
        # The header is the lines just above the data (and its rule), stacked.
        block: list[int] = []
        for i in reversed(heads):
            if block and block[0] - i > 2:
                break
            block.insert(0, i)
        block = block[-3:]
        if block:
            table.header, table.header_rows = block[0], len(block)
            table.names = list(stacked_names([lines[i] for i in block], table.cuts))
        return
    if _axis_header(table, lines):
        return
    best, score = None, (False, 0, 0)
    for i in range(start, table.first_data):
        cells = split(lines[i], table.delimiter)
        filled = [c.strip() for c in cells if c.strip()]
        if len(filled) < 2 or any(is_value(c) for c in filled):
            continue
        if not table.width - 2 <= len(cells) <= table.width + 1:
            continue
        # As wide as the data first, then the most distinct names, then the nearest.
        rank = (len(cells) == table.width, len(set(filled)), i)
        if rank > score:
            best, score = i, rank
    if best is None:
        return
    table.header = best
    table.names = [c.strip() for c in split(lines[best], table.delimiter)]
    after = best + 1
    if after < table.first_data:
        cells = [c.strip() for c in split(lines[after], table.delimiter)]
        filled = [c for c in cells if c]
        if (
            filled
            and not any(is_value(c) for c in filled)
            and any(_UNIT_WORDS.match(c) for c in filled)
            and sum(1 for c in filled if len(c) <= 16) == len(filled)
        ):
            table.units, table.units_cells = after, cells


def _number(cell: str) -> float | None:
    try:
        return float(cell.strip())
    except ValueError:
        return None


def _axis_header(table: Table, lines: list[str]) -> bool:
    """A header of numbers (``Date/Time,-3.03,-2.02,...``: the distances of a DTS trace, the
    frequencies of a spectrum): the first row of the data run names its columns if its
    numbers run strictly one way and its other cells are names over columns of values.
    Taken as the header (a row of axis values published as a record would be wrong)."""
    first = table.first_data
    if first + 2 > table.last_data:
        return False
    head = [c.strip() for c in split(lines[first], table.delimiter)]
    below = [split(lines[i], table.delimiter) for i in range(first + 1, table.last_data + 1)]
    below = below[:50]
    numbers = [n for n in map(_number, head) if n is not None]
    names = [i for i, c in enumerate(head) if c and _number(c) is None]
    if len(numbers) < 3 or not names or len(head) != table.width:
        return False
    if any(is_value(head[i]) or is_marker(head[i]) for i in names):
        return False  # a time or a marker where the names would be: a row of data
    steps = [abs(b - a) for a, b in itertools.pairwise(numbers)]
    if not (
        all(b > a for a, b in itertools.pairwise(numbers))
        or all(b < a for a, b in itertools.pairwise(numbers))
    ):
        return False
    if max(steps) > 10 * min(steps):
        return False  # an axis runs in even steps; readings that happen to rise do not
    for i in names:
        column = [r[i].strip() for r in below if i < len(r) and r[i].strip()]
        if not column or not all(is_value(c) for c in column):
            return False
    table.header, table.names = first, head
    table.first_data = first + 1
    return True


def _footer(table: Table, lines: list[str], tail: list[str]) -> None:
    """Footer lines after the data, and single-cell marker lines among it."""
    end = tail if tail else lines[table.last_data + 1 :]
    table.footer = sorted(
        {
            line.strip()
            for line in end
            if line.strip()
            and len(cells := split(line, table.delimiter, table.cuts)) != table.width
            and not data_like(cells)
        }
    )
    inside = lines[table.first_data : table.last_data + 1]
    markers = Counter(
        line.strip()
        for line in inside
        if line.strip()
        and len([c for c in split(line, table.delimiter, table.cuts) if c.strip()]) == 1
    )
    table.markers = sorted(markers)
