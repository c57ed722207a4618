"""The converter of each column: from a column's configuration and its type in this file."""

from __future__ import annotations

from edge_agent.config.datasets import ColumnConfig, CsvConfig
from edge_agent.csvread.numbers import number_converter, scaled
from edge_agent.csvread.timestamps import TimestampParser
from edge_agent.csvread.values import (
    Converter,
    bool_converter,
    float_converter,
    inferring_converter,
    int_converter,
    str_converter,
    timestamp_converter,
)
from edge_agent.datasets.timebase import FileTime


def column_converter(
    column: ColumnConfig,
    kind: str | None,
    *,
    options: CsvConfig,
    markers: frozenset[str],
    time: FileTime,
) -> tuple[Converter, str, str]:
    """(converter, what it reads for quarantine reasons, the row function's form).

    ``kind`` is the type an unlisted column has in this file (``kinds.column_kind``).
    """
    decimal, thousands = options.decimal, options.thousands
    inline = decimal == "." and thousands is None
    convert: Converter
    if column.type == "float":
        convert, description, form = (
            float_converter(decimal, markers, thousands),
            "a number",
            "call",
        )
    elif column.type == "int":
        convert, description, form = (
            int_converter(decimal, markers, thousands),
            "an integer",
            "call",
        )
    elif column.type == "bool":
        return bool_converter(markers), "a boolean (true/false, 1/0, yes/no)", "call"
    elif column.type == "str":
        return str_converter(markers), "text", "call"
    elif column.type == "timestamp":
        # Its own parser: each timestamp column has its own DST repeats.
        parser = TimestampParser(options.timestamp_format, time.zone, base=time.base)
        return (
            timestamp_converter(parser, markers),
            (f"a timestamp in format {options.timestamp_format}"),
            "call",
        )
    elif kind == "number":
        convert = number_converter(decimal, thousands, markers)
        description = (
            "a number (as in this file's first rows; map the column with type: str if it "
            "holds text)"
        )
        form = "number" if inline and column.scale is None and column.offset is None else "call"
    elif kind == "bool":
        return bool_converter(markers), "a boolean (as in this file's first rows)", "call"
    elif kind == "text":
        return str_converter(markers), "text", "asis"
    else:
        convert, description, form = inferring_converter(decimal, markers), "a value", "call"
    if column.scale is not None or column.offset is not None:
        convert, form = scaled(convert, column.scale, column.offset), "call"
    return convert, description, form
