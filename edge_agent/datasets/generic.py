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


_NUMBER_START = frozenset("0123456789+-. ")


def _infer(decimal: str) -> Converter:
    """Unlisted columns: int, float, bool or text, whichever the value is written as.

    This runs for most values of most files, so the common cases avoid exceptions: digits go
    straight to int, text that cannot start a number is text.
    """
    comma = decimal == ","
    starts = _NUMBER_START | {","} if comma else _NUMBER_START

    def convert(value: str) -> Any:
        if value.isdigit():
            # Keep identifiers such as "007" as written.
            return int(value) if value[0] != "0" or len(value) == 1 else value
        if value[:1] not in starts:
            lowered = value.strip().lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            return value
        text = value.replace(",", ".") if comma else value
        try:
            real = float(text)
        except ValueError:
            return value
        if not math.isfinite(real):
            return value
        if real.is_integer() and "." not in text and "e" not in text and "E" not in text:
            number = int(real)
            return number if str(number) == value.strip().lstrip("+") else value
        return real

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
        # Null markers as written and padded ("NaN", " NaN "): membership is the fast check.
        self._nulls = frozenset(csv_options.null_values) | {
            f"{pad}{v}{pad}" for v in csv_options.null_values for pad in (" ", "  ", "\t")
        }
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
        self._general = _infer(csv_options.decimal)
        self._starts = _NUMBER_START | {","} if csv_options.decimal == "," else _NUMBER_START
        for index, title in enumerate(names):
            column = configured.pop(title, None) or configured.pop(str(index + 1), None)
            if column is None:
                column = ColumnConfig()
            if column.skip or index in self._ts_index:
                continue
            name = column.name or (f"col{title}" if layout.numbered else title) or f"col{index + 1}"
            if name in _RESERVED:
                name = f"{name}_"
            convert = (
                self._general
                if column.type is None
                else _converter(column, csv_options.decimal, self._parse_ts)
            )
            self._columns.append((index, name, convert, column.required, title))
            unit = column.unit or (
                layout.units[index] if layout.units and index < len(layout.units) else None
            )
            if unit:
                self.units[name] = unit
        # The hot loop's view: (index, name, converter); required columns checked after it.
        self._fast = [(index, name, convert) for index, name, convert, _, _ in self._columns]
        # How the generated row function types each column: "call" its converter, or, for
        # unlisted columns once their first value was seen, the inline form of that type.
        self._kinds = ["infer" if c is self._general else "call" for _, _, c in self._fast]
        self._learning = "infer" in self._kinds
        self._decimal = csv_options.decimal
        self._row = self._compile()
        self._required = [
            (name, title) for _, name, _, required, title in self._columns if required
        ]
        missing = [k for k, c in configured.items() if c.required]
        if missing and header is not None:
            raise FileFormatError(
                f"required column(s) {', '.join(map(repr, missing))} not in the header "
                f"(columns: {', '.join(names)})"
            )

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
        ts = self._timestamp(fields) if self._ts_index else None
        try:
            record: Record = self._row(fields, raw.line, ts)
        except (ValueError, TimestampError, OverflowError, IndexError):
            record = {"ts": ts, "line": raw.line} if self._ts_index else {"line": raw.line}
            return self._build_slowly(fields, record)
        for name, title in self._required:
            if record[name] is None:
                raise RowError(f"column {title!r} is required but empty")
        if self._learning:
            self._learn(record)
        return record

    def _kind_of(self, value: Any) -> str:
        if value is None:
            return "infer"  # no value yet: learn from a later row
        if isinstance(value, bool):
            return "call"
        if isinstance(value, int):
            return "int"
        if isinstance(value, float):
            return "float" if self._decimal == "." else "call"
        return "text"

    def _compile(self) -> Callable[[list[str], int, str | None], Record]:
        """Generate the row function for this layout: one dict display, no per-column loop.

        Typing every value is the agent's hottest code; a generated function is about twice as
        fast as a loop over the columns. Only integers and repr()'d names go into the source;
        converters are passed in by name.
        """
        namespace: dict[str, Any] = {"nulls": self._nulls, "g": self._general, "S": self._starts}
        forms = {
            "call": "c{n}(v)",
            "infer": "c{n}(v)",
            "int": "int(v)",
            "float": "(x if (x := float(v)) - x == 0.0 else g(v))",
            "text": "(v if v[:1] not in S else g(v))",
        }
        items = ['"ts": ts'] if self._ts_index else []
        items.append('"line": line')
        for n, ((index, name, convert), kind) in enumerate(
            zip(self._fast, self._kinds, strict=True)
        ):
            namespace[f"c{n}"] = convert
            value = forms[kind].format(n=n)
            items.append(f"{name!r}: None if (v := f[{int(index)}]) in nulls else {value}")
        source = "def row(f, line, ts):\n    return {" + ", ".join(items) + "}\n"
        exec(source, namespace)
        row: Callable[[list[str], int, str | None], Record] = namespace["row"]
        return row

    def _timestamp(self, fields: list[str]) -> str:
        try:
            if len(self._ts_index) == 1:
                text = fields[self._ts_index[0]]
            else:
                text = " ".join(fields[i].strip() for i in self._ts_index)
        except IndexError:
            raise RowError("timestamp column missing in this row") from None
        if text in self._nulls or not text.strip():
            raise RowError("no timestamp")
        try:
            return self._parse_ts(text)
        except TimestampError as e:
            raise RowError(str(e)) from None

    def _build_slowly(self, fields: list[str], record: Record) -> Record:
        """The same as the fast loop, value by value, to name the value that does not fit."""
        nulls = self._nulls
        for index, name, convert, required, title in self._columns:
            text = fields[index] if index < len(fields) else None
            if text is None or text in nulls:
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

    def _learn(self, record: Record) -> None:
        """Give unlisted columns the inline form of the type of their first value.

        A later value of another type still gets its own type: the inline forms fall back to
        full inference (or the whole row is typed again value by value).
        """
        kinds = [
            self._kind_of(record.get(name)) if kind == "infer" else kind
            for (_index, name, _convert), kind in zip(self._fast, self._kinds, strict=True)
        ]
        self._kinds = kinds
        self._learning = "infer" in kinds
        self._row = self._compile()


def _describe(convert: Converter) -> str:
    if convert is _to_int:
        return "an integer"
    if convert is _to_bool:
        return "a boolean (true/false, 1/0, yes/no)"
    if isinstance(convert, TimestampParser):
        return "a timestamp in the configured format"
    return "a number"
