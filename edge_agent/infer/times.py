"""Which columns hold the time of a row, in which format, from a file's cells.

Every candidate format is tried with the agent's own parser (``csvread.timeformats``) on every
sampled value, so what ``infer`` proposes is what the agent reads. When more than one format
reads all values (``24/07/20``: day first or year first?), the one whose times run most
steadily through the file wins and the choice is said to be a guess. python-dateutil was not
taken for this: it reads a value but does not say in which format, and it fills in what a
value lacks (the year, the day) from today, which is the silent error this avoids.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from edge_agent.csvread.timeformats import compile_format

DATES = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%d.%m.%Y",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%d.%m.%y",
    "%d/%m/%y",
    "%m/%d/%y",
    "%y/%m/%d",
    "%y-%m-%d",
)
TIMES = (
    "%H:%M:%S",
    "%H:%M",
    "%H:%M:%S.%f",
    "%H:%M:%S,%f",
    "%I:%M:%S %p",
    "%I:%M %p",
    "%I.%M %p",
    "%I:%M%p",
    "%I:%M:%S%p",
    "%H.%M.%S",
    "%H.%M",
)


@dataclass(frozen=True)
class TimeGuess:
    """A timestamp found: columns (0-based), format, and why it may be wrong ('' if sure)."""

    columns: tuple[int, ...]
    fmt: str
    unsure: str = ""
    prefix_pattern: str | None = None  # timeBase pattern (text put in front)
    more: tuple[int, ...] = ()  # other time columns of the same kind (per-channel times)


def _reads(fmt: str, values: Sequence[str]) -> list[datetime] | None:
    if fmt == "iso":
        out = []
        for v in values:
            try:
                out.append(datetime.fromisoformat(v.strip()).replace(tzinfo=None))
            except ValueError:
                return None
        return out
    parse = compile_format(fmt)
    out = []
    for v in values:
        try:
            out.append(parse(v.strip()))
        except ValueError:
            return None
    return out


def _steadiness(times: list[datetime]) -> tuple[int, float, float]:
    """How steadily the times run: (steps against the main direction, the usual step, the
    largest step). The largest step tells ``11/3/2019 12:00 AM`` after ``11/2/2019 11:00 PM``
    (an hour, month first) from a jump of a month (day first) when the usual steps agree."""
    steps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    if not steps:
        return (0, 0.0, 0.0)
    up = sum(1 for s in steps if s > 0)
    down = sum(1 for s in steps if s < 0)
    against = min(up, down)
    sizes = sorted(abs(s) for s in steps if s)
    median = sizes[len(sizes) // 2] if sizes else 0.0
    return (against, median, sizes[-1] if sizes else 0.0)


def best_format(values: Sequence[str], candidates: Sequence[str]) -> tuple[str, str] | None:
    """The format among ``candidates`` that reads all ``values`` most plausibly, and a doubt."""
    read: list[tuple[tuple[int, float, float, list[datetime]], str]] = []
    for fmt in candidates:
        times = _reads(fmt, values)
        if times is not None:
            read.append(((*_steadiness(times), times), fmt))
    if not read:
        return None
    read.sort(key=lambda item: item[0][:3])
    fmt, times = read[0][1], read[0][0][3]
    # Formats that read every value as the same time are not a doubt (iso and %Y-%m-%d ...).
    differ = [(score, f) for score, f in read[1:] if score[3] != times]
    same = [f for score, f in differ if score[:3] == read[0][0][:3]][:2]
    others = [f for score, f in differ if score[:3] != read[0][0][:3]][:2]
    unsure = ""
    if same:
        unsure = f"unsure: {' and '.join(same)} read every value as steadily"
    elif others:
        unsure = f"guessed: {' and '.join(others)} read every value too, less steadily"
    return fmt, unsure


def datetime_formats() -> list[str]:
    """Candidate formats for a single date-time (or date) column."""
    out = ["iso"]
    for date in DATES:
        for time in TIMES:
            out.append(f"{date} {time}")
        out.append(date)
    return out


def find_timestamp(
    names: list[str], columns: list[list[str]], preamble: list[str]
) -> TimeGuess | None:
    """The time of the rows: one column, date + time columns, Campbell arrays, or day + H:M."""
    filled = [[v for v in col if v.strip()] for col in columns]
    full = [len(f) == len(c) and bool(c) for f, c in zip(filled, columns, strict=True)]
    for i in range(len(columns) - 1):
        if not (full[i] and full[i + 1]):
            continue
        date = best_format(filled[i], DATES)
        time = best_format(filled[i + 1], TIMES)
        if date is not None and time is not None:
            joined = [
                f"{a.strip()} {b.strip()}" for a, b in zip(filled[i], filled[i + 1], strict=True)
            ]
            fmt = f"{date[0]} {time[0]}"
            if _reads(fmt, joined) is not None:
                return TimeGuess((i, i + 1), fmt, date[1] or time[1])
    for i, values in enumerate(filled):
        if not full[i] or not values:
            continue
        if all(re.fullmatch(r"[+-]?\d+(?:[.,]\d+)?", v.strip()) for v in values[:50]):
            # Numbers: epoch times only where the column says it holds times (a counter
            # looks the same).
            epoch = _epoch(names[i] if i < len(names) else "", values)
            if epoch is not None:
                return TimeGuess((i,), epoch)
            continue
        found = best_format(values, datetime_formats()) or _labelled(values)
        if found is not None:
            return TimeGuess((i,), found[0], found[1])
    return _campbell_array(columns, full) or _day_and_time(names, columns, full, preamble)


def _labelled(values: list[str]) -> tuple[str, str] | None:
    """A time behind a label in the same cell (``Time: 2021-06-01 12:00:00``)."""
    first = values[0].strip()
    digit = re.search(r"\d", first)
    if digit is None or digit.start() == 0:
        return None
    label = first[: digit.start()]
    if not all(v.strip().startswith(label) for v in values):
        return None
    found = best_format([v.strip()[len(label) :] for v in values], datetime_formats())
    if found is None or found[0] == "iso":
        # iso has no place for a label: the same time as a strptime format.
        found = best_format([v.strip()[len(label) :] for v in values], datetime_formats()[1:])
    if found is None:
        return None
    return label.replace("%", "%%") + found[0], found[1]


def _epoch(name: str, values: list[str]) -> str | None:
    if not re.search(r"date|time|zeit|epoch|unix", name, re.IGNORECASE):
        return None
    numbers = _ints(values)
    if numbers is None:
        return None
    if all(315_532_800 <= n <= 4_102_444_800 for n in numbers):  # 1980 to 2100, seconds
        return "epoch_s"
    if all(315_532_800_000 <= n <= 4_102_444_800_000 for n in numbers):
        return "epoch_ms"
    return None


def _ints(values: list[str]) -> list[int] | None:
    try:
        return [int(v) for v in values]
    except ValueError:
        return None


def _campbell_array(columns: list[list[str]], full: list[bool]) -> TimeGuess | None:
    """Year, day of year and HHMM integers in three columns (Campbell mixed arrays)."""
    for i in range(len(columns) - 2):
        if not all(full[i : i + 3]):
            continue
        year, day, hhmm = (_ints(columns[i + k]) for k in range(3))
        if year is None or day is None or hhmm is None:
            continue
        if (
            all(1970 <= y <= 2100 for y in year)
            and all(1 <= d <= 366 for d in day)
            and all(0 <= t <= 2400 and t % 100 < 60 for t in hhmm)
        ):
            return TimeGuess((i, i + 1, i + 2), "%Y %j %H%M")
    return None


_YEAR_MONTH = re.compile(r"^\ufeff?(\d{4})[-/.](\d{1,2})\b[,;\t ]*$")


def _day_and_time(
    names: list[str], columns: list[list[str]], full: list[bool], preamble: list[str]
) -> TimeGuess | None:
    """A day-of-month column and an H:M column, the year and month in a line before them."""
    base = next((line for line in preamble if _YEAR_MONTH.match(line.strip())), None)
    if base is None:
        return None
    for i in range(len(columns) - 1):
        days = _ints(columns[i]) if full[i] else None
        if days is None or not all(1 <= d <= 31 for d in days):
            continue
        time = best_format(columns[i + 1], ("%H:%M", "%H:%M:%S")) if full[i + 1] else None
        if time is None:
            continue
        separator = re.split(r"\d+", base.strip().lstrip("\ufeff"))[1]
        return TimeGuess(
            (i, i + 1),
            f"%Y{separator}%m %d {time[0]}",
            prefix_pattern=rf"^\ufeff?(?P<base>\d{{4}}{re.escape(separator)}\d{{1,2}})\b[,;\t ]*$",
        )
    return None
