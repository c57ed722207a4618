"""Datasets: how the files of a source are read (CSV dialect) and typed (columns).

Every field carries a one-line description: ``docs/configuration.md`` is generated from them.
"""

from __future__ import annotations

import codecs
import re
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from edge_agent.config.base import Model
from edge_agent.config.topics import TopicTemplate
from edge_agent.csvread.timeformats import RELATIVE_FORMATS, check_format
from edge_agent.csvread.zones import ZoneError, parse_zone

ColumnType = Literal["float", "int", "bool", "str", "timestamp"]


def _regex(pattern: str, key: str) -> str:
    try:
        re.compile(pattern)
    except re.error as e:
        raise ValueError(f"{key}: {pattern!r} is not a regular expression: {e}") from None
    return pattern


class PackedConfig(Model):
    """A cell holding several readings (``"0:681 1:681 "``), split into named fields."""

    model_config = ConfigDict(**{**Model.model_config, "str_strip_whitespace": False})

    separator: str = Field(
        default=" ", min_length=1, description="Text between the readings of the cell."
    )
    key_separator: str | None = Field(
        default=":",
        description="Text between a reading's key and its value (`0:681`); null when the "
        "readings are positional.",
    )
    names: dict[str, str] | tuple[str, ...] = Field(
        description="Field name per key (`{'0': soil_1}`), or per position (a list) when "
        "keySeparator is null."
    )


class ColumnConfig(Model):
    """How one column of the file becomes one field of the record."""

    name: str | None = Field(
        default=None, description="Field name in the record (default: the header text)."
    )
    type: ColumnType | None = Field(
        default=None,
        description="float, int, bool, str or timestamp; unset: one type per file from its "
        "first rows.",
    )
    unit: str | None = Field(
        default=None, description="Unit published with the dataset (overrides the units row)."
    )
    required: bool = Field(default=False, description="An empty value quarantines the row.")
    skip: bool = Field(default=False, description="Leave this column out of the record.")
    scale: float | None = Field(
        default=None, description="Multiply the value by this (a logger that stores x10)."
    )
    offset: float | None = Field(
        default=None, description="Add this to the value, after scale (a zero offset)."
    )
    packed: PackedConfig | None = Field(
        default=None, description="Split a cell holding several readings into named fields."
    )

    @model_validator(mode="after")
    def _numeric(self) -> ColumnConfig:
        if (self.scale is not None or self.offset is not None) and self.type in (
            "bool",
            "str",
            "timestamp",
        ):
            raise ValueError(f"scale and offset apply to numbers, not to type {self.type}")
        return self


class TimeBaseConfig(Model):
    """A date or start time written once in the lines before the header (the preamble)."""

    model_config = ConfigDict(**{**Model.model_config, "str_strip_whitespace": False})

    pattern: str = Field(
        description="Regular expression searched in each preamble line, then in the preamble "
        "as one text (lines joined by newlines); its group `base` (or groups `date` and "
        "`time`, joined by a space, or its first group) is the time base."
    )
    format: str | None = Field(
        default=None,
        description="How to read the base as an instant (iso, epoch_s, epoch_ms, filetime or "
        "a strptime format): the start of offset_s/offset_ms rows, or the time of every row "
        "of a file without a timestamp column (one trace per file); null: the base text is "
        "put in front of each row's time and timestampFormat reads both.",
    )

    @field_validator("pattern")
    @classmethod
    def _valid(cls, v: str) -> str:
        return _regex(v, "timeBase.pattern")


