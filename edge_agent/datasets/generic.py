"""From CSV fields to typed records: the column map of a dataset applied to one file's layout.

Converters are compiled once per file (per header), so typing a row is a loop over plain
functions. A value that does not fit its column makes the row a quarantine entry with a reason
that names the column and the value; nothing is coerced silently.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from edge_agent.config.models import ColumnConfig, DatasetConfig
from edge_agent.csvread.reader import FileFormatError, Layout, RawRecord
from edge_agent.csvread.timestamps import TimestampError, TimestampParser

Record = dict[str, Any]
Converter = Callable[[str], Any]

_TRUE = frozenset({"true", "1", "yes", "on", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "off", "n", "f"})
_TIMESTAMP_NAMES = ("ts", "timestamp", "time", "datetime", "date_time", "timestring")
_RESERVED = frozenset({"ts", "line"})


class RowError(ValueError):
    """A row does not fit its dataset; the message is the quarantine reason."""


def _to_float(decimal: str) -> Converter:
    comma = decimal == ","

    def convert(value: str) -> float | None:
        text = value.strip()
        if comma:
            text = text.replace(",", ".")
        number = float(text)
        # Loggers write NaN/INF for "no valid reading": that is a missing value, not a number.
        return number if math.isfinite(number) else None

    return convert


def _to_int(value: str) -> int:
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        number = float(text)
        if number.is_integer():
            return int(number)
        raise


def _to_bool(value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(value)


def _infer(decimal: str) -> Converter:
    """Unlisted columns: int, float, bool or text, whichever the value is written as."""
    comma = decimal == ","

    def convert(value: str) -> Any:
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            pass
        else:
            # Keep identifiers such as "007" or "+5" as written.
            return number if str(number) == text else value
        try:
            real = float(text.replace(",", ".") if comma else text)
        except ValueError:
            lowered = text.lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            return value
        return real if math.isfinite(real) else value

    return convert


def _converter(column: ColumnConfig, decimal: str, parse_ts: TimestampParser) -> Converter:
    kind = column.type
    if kind == "float":
        return _to_float(decimal)
    if kind == "int":
        return _to_int
    if kind == "bool":
        return _to_bool
    if kind == "str":
        return str
    if kind == "timestamp":
        return parse_ts
    return _infer(decimal)


class RecordBuilder:
    """Turns the raw records of one file into typed records or quarantine reasons."""

    def __init__(self, dataset: DatasetConfig, layout: Layout) -> None:
        csv_options = dataset.csv
        self._nulls = frozenset(csv_options.null_values)
        self._skip = [re.compile(p) for p in csv_options.skip_patterns]
        self._parse_ts = TimestampParser(csv_options.timestamp_format, csv_options.timezone)
        header = layout.header
        self.units: dict[str, str] = {}
        self._columns: list[tuple[int, str, Converter, bool, str]] = []
        # Without a header row the first data row fixes the width only as a guide.
        self._width = len(header) if header is not None and not layout.numbered else None
        names = list(header) if header is not None else []
        self._ts_index = self._timestamp_indexes(dataset, names)
        configured = dict(dataset.columns)
        for index, title in enumerate(names):
            column = configured.pop(title, None) or configured.pop(str(index + 1), None)
            if column is None:
                column = ColumnConfig()
            if column.skip or index in self._ts_index:
                continue
            name = column.name or (f"col{title}" if layout.numbered else title) or f"col{index + 1}"
            if name in _RESERVED:
                name = f"{name}_"
            convert = _converter(column, csv_options.decimal, self._parse_ts)
            self._columns.append((index, name, convert, column.required, title))
            unit = column.unit or (
                layout.units[index] if layout.units and index < len(layout.units) else None
            )
            if unit:
                self.units[name] = unit
        missing = [k for k, c in configured.items() if c.required]
        if missing and header is not None:
            raise FileFormatError(
                f"required column(s) {', '.join(map(repr, missing))} not in the header "
                f"(columns: {', '.join(names)})"
            )
        self._decimal = csv_options.decimal

    @staticmethod
    def _timestamp_indexes(dataset: DatasetConfig, names: list[str]) -> tuple[int, ...]:
        wanted = dataset.csv.timestamp_column
        renamed = {c.name: title for title, c in dataset.columns.items() if c.name}
        if wanted is None:
            lowered = [n.strip().lower() for n in names]
            for candidate in _TIMESTAMP_NAMES:
                if candidate in lowered:
                    return (lowered.index(candidate),)
            return ()
        columns = (wanted,) if isinstance(wanted, str) else wanted
        indexes = []
        for column in columns:
            title = column if column in names else renamed.get(column, column)
            if title in names:
                indexes.append(names.index(title))
            elif column.isdigit() and 0 < int(column) <= max(len(names), 10_000):
                indexes.append(int(column) - 1)
            else:
                raise FileFormatError(
                    f"timestamp column {column!r} is not in the header "
                    f"(columns: {', '.join(names) or 'none'}); fix csv.timestampColumn"
                )
        return tuple(indexes)

    def skip_reason(self, raw: RawRecord) -> str | None:
        """Why a record is skipped by an explicit rule (blank line, skipPatterns), or None."""
        if raw.blank:
            return "blank line"
        if self._skip:
            text = raw.raw
            for pattern in self._skip:
                if pattern.search(text):
                    return f"matches skipPatterns {pattern.pattern!r}"
        return None

    def build(self, raw: RawRecord) -> Record:
        """The typed record of a row; raises RowError with the quarantine reason."""
        fields = raw.fields
        if fields is None:
            raise RowError(raw.problem or "unreadable row")
        width = self._width
        if width is not None and len(fields) != width:
            extra = fields[width:]
            if len(fields) < width or any(v.strip() for v in extra):
                raise RowError(f"{len(fields)} fields, the header has {width}")
        record: Record = {}
        if self._ts_index:
            try:
                parts = [fields[i] for i in self._ts_index]
            except IndexError:
                raise RowError("timestamp column missing in this row") from None
            text = " ".join(p.strip() for p in parts)
            if text in self._nulls or not text.strip():
                raise RowError("no timestamp")
            try:
                record["ts"] = self._parse_ts(text)
            except TimestampError as e:
                raise RowError(str(e)) from None
        record["line"] = raw.line
        nulls = self._nulls
        for index, name, convert, required, title in self._columns:
            if index >= len(fields):
                value = None
            else:
                text = fields[index]
                if text in nulls or text.strip() in nulls:
                    value = None
                else:
                    try:
                        value = convert(text)
                    except (ValueError, TimestampError, OverflowError):
                        raise RowError(
                            f"column {title!r}: {text!r} is not {_describe(convert)}"
                        ) from None
            if value is None and required:
                raise RowError(f"column {title!r} is required but empty")
            record[name] = value
        return record


def _describe(convert: Converter) -> str:
    if convert is _to_int:
        return "an integer"
    if convert is _to_bool:
        return "a boolean (true/false, 1/0, yes/no)"
    if isinstance(convert, TimestampParser):
        return "a timestamp in the configured format"
    return "a number"
