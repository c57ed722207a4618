"""Whitespace-aligned exports (WeatherLink, DOS-era loggers): columns found by position.

The columns of a file are the runs of character positions that hold text in any of its header
lines or first data rows; a column ends half-way through the blanks before the next one. A
value that crosses such a cut (a value wider than anything in the file's head) makes its row a
quarantine entry: a shifted value would be silently wrong. Tabs are expanded first.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterable, Iterator

RULE = re.compile(r"^[\s\-=_+|:]*[-=_]{3,}[\s\-=_+|:]*$")  # a dashed rule under the header


def column_cuts(lines: Iterable[str]) -> tuple[int, ...]:
    """Where the columns of these lines start (the first is 0): mid-gap between text runs."""
    occupied: list[bool] = []
    for line in lines:
        text = line.rstrip("\r\n").expandtabs()
        if len(text) > len(occupied):
            occupied.extend([False] * (len(text) - len(occupied)))
        for i, char in enumerate(text):
            if char != " ":
                occupied[i] = True
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(occupied):
        if not occupied[i]:
            i += 1
            continue
        start = i
        while i < len(occupied) and occupied[i]:
            i += 1
        runs.append((start, i))
    cuts = [0]
    for (_, end), (start, _) in itertools.pairwise(runs):
        cuts.append((end + start + 1) // 2)
    return tuple(cuts)


def split_fixed(line: str, cuts: tuple[int, ...]) -> list[str]:
    """The stripped cells of ``line``; csv.Error if a value crosses a cut."""
    text = line.rstrip("\r\n").expandtabs()
    cells = []
    for n, start in enumerate(cuts):
        if 0 < start < len(text) and text[start - 1] != " " and text[start] != " ":
            raise csv.Error(
                f"a value crosses the column boundary at character {start + 1} "
                "(wider than the file's first rows)"
            )
        end = cuts[n + 1] if n + 1 < len(cuts) else None
        cells.append(text[start:end].strip())
    if not text.strip():
        return []
    return cells


def stacked_names(header_lines: list[str], cuts: tuple[int, ...]) -> tuple[str, ...]:
    """Column names from header lines whose words stack over the columns ("Temp" over "Out")."""
    names: list[list[str]] = [[] for _ in cuts]
    for line in header_lines:
        text = line.rstrip("\r\n").expandtabs()
        for found in re.finditer(r"\S+", text):
            # A word belongs to the column where most of it lies (its middle).
            middle = (found.start() + found.end() - 1) // 2
            column = max(n for n, start in enumerate(cuts) if start <= middle)
            names[column].append(found.group())
    return tuple(" ".join(words) for words in names)


class FixedWidthReader:
    """Like ``csv.reader`` over lines, for fixed-width columns: it goes on after an error."""

    def __init__(self, lines: Iterator[str], cuts: tuple[int, ...]) -> None:
        self._lines = lines
        self._cuts = cuts

    def __iter__(self) -> FixedWidthReader:
        return self

    def __next__(self) -> list[str]:
        return split_fixed(next(self._lines), self._cuts)
