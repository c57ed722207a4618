"""What a file says once about the times of all its rows: its zone and its time base.

Both are read from the head of the file (the timestamp column's header, the preamble lines),
so every pass over the file, resumed or not, reads its rows with the same zone and base.
A configured pattern that the file does not match refuses the file: guessing a zone or a
start time would make every record silently wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from edge_agent.config.datasets import CsvConfig
from edge_agent.csvread.layout import FileFormatError, Layout
from edge_agent.csvread.timestamps import TimestampError, base_instant
from edge_agent.csvread.zones import ZoneError, parse_zone


@dataclass(frozen=True, slots=True)
class FileTime:
    """The zone of the file's times, and its time base (an instant, or a text prefix)."""

    zone: str
    base: datetime | None = None  # naive UTC start for offset_s / offset_ms rows
    prefix: str | None = None  # text put in front of each row's time (year-month, date)


def _found(pattern: re.Pattern[str], texts: list[str], group: str) -> str | None:
    """The text of ``group`` where ``pattern`` first matches one of ``texts``, else where it
    matches them joined by newlines (a date and a time on lines of their own)."""
    for text in texts:
        match = pattern.search(text)
        if match is not None:
            return _group(match, group)
    match = pattern.search("\n".join(texts)) if len(texts) > 1 else None
    return _group(match, group) if match is not None else None


def _group(match: re.Match[str], group: str) -> str:
    names = match.re.groupindex
    if group in names:
        return match.group(group)
    if "date" in names and "time" in names:
        return f"{match.group('date').strip()} {match.group('time').strip()}"
    return match.group(1) if match.re.groups else match.group(0)


def file_time(options: CsvConfig, layout: Layout, ts_titles: list[str]) -> FileTime:
    """The zone and time base of this file; FileFormatError if a configured pattern misses."""
    zone = options.timezone
    if options.timezone_pattern is not None:
        pattern = re.compile(options.timezone_pattern)
        found = _found(pattern, [*ts_titles, *layout.preamble], "zone")
        if found is None:
            raise FileFormatError(
                f"csv.timezonePattern {options.timezone_pattern!r} matches neither the "
                "timestamp column's name nor a line before the data: the file does not say "
                "its time zone (set csv.timezone and remove timezonePattern if it never does)"
            )
        zone = re.sub(r"\s+", "", found)
        try:
            parse_zone(zone)
        except ZoneError as e:
            raise FileFormatError(f"the time zone the file names is not usable: {e}") from None
    if options.time_base is None:
        return FileTime(zone)
    base_pattern = re.compile(options.time_base.pattern)
    text = _found(base_pattern, list(layout.preamble), "base")
    if text is None:
        raise FileFormatError(
            f"csv.timeBase.pattern {options.time_base.pattern!r} matches no line before the "
            "data: the file does not state the time its rows count from"
        )
    if options.time_base.format is None:
        return FileTime(zone, prefix=text.strip())
    try:
        base = base_instant(text, options.time_base.format, zone)
    except (TimestampError, ValueError, OverflowError) as e:
        raise FileFormatError(
            f"the time base {text.strip()!r} is not in csv.timeBase.format "
            f"{options.time_base.format}: {e}"
        ) from None
    return FileTime(zone, base=base)