class CsvConfig(Model):
    """The CSV dialect of a dataset's files."""

    # Whitespace is meaningful here: a tab delimiter, a blank null marker.
    model_config = ConfigDict(**{**Model.model_config, "str_strip_whitespace": False})

    encoding: str = Field(
        default="auto",
        description="auto (byte order mark, else UTF-16 guess, else utf-8) or a Python codec "
        "such as cp1252.",
    )
    delimiter: str = Field(
        default="auto",
        description='auto (sniffed, a "sep=" line wins), one character (",", ";", "\\t", '
        '"|"), or fixed for whitespace-aligned columns.',
    )
    quotechar: str = Field(default='"', description="Character that quotes a field.")
    decimal: Literal[".", ","] = Field(
        default=".", description='Decimal separator of numbers: "." or ",".'
    )
    thousands: Literal[",", ".", " ", "'"] | None = Field(
        default=None,
        description="Thousands separator of numbers (1,137 or 1.137,5); null: none is allowed.",
    )
    header_row: int | None = Field(
        default=1, ge=1, description="1-based line holding the column names; null: no header."
    )
    header_rows: int = Field(
        default=1,
        ge=1,
        le=8,
        description="How many lines from headerRow hold the names, stacked (two-line headers).",
    )
    units_row: int | None = Field(
        default=None, ge=1, description="1-based line holding the units, if any."
    )
    first_data_row: int | None = Field(
        default=None,
        ge=1,
        description="1-based line of the first data row (default: the line after the header "
        "and units rows).",
    )
    null_values: tuple[str, ...] = Field(
        default=("", "NaN", "-"), description="Cell texts that mean no value (compared stripped)."
    )
    timestamp_column: str | tuple[str, ...] | None = Field(
        default=None,
        description="Column of the record time, or a list of columns joined with a space "
        "(date, time); by header text or 1-based position.",
    )
    timestamp_format: str = Field(
        default="iso",
        description="iso, epoch_s, epoch_ms, filetime, offset_s or offset_ms (from timeBase), "
        "or a strptime format with a year (%j, %I/%p with a/p, %H%M as HHMM with 2400 also "
        "read).",
    )
    timezone: str = Field(
        default="UTC",
        description="Zone of times without offset: an IANA name (Europe/Berlin) or a fixed "
        "offset (UTC-05:00, +01:00).",
    )
    timezone_pattern: str | None = Field(
        default=None,
        description="Regular expression that finds the zone in the timestamp column's header "
        "or the preamble (group `zone` or the first group); the file is refused without it.",
    )
    time_base: TimeBaseConfig | None = Field(
        default=None,
        description="A date or start instant found in the preamble, combined with each row's time.",
    )
    row_order: Literal["auto", "ascending", "descending"] = Field(
        default="auto",
        description="Order of the rows in time: auto (detected from the first rows), ascending, "
        "or descending (newest first); decides repeated DST hours.",
    )
    uncertain_times: Literal["flag", "quarantine"] = Field(
        default="flag",
        description="A local time that cannot be read with certainty (DST repeat or gap): "
        "flag (record field `uncertain`) or quarantine.",
    )
    short_rows: Literal["quarantine", "pad"] = Field(
        default="quarantine",
        description="A row with fewer fields than the header: quarantine it, or pad its "
        "missing trailing cells with nulls.",
    )
    skip_patterns: tuple[str, ...] = Field(
        default=(),
        description="Regular expressions: a row whose text matches one is skipped and counted.",
    )
    footer_patterns: tuple[str, ...] = Field(
        default=(),
        description="Regular expressions for footer lines (EOF, totals): skipped and counted.",
    )
    record_start_pattern: str | None = Field(
        default=None,
        description="Regular expression for a line that starts a record (a time line); the "
        "lines after it up to the next match are its values.",
    )
    max_line_bytes: int = Field(
        default=1_048_576, ge=256, description="Longest line read; longer ones are quarantined."
    )

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, v: str) -> str:
        if v == "auto":
            return v
        try:
            codecs.lookup(v)
        except LookupError:
            raise ValueError(
                f"unknown encoding {v!r}; use auto, utf-8, utf-16, cp1252, latin-1, ..."
            ) from None
        return v

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, v: str) -> str:
        if v == "\\t":
            return "\t"
        if v not in ("auto", "fixed") and len(v) != 1:
            raise ValueError('delimiter is one character (",", ";", "\\t", "|"), auto or fixed')
        return v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            parse_zone(v)
        except ZoneError as e:
            raise ValueError(str(e)) from None
        return v

    @field_validator("timestamp_format")
    @classmethod
    def _format(cls, v: str) -> str:
        problem = check_format(v)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("skip_patterns", "footer_patterns")
    @classmethod
    def _regexes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in v:
            _regex(pattern, "pattern")
        return v

    @field_validator("timezone_pattern", "record_start_pattern")
    @classmethod
    def _one_regex(cls, v: str | None) -> str | None:
        return v if v is None else _regex(v, "pattern")

    @model_validator(mode="after")
    def _rows_in_order(self) -> CsvConfig:
        if self.header_row is None and self.units_row is not None:
            raise ValueError("unitsRow needs headerRow")
        last = max(r for r in (self.header_end, self.units_row, 0) if r is not None)
        if self.first_data_row is not None and self.first_data_row <= last:
            raise ValueError(f"firstDataRow ({self.first_data_row}) must come after line {last}")
        if self.timestamp_format in RELATIVE_FORMATS and (
            self.time_base is None or self.time_base.format is None
        ):
            raise ValueError(
                f"timestampFormat {self.timestamp_format} counts from a start time: set "
                "timeBase with a pattern and a format (e.g. {pattern: 'Start;(\\d+)', "
                "format: filetime})"
            )
        if self.delimiter == "fixed" and self.header_row is None and self.header_rows > 1:
            raise ValueError("headerRows needs headerRow")
        return self

    @property
    def header_end(self) -> int | None:
        """1-based last line of the (possibly stacked) header, or None without header."""
        if self.header_row is None:
            return None
        return self.header_row + self.header_rows - 1

    @property
    def data_start_line(self) -> int:
        """1-based physical line of the first data row."""
        if self.first_data_row is not None:
            return self.first_data_row
        return max(r for r in (self.header_end, self.units_row, 0) if r is not None) + 1


