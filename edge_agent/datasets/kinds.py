"""One type per file for unlisted columns, decided from the file's first data rows.

A column whose cells are numbers in the first rows is a number column for the whole file: a
later cell that is not a number is quarantined with a reason (it is not published as a string
in one record and a number in the next). A column with any text in its first rows is text for
the whole file, published as written. The first rows are read with the file's layout
(``Layout.sample``), so a pass resumed in the middle of the file decides exactly as a whole one.
"""

from __future__ import annotations

import csv
import re
from typing import Literal

from edge_agent.config.datasets import CsvConfig
from edge_agent.csvread.fixedwidth import RULE, split_fixed
from edge_agent.csvread.layout import Layout
from edge_agent.csvread.numbers import number_hint
from edge_agent.csvread.values import inferring_converter

Kind = Literal["number", "bool", "text"]


def sample_rows(layout: Layout, options: CsvConfig) -> list[list[str]]:
    """The fields of the file's first data rows (skipped, footer and blank rows left out)."""
    patterns = [re.compile(p) for p in (*options.skip_patterns, *options.footer_patterns)]
    start = re.compile(options.record_start_pattern) if options.record_start_pattern else None
    rows: list[list[str]] = []
    for text in layout.sample:
        if any(p.search(text) for p in patterns):
            continue
        try:
            if layout.cuts is not None:
                if RULE.match(text):
                    continue
                fields = split_fixed(text, layout.cuts)
            else:
                fields = next(
                    csv.reader([text], delimiter=layout.delimiter, quotechar=layout.quotechar),
                    [],
                )
        except csv.Error:
            continue
        if not any(f.strip() for f in fields):
            continue
        if start is not None and not start.search(text):
            if rows:  # a value line: part of the record its time line started
                rows[-1] = rows[-1] + fields
            continue
        rows.append(fields)
    return rows


def column_kind(values: list[str], options: CsvConfig, markers: frozenset[str]) -> Kind | None:
    """The kind of a column from its cells in the first rows; None if they are all empty."""
    infer = inferring_converter(options.decimal, markers)
    kinds: set[Kind] = set()
    for value in values:
        if value.strip() in markers:
            continue
        typed = infer(value)
        if isinstance(typed, bool):
            kinds.add("bool")
        elif isinstance(typed, int | float):
            kinds.add("number")
        elif typed is None:
            continue
        elif number_hint(value, options.decimal, options.thousands) or _thousands(value, options):
            # Numbers written in another convention than the dataset's (or with the configured
            # thousands separator): a number column, so that they are read, or quarantined
            # with a hint naming the setting, never published as text.
            kinds.add("number")
        else:
            kinds.add("text")
    if not kinds:
        return None
    if len(kinds) == 1:
        return next(iter(kinds))
    return "text"


def _thousands(value: str, options: CsvConfig) -> bool:
    sep = options.thousands
    if sep is None or sep not in value:
        return False
    text = value.strip().replace(sep, "")
    if options.decimal == ",":
        text = text.replace(",", ".")
    try:
        float(text)
    except ValueError:
        return False
    return True
