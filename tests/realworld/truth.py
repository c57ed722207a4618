"""An independent reading of the real equipment files, written from their manifest.

Plain Python per file family (csv, str.split, datetime, zoneinfo): none of the agent's code.
Each reader returns, per data line (1-based physical line number), the expected record:
``ts`` in UTC, the values of the data columns in column order, and the UTC readings of a local
time the file does not make certain (a DST hour written once).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

Value = Any  # float | int | str | None; timestamps as UTC text


@dataclass
class Row:
    """What one data line of a file must become."""

    ts: str
    values: list[Value]
    uncertain: list[str] | None = None


@dataclass
class Truth:
    """The expected records by line, lines expected in quarantine, and the units by position."""

    rows: dict[int, Row] = field(default_factory=dict)
    quarantined: set[int] = field(default_factory=set)
    units: list[str | None] = field(default_factory=list)


def zone_of(name: str) -> tzinfo:
    if name.startswith(("UTC+", "UTC-", "GMT+", "GMT-")):
        sign = -1 if name[3] == "-" else 1
        hours, minutes = name[4:].split(":")
        return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
    return UTC if name == "UTC" else ZoneInfo(name)


def utc_text(instant: datetime) -> str:
    instant = instant.astimezone(UTC).replace(tzinfo=None)
    if instant.microsecond % 1000:
        return instant.isoformat(timespec="microseconds") + "Z"
    if instant.microsecond:
        return instant.isoformat(timespec="milliseconds") + "Z"
    return instant.isoformat(timespec="seconds") + "Z"


def local_time(naive: datetime, zone: tzinfo) -> tuple[str, list[str] | None]:
    """UTC text of a local time; both readings if the zone makes it ambiguous or impossible."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return utc_text(first), None
    return utc_text(first), [utc_text(first), utc_text(second)]


def number(text: str, *, comma: bool = False, thousands: str = "") -> float | None:
    text = text.strip()
    if text in ("", "NAN", "NaN", "-", "---"):
        return None
    if thousands:
        text = text.replace(thousands, "")
    if comma:
        text = text.replace(",", ".")
    return float(text)


def lines_of(path: Path, encoding: str = "utf-8-sig") -> list[str]:
    return path.read_bytes().decode(encoding).split("\n")


def rows_from(
    lines: list[str],
    first: int,
    parse: Callable[[list[str]], Row],
    *,
    delimiter: str = ",",
    stop: Callable[[str], bool] = lambda text: False,
) -> dict[int, Row]:
    out = {}
    for number_, line in enumerate(lines[first - 1 :], start=first):
        text = line.removesuffix("\r")
        if not text or stop(text):
            continue
        cells = next(csv.reader(io.StringIO(text), delimiter=delimiter))
        out[number_] = parse(cells)
    return out


# --------------------------------------------------------------------------- families


def toa5(path: Path, zone: str) -> Truth:
    """Campbell TOA5: environment line, names, units, processing; then data rows."""
    lines = lines_of(path)
    tz = zone_of(zone)
    names = next(csv.reader([lines[1].strip()]))
    units = next(csv.reader([lines[2].strip()]))

    def when(text: str) -> str:
        return local_time(datetime.strptime(text, "%Y-%m-%d %H:%M:%S"), tz)[0]

    def parse(cells: list[str]) -> Row:
        values: list[Value] = []
        for name, cell in zip(names[1:], cells[1:], strict=True):
            if name.endswith(("_TMx", "_TMn")):
                values.append(when(cell))
            elif name == "RECORD":
                values.append(int(cell))
            else:
                values.append(number(cell))
        return Row(when(cells[0]), values)

    truth = Truth(rows_from(lines, 5, parse))
    truth.units = [
        None if n.endswith(("_TMx", "_TMn")) else u
        for n, u in zip(names[1:], units[1:], strict=True)
    ]
    return truth


def cr10x(path: Path, zone: str) -> Truth:
    """Campbell CR10X mixed array 101: year, day of year, HHMM (2400 = end of day)."""
    lines = lines_of(path)
    tz = zone_of(zone)
    truth = Truth()
    for n, text in enumerate(lines, start=1):
        cells = text.split(",")
        if len(cells) != 13 or (n == len(lines) and not path.read_bytes().endswith(b"\n")):
            truth.quarantined.add(n)  # the last line, cut in half by the writer
            continue
        year, day, hhmm = int(cells[1]), int(cells[2]), int(cells[3])
        naive = datetime(year, 1, 1) + timedelta(
            days=day - 1, hours=hhmm // 100, minutes=hhmm % 100
        )
        values: list[Value] = [int(cells[0]), *(number(c) for c in cells[4:])]
        truth.rows[n] = Row(local_time(naive, tz)[0], values)
    truth.units = [None] * 10
    return truth


def davis(path: Path, zone: str) -> Truth:
    """WeatherLink text export: two stacked header lines, a dashed rule, blank-separated cells."""
    lines = lines_of(path, "ascii")
    tz = zone_of(zone)
    truth = Truth()
    for n, text in enumerate(lines[3:], start=4):
        cells = text.split()
        if not cells:
            continue
        date, clock = cells[0], cells[1]
        hour, minute = clock[:-1].split(":")
        h = int(hour) % 12 + (12 if clock.endswith("p") else 0)
        month, day, year = (int(x) for x in date.split("/"))
        naive = datetime(2000 + year, month, day, h, int(minute))
        values: list[Value] = []
        for cell in cells[2:]:
            if cell == "---":
                values.append(None)
            elif any(ch.isalpha() for ch in cell):
                values.append(cell)
            else:
                values.append(float(cell))
        truth.rows[n] = Row(local_time(naive, tz)[0], values)
    truth.units = [None] * 28
    return truth


