"""The column map ``infer`` proposes: a field name, type and unit per column."""

from __future__ import annotations

from edge_agent.infer.columns import (
    ColumnGuess,
    cell_type,
    field_names,
    packed_keys,
    slug,
    split_unit,
)
from edge_agent.infer.table import Table
from edge_agent.infer.times import TimeGuess, best_format, datetime_formats


def column_guesses(
    *,
    keys: list[str],
    names: list[str],
    columns: list[list[str]],
    table: Table,
    guess: TimeGuess | None,
    decimal: str,
    thousands: str | None,
) -> list[ColumnGuess]:
    """How to read each column that is not the time of the row."""
    titles = [n or f"col{i + 1}" for i, n in enumerate(names or [""] * len(keys))]
    fields = field_names(titles)
    out = []
    ts = guess.columns if guess is not None else ()
    for i, key in enumerate(keys):
        if i in ts:
            continue
        values = [v for v in columns[i] if v.strip()]
        title = names[i] if names else ""
        column = ColumnGuess(i, key if key else str(i + 1), name=fields[i])
        if not key.strip() and table.header is not None:
            column.key = str(i + 1)
        if not values:
            if not title.strip():
                column.skip = True
            else:
                column.note = "empty in every row read: typed value by value; set its type"
                column.unit = split_unit(title)[1]
            out.append(column)
            continue
        packed = packed_keys(values)
        if packed is not None:
            column.packed = {k: f"{column.name}_{slug(k) or k}" for k in packed}
            column.type = cell_type(
                [p.partition(":")[2] for v in values for p in v.split()], decimal, thousands
            )
            column.note = "each cell holds key:value readings, split into fields"
            out.append(column)
            continue
        kind = cell_type(values, decimal, thousands)
        if guess is not None and guess.fmt in ("offset_ms", "offset_s") and i in guess.more:
            kind = "timestamp"  # another channel's time (TwinCAT): an instant too
        elif (
            guess is not None
            and kind == "str"
            and guess.fmt != "%Y %j %H%M"
            and best_format(values, [guess.fmt, *datetime_formats()[:1]]) is not None
        ):
            kind = "timestamp"
        if kind is None:
            column.note = "only no-value markers in the rows read: typed value by value"
        column.type = kind
        if kind == "timestamp":
            pass  # a time has no unit (TOA5 gives the TMx columns their value's unit)
        elif table.units_cells and i < len(table.units_cells) and table.units_cells[i].strip():
            column.unit = table.units_cells[i].strip()
        elif title:
            column.unit = split_unit(title)[1]
        out.append(column)
    return out
