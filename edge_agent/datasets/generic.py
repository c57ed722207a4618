"""From CSV fields to typed records: the column map of a dataset applied to one file's layout.

Converters are compiled once per file (per header), so typing a row is a loop over plain
functions. A value that does not fit its column makes the row a quarantine entry with a reason
that names the column and the value; nothing is coerced silently.

Unlisted columns are typed value by value (``csvread.values.inferring_converter``): an
integer, a number, a boolean or the text as written. The type a value gets depends on the
value only, never on the rows before it, so a file read in one pass or resumed in the middle
gives the same records.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from edge_agent.config.datasets import ColumnConfig, DatasetConfig
from edge_agent.csvread.reader import FileFormatError, Layout, RawRecord
from edge_agent.csvread.timestamps import TimestampError, TimestampParser
from edge_agent.csvread.values import (
    Converter,
    bool_converter,
    float_converter,
    inferring_converter,
    int_converter,
    is_number,
    str_converter,
    text_starts,
    timestamp_converter,
)

Record = dict[str, Any]
_TIMESTAMP_NAMES = ("ts", "timestamp", "time", "datetime", "date_time", "timestring")
_RESERVED = frozenset({"ts", "line"})
_LEARN_ROWS = 64  # rows after which unlisted columns still without a value stop being learned
_PADS = (" ", "  ", "\t")


class RowError(ValueError):
    """A row does not fit its dataset; the message is the quarantine reason."""


def _unique(name: str, taken: set[str]) -> str:
    if name in _RESERVED:
        name = f"{name}_"
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate


class RecordBuilder:
    """Turns the raw records of one file into typed records or quarantine reasons.

    ``units`` maps record field names to units (from the column map or the file's units row).
    """

    def __init__(self, dataset: DatasetConfig, layout: Layout) -> None:
        csv_options = dataset.csv
        self._dataset = dataset
        self._layout = layout
        # Null markers as configured, compared after stripping blanks; the fast check is a set
        # membership of the value as written, so the common paddings are in the set too.
        self._markers = frozenset(v.strip() for v in csv_options.null_values)
        self._nulls = self._markers | {f"{p}{v}{p}" for v in self._markers for p in _PADS}
        self._skip = [re.compile(p) for p in csv_options.skip_patterns]
        self._decimal = csv_options.decimal
        self._parse_ts = TimestampParser(csv_options.timestamp_format, csv_options.timezone)
        self._general = inferring_converter(csv_options.decimal, self._markers)
        self._text_starts = text_starts(self._markers)
        # The inline float form reads any value with a point as float() does; that is what
        # inferring_converter does too, unless a null marker itself looks like such a number.
        self._inline_float = csv_options.decimal == "." and not any(
            "." in m and is_number(m) for m in self._markers
        )
        self.units: dict[str, str] = {}
        # (index, name, converter, required, title, description)
        self._columns: list[tuple[int, str, Converter, bool, str, str]] = []
        self._kinds: list[str] = []
        self._learning = 0
        self._width = -1  # never a row's width: every row goes to _by_width
        self._numbered = True
        # A file without header whose first lines could not be read when its layout was: rows
        # are typed by a builder for their own width (never by the first row read, so that a
        # resumed pass types them the same way).
        self._by_width: dict[int, RecordBuilder] | None = None
        self._ts_index: tuple[int, ...] = ()
        self._ts_title = ""
        self._names: list[str] = []
        self._required: list[tuple[str, str]] = []
        self._row: Callable[[list[str], int], Record]
        if layout.header is None:
            self._timestamp_indexes([])  # refuses a timestamp column given by name
            self._by_width = {}
            self._row = self._compile()
        else:
            self._define(list(layout.header), numbered=layout.numbered)

    # ------------------------------------------------------------------ the column map

    def _define(self, names: list[str], *, numbered: bool) -> None:
        """Set up the columns; ``numbered``: no header, columns named by position."""
        dataset, layout = self._dataset, self._layout
        # Without a header row the first data row fixes the width only as an upper bound.
        self._width = len(names)
        self._numbered = numbered
        self._names = names
        self._ts_index = self._timestamp_indexes(names)
        self._ts_title = " + ".join(repr(self._title(i)) for i in self._ts_index)
        configured = dict(dataset.columns)
        taken: set[str] = set()
        for index, title in enumerate(names):
            column = configured.pop(title, None) or configured.pop(str(index + 1), None)
            if column is None:
                column = ColumnConfig()
            if column.skip or index in self._ts_index:
                continue
            name = column.name or (f"col{title}" if numbered else title) or f"col{index + 1}"
            name = _unique(name, taken)
            convert, description = self._converter(column)
            self._columns.append((index, name, convert, column.required, title, description))
            unit = column.unit or (
                layout.units[index] if layout.units and index < len(layout.units) else None
            )
            if unit:
                self.units[name] = unit
        # How the generated row function types each column: "call" its converter, or, for
        # unlisted columns once their first value was seen, the inline form of that type.
        self._kinds = ["infer" if c[2] is self._general else "call" for c in self._columns]
        self._learning = _LEARN_ROWS if "infer" in self._kinds else 0
        self._row = self._compile()
        self._required = [(c[1], c[4]) for c in self._columns if c[3]]
        missing = [k for k, c in configured.items() if c.required]
        if missing:
            self._refuse(
                f"required column(s) {', '.join(map(repr, missing))} not in the header "
                f"(columns: {', '.join(names)})"
            )

    def _converter(self, column: ColumnConfig) -> tuple[Converter, str]:
        markers, decimal = self._markers, self._decimal
        kind = column.type
        if kind == "float":
            return float_converter(decimal, markers), "a number"
        if kind == "int":
            return int_converter(decimal, markers), "an integer"
        if kind == "bool":
            return bool_converter(markers), "a boolean (true/false, 1/0, yes/no)"
        if kind == "str":
            return str_converter(markers), "text"
        if kind == "timestamp":
            csv_options = self._dataset.csv
            # Its own parser: each timestamp column resolves its own DST repeats.
            parser = TimestampParser(csv_options.timestamp_format, csv_options.timezone)
            return timestamp_converter(parser, markers), (
                f"a timestamp in format {csv_options.timestamp_format}"
            )
        return self._general, "a value"

    def _refuse(self, problem: str) -> None:
        if not self._layout.header_complete:
            problem = (
                "the file ends before its header is complete (no line end after it yet); " + problem
            )
        raise FileFormatError(problem)

    def _timestamp_indexes(self, names: list[str]) -> tuple[int, ...]:
        dataset = self._dataset
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
                self._refuse(
                    f"timestamp column {column!r} is not in the header "
                    f"(columns: {', '.join(names) or 'none'}); fix csv.timestampColumn"
                )
        return tuple(indexes)

    # ------------------------------------------------------------------ rows

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
        if len(fields) != self._width:
            if self._by_width is not None:
                return self._builder_for(len(fields)).build(raw)
            self._check_width(fields, self._width)
        try:
            record: Record = self._row(fields, raw.line)
        except (ValueError, TimestampError, OverflowError, IndexError):
            # The row function typed the timestamp too: do it again to name what is wrong.
            record = (
                {"ts": self._timestamp(fields), "line": raw.line}
                if self._ts_index
                else {"line": raw.line}
            )
            if "float" in self._kinds:
                self._demote(fields)
            return self._build_slowly(fields, record)
        for name, title in self._required:
            if record[name] is None:
                raise RowError(f"column {title!r} is required but empty")
        if self._learning:
            self._learn(record)
        return record

    def _check_width(self, fields: list[str], width: int) -> None:
        if len(fields) > width and not any(v.strip() for v in fields[width:]):
            return  # trailing delimiters: empty fields after the last column
        if not self._numbered:
            raise RowError(f"{len(fields)} fields but the header has {width} columns")
        if len(fields) > width:
            raise RowError(
                f"{len(fields)} fields but the file's first rows have at most {width} "
                "(a file without header: its first rows fix the columns)"
            )

    def _builder_for(self, width: int) -> RecordBuilder:
        assert self._by_width is not None
        builder = self._by_width.get(width)
        if builder is None:
            header = tuple(str(i + 1) for i in range(width))
            layout = dataclasses.replace(self._layout, header=header, numbered=True)
            try:
                builder = RecordBuilder(self._dataset, layout)
            except FileFormatError as e:
                raise RowError(str(e)) from None
            self._by_width[width] = builder
        return builder

    def _timestamp(self, fields: list[str]) -> str:
        """The record's ``ts``; RowError naming the timestamp column(s) if there is none."""
        try:
            if len(self._ts_index) == 1:
                text = fields[self._ts_index[0]]
                if text in self._nulls or text.strip() in self._markers:
                    raise RowError(f"no timestamp: column {self._ts_title} is empty")
            else:
                parts = [fields[i].strip() for i in self._ts_index]
                for i, part in zip(self._ts_index, parts, strict=True):
                    if part in self._markers or not part:
                        raise RowError(f"no timestamp: column {self._title(i)!r} is empty")
                text = " ".join(parts)
        except IndexError:
            raise RowError(f"no timestamp: column {self._ts_title} missing in this row") from None
        try:
            return self._parse_ts(text)
        except TimestampError as e:
            raise RowError(f"column {self._ts_title}: {e}") from None

    def _title(self, index: int) -> str:
        names = self._names
        return names[index] if index < len(names) else str(index + 1)

    def _build_slowly(self, fields: list[str], record: Record) -> Record:
        """The same as the row function, value by value, to name the value that does not fit."""
        nulls = self._nulls
        for index, name, convert, required, title, description in self._columns:
            text = fields[index] if index < len(fields) else None
            if text is None or text in nulls:
                value = None
            else:
                try:
                    value = convert(text)
                except (ValueError, TimestampError, OverflowError):
                    raise RowError(f"column {title!r}: {text!r} is not {description}") from None
            if value is None and required:
                raise RowError(f"column {title!r} is required but empty")
            record[name] = value
        return record

    # ------------------------------------------------------------------ the row function

    def _compile(self) -> Callable[[list[str], int], Record]:
        """Generate the row function for this layout: one dict display, no per-column loop.

        Typing every value is the agent's hottest code; a generated function is about twice as
        fast as a loop over the columns. Only integers and repr()'d names go into the source;
        converters are passed in by name. Every inline form gives what the column's converter
        gives, or raises, and the row is typed again value by value (``_build_slowly``).
        """
        namespace: dict[str, Any] = {
            "nulls": self._nulls,
            "g": self._general,
            "L": self._text_starts,
            "P": self._parse_ts,
            "F": datetime.fromisoformat,
        }
        forms = {
            "call": "c{n}(v)",
            "infer": "c{n}(v)",
            # Up to 19 digits always fits in 64 bits; longer goes through full inference.
            "int": '(int(v) if v.isdecimal() and v[0] != "0" and len(v) < 20 else g(v))',
            # float() also reads "1_0.5" and digits of other scripts; inferring_converter does not.
            "float": (
                '(x if "." in v and "_" not in v and v.isascii() and (x := float(v)) - x == 0.0 '
                "else g(v))"
            ),
            "text": "(v if v[:1] in L else g(v))",
        }
        items = []
        if len(self._ts_index) == 1:
            # A null marker or a bad value raises in P (or F), and _timestamp says which.
            index = int(self._ts_index[0])
            if self._dataset.csv.timestamp_format == "iso":
                # Canonical UTC timestamps (timestamps.is_canonical) are checked inline.
                items.append(
                    f'"ts": v if len(v := f[{index}]) == 20 and v[4::3] == "--T::Z" and F(v) '
                    "else P(v)"
                )
            else:
                items.append(f'"ts": P(f[{index}])')
        elif self._ts_index:
            namespace["T"] = self._timestamp
            items.append('"ts": T(f)')
        items.append('"line": line')
        for n, (column, kind) in enumerate(zip(self._columns, self._kinds, strict=True)):
            index, name, convert = column[0], column[1], column[2]
            namespace[f"c{n}"] = convert
            value = forms[kind].format(n=n)
            items.append(f"{name!r}: None if (v := f[{int(index)}]) in nulls else {value}")
        source = "def row(f, line):\n    return {" + ", ".join(items) + "}\n"
        exec(source, namespace)
        row: Callable[[list[str], int], Record] = namespace["row"]
        return row

    def _kind_of(self, value: Any) -> str:
        if value is None:
            return "infer"  # no value yet: learn from a later row
        if isinstance(value, bool):
            return "call"
        if isinstance(value, int):
            return "int"
        if isinstance(value, float):
            return "float" if self._inline_float else "call"
        return "text"

    def _learn(self, record: Record) -> None:
        """Give unlisted columns the inline form of the type of their first value.

        A later value of another type still gets its own type: the inline forms fall back to
        full inference. Columns without a value in the first rows keep full inference.
        """
        self._learning -= 1
        kinds = [
            self._kind_of(record[column[1]]) if kind == "infer" else kind
            for column, kind in zip(self._columns, self._kinds, strict=True)
        ]
        if not self._learning or "infer" not in kinds:
            self._learning = 0
        if kinds != self._kinds:
            self._kinds = kinds
            self._row = self._compile()

    def _demote(self, fields: list[str]) -> None:
        """Inline float forms that raised for this row's text go back to full inference."""
        kinds = list(self._kinds)
        for n, (column, kind) in enumerate(zip(self._columns, kinds, strict=True)):
            if kind == "float" and column[0] < len(fields):
                try:
                    float(fields[column[0]])
                except ValueError:
                    kinds[n] = "call"
        if kinds != self._kinds:
            self._kinds = kinds
            self._row = self._compile()
