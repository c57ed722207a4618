"""The generated function that types one row: one dict display, no per-column loop.

Typing every value is the agent's hottest code; a generated function is about twice as fast as
a loop over the columns. Only integers and repr()'d names go into the source; converters are
passed in by name. Every inline form gives what the column's converter gives, or raises, and
the row is typed again value by value (``RecordBuilder._build_slowly``), which names the value.
A feature a dataset does not use costs nothing here: it is not in the generated source.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import CodeType
from typing import Any

from edge_agent.config.datasets import CsvConfig
from edge_agent.datasets.columns import Column

_FORMS = {
    "call": "c{n}(v)",
    # Text as written: the file's first rows made the column text.
    "asis": "v",
    # A number column: ints of up to 19 digits, floats with a point, else its converter
    # (float() also reads "1_0.5" and digits of other scripts, which the converter refuses).
    "number": (
        '(int(v) if v.isdecimal() and (v[0] != "0" or len(v) == 1) and len(v) < 20 else '
        '(x if "." in v and "_" not in v and v.isascii() and (x := float(v)) - x == 0.0 '
        "else c{n}(v)))"
    ),
}


@dataclass(frozen=True, slots=True)
class RowSpec:
    """What the row function of one file needs of its builder."""

    csv: CsvConfig
    parse_ts: Callable[[str], str]
    """One timestamp field to ``ts``."""
    timestamp: Callable[[list[str]], str]
    """``ts`` from the fields (several columns, a time base)."""
    nulls: frozenset[str]
    ts_index: tuple[int, ...]
    prefixed: bool
    """The time has a prefix from the preamble: always through ``timestamp``."""
    fixed_ts: str | None = None
    """The ``ts`` of every row of a file without a time column (its time base)."""


@functools.lru_cache(maxsize=256)
def _code(source: str) -> CodeType:
    """The compiled definition of a row function (files of one dataset share it: compiling
    it again for each of a million small files was a sixth of their reading time)."""
    return compile(source, "<row function>", "exec")


def compile_row(
    spec: RowSpec, columns: Sequence[Column]
) -> Callable[[list[str], int], dict[str, Any]]:
    """The row function of a file: ``row(fields, line) -> record``."""
    options = spec.csv
    parser = spec.parse_ts
    namespace: dict[str, Any] = {
        "nulls": spec.nulls,
        "P": parser,
        "T": spec.timestamp,
        "F": datetime.fromisoformat,
    }
    items = []
    ts_index = spec.ts_index
    if len(ts_index) == 1 and not spec.prefixed:
        # A null marker or a bad value raises in P (or F); the slow path says which.
        index = int(ts_index[0])
        if options.timestamp_format == "iso":
            # Canonical UTC timestamps (timestamps.is_canonical) are checked inline.
            items.append(
                f'"ts": v if len(v := f[{index}]) == 20 and v[4::3] == "--T::Z" and F(v) else P(v)'
            )
        else:
            items.append(f'"ts": P(f[{index}])')
    elif ts_index:
        items.append('"ts": T(f)')
    elif spec.fixed_ts is not None:
        items.append(f'"ts": {spec.fixed_ts!r}')
    items.append('"line": line')
    for n, column in enumerate(columns):
        namespace[f"c{n}"] = column.convert
        index = int(column.index)
        if column.form == "packed":
            namespace[f"e{n}"] = dict.fromkeys(column.packed)
            items.append(f"**(e{n} if (v := f[{index}]) in nulls else c{n}(v))")
            continue
        value = _FORMS[column.form].format(n=n)
        items.append(f"{column.name!r}: None if (v := f[{index}]) in nulls else {value}")
    source = "def row(f, line):\n    return {" + ", ".join(items) + "}\n"
    exec(_code(source), namespace)
    row: Callable[[list[str], int], dict[str, Any]] = namespace["row"]
    return row
