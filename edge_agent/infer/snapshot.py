"""The one time of a file whose rows have none: a date and time the preamble states.

A fibre-optic DTS controller writes one trace per file (a row per distance) under a header
that says when it was measured (``Date,2021/06/14`` and ``Time,10:15:02``, or one line with
both). Without a time column, that instant is the time of every row; ``infer`` proposes it as
a ``timeBase`` with a format, which the reader gives each row as its ``ts``. Only lines whose
label says they hold a time (date, time, start, measured ...) are taken: a serial number or a
firmware date is not the time of the data.
"""

from __future__ import annotations

import re

from edge_agent.infer.times import DATES, TIMES, best_format, datetime_formats

_LINE = re.compile(
    r"^\s*\ufeff?\[?(?P<label>[A-Za-z][\w ./()-]{0,40}?)\]?\s*[,;\t:=]\s*\"?(?P<value>[^\"]+?)\"?"
    r"\s*[,;\t]*$"
)
_TIME_LABEL = re.compile(
    r"date|time|start|begin|measure|acqui|record|datum|zeit|uhrzeit|heure", re.IGNORECASE
)
# A duration is no instant: "Record interval: 00:10:00" must not become the time of the trace.
_NOT_INSTANT = re.compile(
    r"interval|period|duration|rate|every|step|offset|zone|elapsed|length|averag", re.IGNORECASE
)
_SEP = r"\s*[,;\t:=]\s*\"?"


def preamble_time(preamble: list[str]) -> tuple[dict[str, str], str] | None:
    """``timeBase`` (pattern and format) for the instant the preamble states, and a note."""
    dates: list[tuple[int, str, str]] = []  # line, label, format
    times: list[tuple[int, str, str]] = []
    for number, line in enumerate(preamble):
        found = _LINE.match(line)
        if found is None or not _TIME_LABEL.search(found.group("label")):
            continue
        if _NOT_INSTANT.search(found.group("label")):
            continue
        label, value = found.group("label").strip(), found.group("value").strip()
        both = best_format([value], datetime_formats()) if ":" in value else None
        if both is not None and (both[0] == "iso" or " " in both[0]):
            pattern = rf"^\s*\ufeff?\[?{re.escape(label)}\]?{_SEP}(?P<base>[^\"]+?)\"?\s*[,;\t]*$"
            return {"pattern": pattern, "format": both[0]}, _note(f"the '{label}' line")
        date = best_format([value], DATES)
        if date is not None:
            dates.append((number, label, date[0]))
            continue
        clock = best_format([value], TIMES)
        if clock is not None:
            times.append((number, label, clock[0]))
    if not dates or not times:
        return None
    day, hour = dates[0], times[0]
    first, second = sorted([(day[0], day[1], "date"), (hour[0], hour[1], "time")])
    pattern = (
        rf"(?m)^\s*{re.escape(first[1])}{_SEP}(?P<{first[2]}>[^\"\n]+?)\"?\s*[,;\t]*$"
        rf"(?s:.*?)^\s*{re.escape(second[1])}{_SEP}(?P<{second[2]}>[^\"\n]+?)\"?\s*[,;\t]*$"
    )
    return {"pattern": pattern, "format": f"{day[2]} {hour[2]}"}, _note(
        f"the '{day[1]}' and '{hour[1]}' lines"
    )


def _note(where: str) -> str:
    return f"the rows have no time: every row takes the time of {where} (one trace per file)"
