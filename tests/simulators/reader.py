"""An independent reader for the tests: stdlib csv driven by a DatasetConfig.

Not the agent's reader (written elsewhere): a second, small implementation used to check that
the simulators' files parse with the builtin dataset settings and give the truth's values.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from edge_agent.config.datasets import DatasetConfig
from simulators.datasets import field_names


@dataclass
class Parsed:
    """One data row: where it starts, and its timestamp and values or why it failed."""

    line: int
    raw: str
    skipped: bool = False
    error: str | None = None
    ts: datetime | None = None
    ts_alternatives: tuple[datetime, ...] = ()
    values: dict[str, Any] | None = None


def decode(data: bytes, config: DatasetConfig) -> str:
    """Bytes to text as the dataset says (BOM dropped)."""
    text = data.decode(config.csv.encoding)
    return text.removeprefix("\ufeff")


def _timestamp(text: str, config: DatasetConfig) -> tuple[datetime, ...]:
    """The UTC instants a timestamp text can mean (two for a DST repeat)."""
    if config.csv.timestamp_format == "iso":
        value = datetime.fromisoformat(text)
        return (value.astimezone(UTC),)
    naive = datetime.strptime(text, config.csv.timestamp_format)
    zone = ZoneInfo(config.csv.timezone)
    return tuple(dict.fromkeys(naive.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1)))


def _value(cell: str, kind: str | None, config: DatasetConfig) -> Any:
    if cell in config.csv.null_values:
        return None
    if kind == "float":
        return float(cell.replace(",", ".") if config.csv.decimal == "," else cell)
    if kind == "int":
        return int(cell)
    if kind == "bool":
        if cell.lower() not in ("true", "false"):
            raise ValueError(cell)
        return cell.lower() == "true"
    return cell


def read(data: bytes, config: DatasetConfig) -> tuple[list[str], list[Parsed]]:
    """Header and data rows of one file."""
    text = decode(data, config)
    physical = re.split(r"\r\n|\n|\r", text)
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=config.csv.delimiter,
        quotechar=config.csv.quotechar,
    )
    header: list[str] = []
    rows: list[Parsed] = []
    start = 1
    stamps = config.csv.timestamp_column
    stamp_columns = [stamps] if isinstance(stamps, str) else list(stamps or ())
    for cells in reader:
        line, start = start, reader.line_num + 1
        if line == config.csv.header_row:
            header = cells
            continue
        if line < config.csv.data_start_line:
            continue
        parsed = Parsed(line, physical[line - 1])
        rows.append(parsed)
        if any(re.search(p, parsed.raw) for p in config.csv.skip_patterns):
            parsed.skipped = True
            continue
        if len(cells) != len(header):
            parsed.error = "field_count"
            continue
        record = dict(zip(header, cells, strict=True))
        try:
            moments = _timestamp(" ".join(record[c] for c in stamp_columns), config)
        except ValueError:
            parsed.error = "bad_timestamp"
            continue
        parsed.ts, parsed.ts_alternatives = moments[0], moments
        values: dict[str, Any] = {}
        try:
            for column, name in field_names(config, header).items():
                settings = config.columns.get(column)
                values[name] = _value(record[column], settings.type if settings else None, config)
        except ValueError:
            parsed.error = "bad_value"
            continue
        parsed.values = values
    return header, rows
