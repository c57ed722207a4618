"""Files that mix several kinds of rows, told apart by a discriminator column.

A Campbell mixed-array logger writes each output table's rows with the table's ID first
(``101,...``, ``102,...``), each with its own columns; a WinCC long log writes one row per tag.
Each kind of row gets its own column map (``recordTypes.types``) and a builder of its own; the
record says which kind it is in ``recordType``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

from edge_agent.config.datasets import DatasetConfig
from edge_agent.csvread.layout import FileFormatError, Layout
from edge_agent.csvread.records import RawRecord
from edge_agent.datasets.columns import RowError
from edge_agent.datasets.kinds import sample_rows


class Builder(Protocol):
    """What a record type needs of the builder of its rows (``generic.RecordBuilder``; a
    protocol, so that the builder's module, which imports this one, is not imported back)."""

    units: dict[str, str]
    warnings: list[str]

    def build(self, raw: RawRecord) -> dict[str, Any]:
        """The typed record of a row, or RowError."""
        ...


class RecordTypes:
    """The builders of the kinds of rows of one file, and the dispatch by discriminator."""

    def __init__(
        self,
        dataset: DatasetConfig,
        layout: Layout,
        make: Callable[[DatasetConfig, Layout], Builder],
    ) -> None:
        config = dataset.record_types
        assert config is not None
        self.units: dict[str, str] = {}
        self.warnings: list[str] = []
        self._unknown = config.unknown
        header = list(layout.header or ())
        column = config.column
        if column in header:
            self._index = header.index(column)
        elif column.isdigit() and int(column) >= 1:
            self._index = int(column) - 1
        else:
            raise FileFormatError(
                f"recordTypes.column {column!r} is not in the header "
                f"(columns: {', '.join(header) or 'none'})"
            )
        rows = sample_rows(layout, dataset.csv)
        self._builders: dict[str, Builder] = {}
        self._names: dict[str, str] = {}
        for key, kind in config.types.items():
            csv = dataset.csv.model_copy(
                update={
                    k: v
                    for k, v in (
                        ("timestamp_column", kind.timestamp_column),
                        ("timestamp_format", kind.timestamp_format),
                    )
                    if v is not None
                }
            )
            sub = dataset.model_copy(
                update={"csv": csv, "columns": kind.columns, "record_types": None}
            )
            sub_layout = layout
            if layout.numbered:
                # Without header, each kind of row is as wide as its widest first rows.
                width = max(
                    (
                        len(r)
                        for r in rows
                        if len(r) > self._index and r[self._index].strip() == key
                    ),
                    default=len(header),
                )
                own = [r for r in rows if len(r) > self._index and r[self._index].strip() == key]
                sub_layout = dataclasses.replace(
                    layout,
                    header=tuple(str(i + 1) for i in range(width)),
                    sample=tuple(_rejoin(r, layout) for r in own)
                    if own and layout.cuts is None
                    else layout.sample,
                )
            builder = make(sub, sub_layout)
            self._builders[key] = builder
            self._names[key] = kind.name or key
            for field, unit in builder.units.items():
                if self.units.setdefault(field, unit) != unit:
                    self.warnings.append(
                        f"field {field!r} has unit {self.units[field]!r} in one record type "
                        f"and {unit!r} in another; the envelope carries the first"
                    )
            self.warnings.extend(f"record type {key!r}: {w}" for w in builder.warnings)

    def skip_reason(self, raw: RawRecord) -> str | None:
        """Rows of an unlisted kind, when recordTypes.unknown is skip."""
        if self._unknown == "skip" and raw.fields is not None:
            key = raw.fields[self._index].strip() if self._index < len(raw.fields) else ""
            if key not in self._builders:
                return f"record type {key!r} is not in recordTypes.types"
        return None

    def build(self, raw: RawRecord) -> dict[str, Any]:
        """The record of a row, typed by the builder of its kind."""
        fields = raw.fields
        if fields is None:
            raise RowError(raw.problem or "unreadable row")
        key = fields[self._index].strip() if self._index < len(fields) else ""
        builder = self._builders.get(key)
        if builder is None:
            raise RowError(
                f"record type {key!r} (column {self._index + 1}) is not in recordTypes.types "
                f"({', '.join(map(repr, self._builders))})"
            )
        record = builder.build(raw)
        record["recordType"] = self._names[key]
        return record


def _rejoin(fields: list[str], layout: Layout) -> str:
    """A sample row as text again (the sub-builder reads its sample with the same layout)."""
    quote = layout.quotechar
    return layout.delimiter.join(
        f"{quote}{f.replace(quote, quote * 2)}{quote}" if layout.delimiter in f or quote in f else f
        for f in fields
    )
