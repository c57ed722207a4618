"""From CSV fields to typed records: the column map of a dataset applied to one file's layout.

Converters are compiled once per file (per header), so typing a row is a loop over plain
functions. A value that does not fit its column makes the row a quarantine entry with a reason
that names the column and the value; nothing is coerced silently.

Unlisted columns get one type per file, from the file's first data rows (``kinds``); a column
empty in all of them is typed value by value. Everything decided per file comes from the
file's head (its layout), so a file read in one pass or resumed in the middle gives the same
records. What the builder noticed about the file (a mapped column it does not have, ...) is in
``warnings``.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from edge_agent.config.datasets import ColumnConfig, DatasetConfig
from edge_agent.csvread.numbers import number_hint
from edge_agent.csvread.reader import FileFormatError, Layout, RawRecord
from edge_agent.csvread.timestamps import (
    AmbiguousTimeError,
    TimestampError,
    TimestampParser,
    format_utc,
)
from edge_agent.datasets.columns import Column, RowError, packed_converter, unique_name
from edge_agent.datasets.converters import column_converter
from edge_agent.datasets.kinds import column_kind, sample_rows
from edge_agent.datasets.localtime import RepeatResolver
from edge_agent.datasets.recordtypes import RecordTypes
from edge_agent.datasets.rowfunction import RowSpec, compile_row
from edge_agent.datasets.timebase import FileTime, file_time

__all__ = ["Record", "RecordBuilder", "RowError"]

Record = dict[str, Any]
_TIMESTAMP_NAMES = ("ts", "timestamp", "time", "datetime", "date_time", "timestring")
_PADS = (" ", "  ", "\t")


class RecordBuilder:
    """Turns the raw records of one file into typed records or quarantine reasons.

    ``units`` maps record field names to units (from the column map or the file's units row);
    ``warnings`` lists, in short sentences, what a technician should know about how the
    configuration fits this file (a mapped column it does not have, ...).
    """

    def __init__(self, dataset: DatasetConfig, layout: Layout) -> None:
        csv_options = dataset.csv
        self._dataset = dataset
        self._layout = layout
        self.units: dict[str, str] = {}
        self.warnings: list[str] = []
        # Null markers as configured, compared after stripping blanks; the fast check is a set
        # membership of the value as written, so the common paddings are in the set too.
        self._markers = frozenset(v.strip() for v in csv_options.null_values)
        self._nulls = self._markers | {f"{p}{v}{p}" for v in self._markers for p in _PADS}
        self._skip = [re.compile(p) for p in csv_options.skip_patterns]
        self._footer = [re.compile(p) for p in csv_options.footer_patterns]
        self._columns: list[Column] = []
        self._width = -1  # never a row's width: every row goes to _by_width
        self._numbered = True
        self._pad = csv_options.short_rows == "pad"
        # A file without header whose first lines could not be read when its layout was: rows
        # are typed by a builder for their own width (never by the first row read, so that a
        # resumed pass types them the same way).
        self._by_width: dict[int, RecordBuilder] | None = None
        self._types: RecordTypes | None = None
        self._ts_index: tuple[int, ...] = ()
        self._fixed_ts: str | None = None
        self._ts_title = ""
        self._names: list[str] = []
        self._required: list[tuple[str, str]] = []
        self._time = FileTime(csv_options.timezone)
        self._parse_ts: TimestampParser | None = None
        self._resolver: RepeatResolver | None = None
        self._descending = csv_options.row_order == "descending"
        self._row: Callable[[list[str], int], Record]
        if dataset.record_types is not None:
            self._types = RecordTypes(dataset, layout, RecordBuilder)
            self.units = self._types.units
            self.warnings = self._types.warnings
            return
        if layout.header is None:
            self._timestamp_indexes([])  # refuses a timestamp column given by name
            self._by_width = {}
            self._row = lambda fields, line: {}
        else:
            self._define(list(layout.header), numbered=layout.numbered)

    # ------------------------------------------------------------------ the column map

    def _define(self, names: list[str], *, numbered: bool) -> None:
        """Set up the columns; ``numbered``: no header, columns named by position."""
        dataset, layout, options = self._dataset, self._layout, self._dataset.csv
        self._width = len(names)
        self._numbered = numbered
        self._names = names
        self._ts_index = self._timestamp_indexes(names)
        self._ts_title = " + ".join(repr(self._title(i)) for i in self._ts_index)
        self._time = file_time(
            options, layout, [names[i] for i in self._ts_index if i < len(names)]
        )
        self._parse_ts = TimestampParser(
            options.timestamp_format, self._time.zone, base=self._time.base
        )
        # No time column but a time base: the file is one trace, every row at that instant.
        base = self._time.base
        self._fixed_ts = format_utc(base) if not self._ts_index and base is not None else None
        sample = sample_rows(layout, options)
        configured = dict(dataset.columns)
        taken: set[str] = set()
        titles = set(names)
        for index, title in enumerate(names):
            # A key that is a header text names that column, even when it is a number (a
            # header of distances or sample numbers); other digits are positions.
            column = configured.pop(title, None)
            if column is None and str(index + 1) not in titles:
                column = configured.pop(str(index + 1), None)
            if column is None:
                column = ColumnConfig()
            if column.skip or index in self._ts_index:
                continue
            name = column.name or (f"col{title}" if numbered else title) or f"col{index + 1}"
            name = unique_name(name, taken)
            kind = None
            if column.type is None and (column.scale is not None or column.offset is not None):
                kind = "number"  # a scaled column is a number, whatever its first rows
            elif column.type is None and column.packed is None:
                values = [row[index] for row in sample if index < len(row)]
                kind = column_kind(values, options, self._markers)
            convert, description, form = column_converter(
                column, kind, options=options, markers=self._markers, time=self._time
            )
            packed: tuple[str, ...] = ()
            if column.packed is not None:
                convert, packed = packed_converter(column.packed, convert, self._markers)
                form = "packed"
                taken.update(packed)
            self._columns.append(
                Column(index, name, convert, column.required, title, description, form, packed)
            )
            unit = column.unit or (
                layout.units[index]
                if layout.units and index < len(layout.units) and column.type != "timestamp"
                else None
            )
            if unit:
                for field in packed or (name,):
                    self.units[field] = unit
        spec = RowSpec(
            csv=self._dataset.csv,
            parse_ts=self._parse_ts,
            timestamp=self.timestamp,
            nulls=self._nulls,
            ts_index=tuple(self._ts_index),
            prefixed=self._time.prefix is not None,
            fixed_ts=self._fixed_ts,
        )
        self._row = compile_row(spec, self._columns)
        self._required = [(c.name, c.title) for c in self._columns if c.required]
        missing = [k for k, c in configured.items() if c.required]
        if missing:
            self._refuse(
                f"required column(s) {', '.join(map(repr, missing))} not in the header "
                f"(columns: {', '.join(names)})"
            )
        for key in configured:
            self.warnings.append(
                f"column {key!r} is mapped in the dataset's columns but this file has no such "
                f"column (its columns: {', '.join(names) or 'none'})"
            )
        self._order(sample)

    def _order(self, sample: list[list[str]]) -> None:
        """Row order (declared, or from the first rows) and the DST repeat resolver."""
        options = self._dataset.csv
        if not self._ts_index:
            return
        if options.row_order == "auto":
            times = [t for t in (self._local(f) for f in sample) if t is not None]
            pairs = list(itertools.pairwise(times))
            falling = sum(1 for a, b in pairs if b < a)
            self._descending = falling > len(pairs) - falling
        parser = self._parse_ts
        assert parser is not None
        self._resolver = RepeatResolver(
            self._layout, options, self._local, parser.repeats, descending=self._descending
        )

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
        """Why a record is skipped by an explicit rule (blank line, patterns), or None."""
        if raw.blank:
            return "blank line"
        if self._skip or self._footer:
            text = raw.raw
            for pattern in self._skip:
                if pattern.search(text):
                    return f"matches skipPatterns {pattern.pattern!r}"
            for pattern in self._footer:
                if pattern.search(text):
                    return f"footer (matches footerPatterns {pattern.pattern!r})"
        if self._types is not None:
            return self._types.skip_reason(raw)
        return None

    def build(self, raw: RawRecord) -> Record:
        """The typed record of a row; raises RowError with the quarantine reason."""
        if self._types is not None:
            return self._types.build(raw)
        fields = raw.fields
        if fields is None:
            raise RowError(raw.problem or "unreadable row")
        if len(fields) != self._width:
            if self._by_width is not None:
                return self._builder_for(len(fields)).build(raw)
            fields = self._fit(raw, fields)
        try:
            record: Record = self._row(fields, raw.line)
        except (ValueError, TimestampError, OverflowError, IndexError):
            # Typed again value by value, to name what does not fit (or to read a DST repeat).
            return self._build_slowly(fields, raw)
        for name, title in self._required:
            if record[name] is None:
                raise RowError(f"column {title!r} is required but empty")
        return record

    def _fit(self, raw: RawRecord, fields: list[str]) -> list[str]:
        """A row of another width than the header's: padded, or RowError."""
        width = len(fields)
        if width > self._width:
            if not any(v.strip() for v in fields[self._width :]):
                return fields  # trailing delimiters: empty fields after the last column
            if self._numbered:
                raise RowError(
                    f"{width} fields but the file's first rows have at most {self._width} "
                    "(a file without header: its first rows fix the columns)"
                )
            raise RowError(f"{width} fields but the header has {self._width} columns")
        if not raw.terminated:
            raise RowError(
                f"{width} fields but the header has {self._width} columns, on the file's last "
                "line, which has no line end: cut off while being written"
            )
        if self._pad:
            return fields + [""] * (self._width - width)
        if self._numbered:
            return fields  # columns the row does not have are null (a file without header)
        raise RowError(f"{width} fields but the header has {self._width} columns")

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

    # ------------------------------------------------------------------ time of a row

    def _ts_text(self, fields: list[str]) -> str:
        """The text of the row's time (columns joined, the time base in front)."""
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
        prefix = self._time.prefix
        return f"{prefix} {text.strip()}" if prefix is not None else text

    def timestamp(self, fields: list[str]) -> str:
        """The row's ``ts`` (the generated row function calls this for composed times)."""
        assert self._parse_ts is not None
        return self._parse_ts(self._ts_text(fields))

    def _local(self, fields: list[str]) -> datetime | None:
        """The row's time as written (naive local), or None if it has none."""
        assert self._parse_ts is not None
        try:
            return self._parse_ts.local(self._ts_text(fields))
        except (RowError, ValueError, OverflowError):
            return None

    def _title(self, index: int) -> str:
        names = self._names
        return names[index] if index < len(names) else str(index + 1)

    def _row_time(self, fields: list[str], raw: RawRecord) -> tuple[str, list[str] | None]:
        """(ts, None), or (ts, both readings) for a local time that is not certain."""
        try:
            return self.timestamp(fields), None
        except AmbiguousTimeError as e:
            reading = None
            if not e.gap and self._resolver is not None:
                reading = self._resolver.reading(raw, e.local)
            if reading is not None:
                return format_utc(e.readings[reading]), None
            return self._uncertain(self._ts_title, e)
        except TimestampError as e:
            raise RowError(f"column {self._ts_title}: {e}") from None

    def _uncertain(self, title: str, e: AmbiguousTimeError) -> tuple[str, list[str]]:
        readings = [format_utc(r) for r in e.readings]
        if self._dataset.csv.uncertain_times == "quarantine":
            raise RowError(
                f"column {title}: {e}; the rows around it do not tell which reading "
                f"({' or '.join(readings)}) is meant (csv.uncertainTimes: flag publishes it "
                "flagged)"
            )
        # The first reading, unless a newest-first file meets the repeat from its end.
        chosen = readings[1] if self._descending and not e.gap else readings[0]
        return chosen, readings

    def _build_slowly(self, fields: list[str], raw: RawRecord) -> Record:
        """The same as the row function, value by value, to name the value that does not fit."""
        record: Record = {}
        uncertain: dict[str, list[str]] = {}
        if self._ts_index:
            record["ts"], alternatives = self._row_time(fields, raw)
            if alternatives is not None:
                uncertain["ts"] = alternatives
        elif self._fixed_ts is not None:
            record["ts"] = self._fixed_ts
        record["line"] = raw.line
        nulls = self._nulls
        decimal, thousands = self._dataset.csv.decimal, self._dataset.csv.thousands
        for column in self._columns:
            text = fields[column.index] if column.index < len(fields) else None
            if text is None or text in nulls:
                value = None
                if column.packed:
                    record.update(dict.fromkeys(column.packed))
                    continue
            else:
                try:
                    value = column.convert(text)
                except AmbiguousTimeError as e:
                    value, alternatives = self._uncertain(repr(column.title), e)
                    uncertain[column.name] = alternatives
                except (ValueError, TimestampError, OverflowError) as e:
                    hint = (
                        number_hint(text, decimal, thousands)
                        if "number" in column.description or "integer" in column.description
                        else ""
                    )
                    detail = f" ({e})" if column.packed else ""
                    raise RowError(
                        f"column {column.title!r}: {text!r} is not "
                        f"{column.description}{detail}{hint}"
                    ) from None
            if value is None and column.required:
                raise RowError(f"column {column.title!r} is required but empty")
            if column.packed:
                assert isinstance(value, dict)
                record.update(value)
            else:
                record[column.name] = value
        if uncertain:
            record["uncertain"] = uncertain
        return record
