"""Helpers for the CSV reader tests: files are bytes built in the tests, read from memory."""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from typing import Any

from edge_agent.config.datasets import CsvConfig, DatasetConfig
from edge_agent.csvread.lines import newline_unit
from edge_agent.csvread.reader import Layout, RawRecord, iter_records, read_layout
from edge_agent.datasets.generic import RecordBuilder, RowError


def dataset(columns: dict[str, Any] | None = None, **csv: Any) -> DatasetConfig:
    """A dataset configuration as a technician writes it (camelCase csv keys)."""
    return DatasetConfig.model_validate({"csv": csv, "columns": columns or {}})


def read(
    data: bytes,
    options: CsvConfig | DatasetConfig | None = None,
    *,
    final: bool = True,
    start: tuple[int, int] | None = None,
    end: int | None = None,
) -> tuple[Layout, list[RawRecord]]:
    """The layout and every record of ``data`` (from ``start`` = (offset, line) if given)."""
    if isinstance(options, DatasetConfig):
        options = options.csv
    options = options or CsvConfig()
    stream = io.BytesIO(data)
    layout = read_layout(stream, options)
    offset, line = start or (layout.data_offset, layout.data_line)
    records = list(
        iter_records(
            stream, layout, options, start_offset=offset, start_line=line, final=final, end=end
        )
    )
    return layout, records


@dataclass
class Row:
    """What became of one record: a typed record, a quarantine reason or a skip reason."""

    raw: RawRecord
    record: dict[str, Any] | None = None
    error: str | None = None
    skipped: str | None = None


def build(
    data: bytes, ds: DatasetConfig, *, final: bool = True
) -> tuple[Layout, RecordBuilder, list[Row]]:
    """Read and type every record of ``data`` the way ingest does."""
    layout, records = read(data, ds, final=final)
    builder = RecordBuilder(ds, layout)
    rows = []
    for raw in records:
        if raw.fields is not None and (reason := builder.skip_reason(raw)) is not None:
            rows.append(Row(raw, skipped=reason))
            continue
        try:
            rows.append(Row(raw, record=builder.build(raw)))
        except RowError as e:
            rows.append(Row(raw, error=str(e)))
    check_accounting(data, layout, records, final=final)
    return layout, builder, rows


def records_of(rows: list[Row]) -> list[dict[str, Any]]:
    """The typed records; fails if any row was quarantined."""
    errors = [(r.raw.line, r.error) for r in rows if r.error is not None]
    assert not errors, errors
    return [r.record for r in rows if r.record is not None]


def count_lines(data: bytes, codec: str) -> int:
    """Physical lines in ``data``: newlines on a code-unit boundary, plus an unfinished one."""
    unit = newline_unit(codec)
    n = len(unit)
    count = sum(1 for i in range(0, len(data) - n + 1, n) if data[i : i + n] == unit)
    unfinished = bool(data) and not (len(data) % n == 0 and data.endswith(unit))
    return count + unfinished


def check_accounting(
    data: bytes,
    layout: Layout,
    records: list[RawRecord],
    *,
    final: bool,
    start: tuple[int, int] | None = None,
    end: int | None = None,
) -> None:
    """Every byte and every physical line of the data section is in exactly one record.

    Records follow each other without gap or overlap; each record's bytes are its lines;
    a complete file is read to its end, a growing one up to (at most) its last newline.
    """
    codec = layout.encoding.codec
    offset, line = start or (layout.data_offset, layout.data_line)
    stop = len(data) if end is None else min(end, len(data))
    ends = [offset] + [r.end_offset for r in records]
    # The bytes from the start to each end offset in turn are the data section, in order.
    assert b"".join(data[a:b] for a, b in itertools.pairwise(ends)) == data[offset : ends[-1]]
    for record in records:
        assert record.line == line, (record, line)
        assert record.end_offset > offset, record
        piece = data[offset : record.end_offset]
        assert record.next_line - record.line == count_lines(piece, codec), record
        if record.fields is not None:
            text = "".join(record.lines)
            decoded = piece.decode(codec)
            assert text in (decoded, decoded + "\n"), (text, decoded)
        offset, line = record.end_offset, record.next_line
    unit = newline_unit(codec)
    if final:
        assert offset == max(stop, layout.data_offset), (offset, stop)
    else:
        last_newline = data.rfind(unit, 0, stop)
        while last_newline > 0 and (last_newline - layout.encoding.bom_length) % len(unit):
            last_newline = data.rfind(unit, 0, last_newline + len(unit) - 1)
        assert offset <= max(last_newline + len(unit), layout.data_offset), (offset, last_newline)