def emonitor(path: Path, zone: str) -> Truth:
    """eMonitor hourly: title, prose and a blank line, header on line 7, Wh per channel."""
    lines = lines_of(path, "ascii")
    tz = zone_of(zone)

    def parse(cells: list[str]) -> Row:
        ts, uncertain = local_time(datetime.strptime(cells[0], "%Y-%m-%d %H:%M:%S"), tz)
        return Row(ts, [number(c) for c in cells[1:]], uncertain)

    truth = Truth(rows_from(lines, 8, parse))
    truth.units = [None] * 46
    return truth


def hobo(path: Path) -> Truth:
    """HOBOware: plot title, header (zone in the time column's name), yy/MM/dd times."""
    lines = lines_of(path)

    def parse(cells: list[str]) -> Row:
        naive = datetime.strptime(cells[1], "%y/%m/%d %H:%M:%S")
        values: list[Value] = [int(cells[0]), *(number(c) for c in cells[2:6])]
        values += [c or None for c in cells[6:9]]
        return Row(utc_text(naive.replace(tzinfo=UTC)), values)

    truth = Truth(rows_from(lines, 3, parse))
    truth.units = [None, "°C", "°C", "°C", "°C", None, None, None]
    return truth


def lascar(path: Path) -> Truth:
    """EasyLog: three small tables, then the header on line 11; times in UTC."""
    lines = lines_of(path)

    def parse(cells: list[str]) -> Row:
        naive = datetime.strptime(cells[1], "%Y/%m/%d %H:%M:%S")
        values = [int(cells[0]), *(number(c) for c in cells[2:5])]
        return Row(utc_text(naive.replace(tzinfo=UTC)), values)

    truth = Truth(rows_from(lines, 12, parse))
    truth.units = [None, "°C", "%RH", "°C"]
    return truth


def pq(path: Path, zone: str) -> Truth:
    """Power-quality export: UTF-16LE, quoted cells, decimal comma, microsecond times."""
    lines = lines_of(path, "utf-16")
    tz = zone_of(zone)

    def when(text: str) -> str:
        return local_time(datetime.strptime(text, "%d.%m.%Y %H:%M:%S.%f"), tz)[0]

    def parse(cells: list[str]) -> Row:
        values: list[Value] = [when(cells[1]), *(number(c, comma=True) for c in cells[2:14])]
        return Row(when(cells[0]), values)

    truth = Truth(rows_from(lines, 2, parse))
    truth.units = [None] * 13
    return truth


def sma(path: Path) -> Truth:
    """Sunny Portal: sep= line, metadata with the zone, 12-hour hh.mm times, 1,137 watts."""
    lines = lines_of(path)
    tz = ZoneInfo("Europe/Berlin")  # the file's line 6

    def parse(cells: list[str]) -> Row:
        naive = datetime.strptime(cells[0], "%m/%d/%Y %I.%M %p")
        values = [number(c, thousands=",") for c in cells[1:]]
        return Row(local_time(naive, tz)[0], values)

    truth = Truth(rows_from(lines, 13, parse, delimiter=";"))
    truth.units = ["W"] * 4
    return truth


def trolmaster(path: Path, zone: str) -> Truth:
    """Hydro-X: year-month on line 3, then day-of-month and H:M per row."""
    lines = lines_of(path)
    tz = zone_of(zone)
    year, month = (int(x) for x in lines[2].split(",")[0].split("-"))

    def parse(cells: list[str]) -> Row:
        hour, minute = (int(x) for x in cells[1].split(":"))
        naive = datetime(year, month, int(cells[0]), hour, minute)
        return Row(local_time(naive, tz)[0], [number(c) for c in cells[2:6]])

    truth = Truth(rows_from(lines, 6, parse))
    truth.units = ["C", "%rH", "PPM", "PPFD"]
    return truth


def wincc(path: Path, zone: str) -> Truth:
    """WinCC data log: one row per tag, day-first TimeString, Time_ms with a tab inside."""
    lines = lines_of(path, "ascii")
    tz = zone_of(zone)

    def parse(cells: list[str]) -> Row:
        ts = local_time(datetime.strptime(cells[1], "%d/%m/%Y %H:%M:%S"), tz)[0]
        return Row(ts, [cells[0], int(cells[2]), int(cells[3]), cells[4]])

    truth = Truth(rows_from(lines, 2, parse, delimiter=";"))
    truth.units = [None] * 4
    return truth


def twincat(path: Path) -> Truth:
    """TwinCAT Scope: FILETIME start on line 3, (time ms, value) per channel, EOF footer."""
    lines = lines_of(path)
    ticks = int(lines[2].split("\t")[1])
    start = datetime(1601, 1, 1, tzinfo=UTC) + timedelta(microseconds=ticks // 10)

    def when(cell: str) -> str | None:
        if not cell.strip():
            return None
        return utc_text(start + timedelta(milliseconds=float(cell.replace(",", "."))))

    truth = Truth()
    for n, text in enumerate(lines[24:], start=25):
        if not text or text == "EOF":
            continue
        cells = text.split("\t") + [""] * 42
        values: list[Value] = []
        for i in range(0, 42, 2):
            if i != 22:
                values.append(when(cells[i]))
            values.append(number(cells[i + 1], comma=True))
        ts = when(cells[22])
        assert ts is not None
        truth.rows[n] = Row(ts, values)
    truth.units = [None] * 41
    return truth