class RecordTypeConfig(Model):
    """One kind of row in a file that mixes several, told apart by a discriminator column."""

    name: str | None = Field(
        default=None, description="Value of the record's `recordType` field (default: the key)."
    )
    columns: dict[str, ColumnConfig] = Field(
        default_factory=dict, description="Column map of this kind of row (as dataset columns)."
    )
    timestamp_column: str | tuple[str, ...] | None = Field(
        default=None, description="Overrides csv.timestampColumn for this kind of row."
    )
    timestamp_format: str | None = Field(
        default=None, description="Overrides csv.timestampFormat for this kind of row."
    )

    @field_validator("timestamp_format")
    @classmethod
    def _format(cls, v: str | None) -> str | None:
        problem = check_format(v) if v is not None else None
        if problem:
            raise ValueError(problem)
        return v


class RecordTypesConfig(Model):
    """Several kinds of rows in one file (Campbell mixed arrays, one row per tag)."""

    column: str = Field(
        description="Discriminator column (header text or 1-based position) whose value names "
        "the kind of row."
    )
    types: dict[str, RecordTypeConfig] = Field(
        min_length=1, description="Each discriminator value and how its rows are typed."
    )
    unknown: Literal["quarantine", "skip"] = Field(
        default="quarantine",
        description="A row whose discriminator value is not listed: quarantine or skip it.",
    )


DatasetKind = Literal["generic", "tower", "site", "automation", "seeding"]
FARM_KINDS = frozenset({"tower", "site", "automation", "seeding"})


class DatasetConfig(Model):
    """How the files of one dataset are read, typed and published."""

    kind: DatasetKind = Field(
        default="generic",
        description="generic, or a farm stream (tower, site, automation, seeding).",
    )
    csv: CsvConfig = Field(default=CsvConfig(), description="The CSV dialect of the files.")
    columns: dict[str, ColumnConfig] = Field(
        default_factory=dict,
        description="Column map keyed by header text or 1-based position; unlisted columns "
        "are published with one inferred type per file.",
    )
    record_types: RecordTypesConfig | None = Field(
        default=None, description="Rows of several kinds told apart by a discriminator column."
    )
    topic: str = Field(
        default="dt/edge-agent/{thingName}/{dataset}",
        description="MQTT topic template ({thingName}, {dataset}, {kind}, {source}).",
    )

    @field_validator("topic")
    @classmethod
    def _template(cls, v: str) -> str:
        TopicTemplate(v)  # raises ValueError naming the bad placeholder
        return v
