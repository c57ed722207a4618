"""Datasets: how the files of a source are read (CSV dialect) and typed (columns)."""

from __future__ import annotations

import codecs
import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, field_validator, model_validator

from edge_agent.config.base import Model
from edge_agent.config.topics import TopicTemplate

ColumnType = Literal["float", "int", "bool", "str", "timestamp"]


class ColumnConfig(Model):
    """How one column of the file becomes one field of the record."""

    name: str | None = None
    type: ColumnType | None = None
    unit: str | None = None
    required: bool = False
    skip: bool = False


class CsvConfig(Model):
    """The CSV dialect of a dataset's files."""

    # Whitespace is meaningful here: a tab delimiter, a blank null marker.
    model_config = ConfigDict(**{**Model.model_config, "str_strip_whitespace": False})

    encoding: str = "auto"
    delimiter: str = "auto"
    quotechar: str = '"'
    decimal: Literal[".", ","] = "."
    header_row: int | None = Field(default=1, ge=1)
    units_row: int | None = Field(default=None, ge=1)
    first_data_row: int | None = Field(default=None, ge=1)
    null_values: tuple[str, ...] = ("", "NaN", "-")
    timestamp_column: str | tuple[str, ...] | None = None
    timestamp_format: str = "iso"
    timezone: str = "UTC"
    skip_patterns: tuple[str, ...] = ()
    max_line_bytes: int = Field(default=1_048_576, ge=256)

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
        if v != "auto" and len(v) != 1:
            raise ValueError('delimiter is one character (",", ";", "\\t", "|") or auto')
        return v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r}; use an IANA name such as Europe/Berlin or UTC"
            ) from None
        return v

    @field_validator("timestamp_format")
    @classmethod
    def _format(cls, v: str) -> str:
        if v in ("iso", "epoch_s", "epoch_ms"):
            return v
        if "%" not in v:
            raise ValueError(
                "timestampFormat is iso, epoch_s, epoch_ms or a strptime format such as "
                "'%d.%m.%Y %H:%M:%S'"
            )
        return v

    @field_validator("skip_patterns")
    @classmethod
    def _regexes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(
                    f"skipPatterns: {pattern!r} is not a regular expression: {e}"
                ) from None
        return v

    @model_validator(mode="after")
    def _rows_in_order(self) -> CsvConfig:
        if self.header_row is None and self.units_row is not None:
            raise ValueError("unitsRow needs headerRow")
        last = max(r for r in (self.header_row, self.units_row, 0) if r is not None)
        if self.first_data_row is not None and self.first_data_row <= last:
            raise ValueError(f"firstDataRow ({self.first_data_row}) must come after line {last}")
        if self.header_row is None and self.first_data_row is None:
            return self
        return self

    @property
    def data_start_line(self) -> int:
        """1-based physical line of the first data row."""
        if self.first_data_row is not None:
            return self.first_data_row
        return max(r for r in (self.header_row, self.units_row, 0) if r is not None) + 1


DatasetKind = Literal["generic", "tower", "site", "automation", "seeding"]
FARM_KINDS = frozenset({"tower", "site", "automation", "seeding"})


class DatasetConfig(Model):
    """How the files of one dataset are read, typed and published."""

    kind: DatasetKind = "generic"
    csv: CsvConfig = CsvConfig()
    columns: dict[str, ColumnConfig] = Field(default_factory=dict)
    topic: str = "dt/edge-agent/{thingName}/{dataset}"

    @field_validator("topic")
    @classmethod
    def _template(cls, v: str) -> str:
        TopicTemplate(v)  # raises ValueError naming the bad placeholder
        return v
