"""Headerless files mixing several kinds of rows (Campbell mixed arrays: 101, 102, ...).

The first cell of each row names its kind; each kind has its own width and columns. ``infer``
proposes ``recordTypes`` keyed by that first cell, each kind typed from its own rows (and named
from a Short Cut ``.DEF`` beside the file when one describes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge_agent.infer.columns import ColumnGuess
from edge_agent.infer.guesses import column_guesses
from edge_agent.infer.rows import sidecar_names
from edge_agent.infer.table import Table
from edge_agent.infer.times import TimeGuess, find_timestamp


@dataclass
class Kind:
    """One kind of row: its key, the time found in its rows, its columns."""

    key: str
    time: TimeGuess | None
    columns: list[ColumnGuess]


def array_ids(rows: list[list[str]]) -> list[str] | None:
    """The kinds of a headerless file whose first cell is a small set of integer IDs."""
    ids = [r[0].strip() for r in rows if r]
    distinct = list(dict.fromkeys(ids))
    if 2 <= len(distinct) <= 10 and all(i.isdigit() for i in distinct):
        widths = {i: {len(r) for r in rows if r and r[0].strip() == i} for i in distinct}
        if len({max(w) for w in widths.values()}) > 1:
            return distinct  # the kinds differ in width: not one table
    return None


def kinds_of(
    path: Path,
    rows: list[list[str]],
    ids: list[str],
    table: Table,
    *,
    decimal: str,
    thousands: str | None,
    notes: dict[str, str],
) -> list[Kind]:
    """Each kind's time and columns, typed from its own rows."""
    kinds = []
    for key in ids:
        own = [r for r in rows if r and r[0].strip() == key]
        width = max(len(r) for r in own)
        columns = [[r[i] if i < len(r) else "" for r in own] for i in range(width)]
        keys = [str(i + 1) for i in range(width)]
        names = sidecar_names(path, columns, width, {})
        if names:
            notes["recordTypes"] = "each kind of row named from the .DEF beside the file"
        time = find_timestamp(names or keys, columns, [])
        guesses = column_guesses(
            keys=keys,
            names=names,
            columns=columns,
            table=table,
            guess=time,
            decimal=decimal,
            thousands=thousands,
        )
        kinds.append(Kind(key, time, guesses))
    return kinds
