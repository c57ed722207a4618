"""Timestamps as equipment writes them, to UTC ISO 8601 with ``Z``.

Formats: ``iso`` (ISO 8601 with or without offset, date only, ``T`` or space), ``epoch_s``,
``epoch_ms``, ``filetime`` (Windows, 100 ns ticks since 1601 UTC), ``offset_s``/``offset_ms``
(seconds or milliseconds after a time base the file states once), or a strptime format with
the extensions of ``timeformats``. Times without an offset are in the configured zone (an IANA
name or a fixed offset).

A local time that a DST change makes ambiguous (the autumn repeat) or impossible (the spring
gap) is never read by a guess here: the parser raises ``AmbiguousTimeError`` with both
readings, and the dataset layer decides from the rows around it (``datasets/localtime``) or
flags the record.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from edge_agent.csvread.timeformats import RELATIVE_FORMATS, compile_format
from edge_agent.csvread.zones import is_fixed, is_utc, parse_zone

_EPOCH = datetime(1970, 1, 1)
_FILETIME_EPOCH = datetime(1601, 1, 1)


class TimestampError(ValueError):
    """A value is not a timestamp in the configured format."""


class AmbiguousTimeError(TimestampError):
    """A local time that occurs twice (``gap`` False) or not at all (``gap`` True) in the zone.

    ``readings`` are the two UTC instants (naive) it can stand for: the reading with the offset
    before the change (PEP 495 ``fold=0``: summer time in a repeat), then the one after it.
    """

    def __init__(
        self,
        value: str,
        local: datetime,
        readings: tuple[datetime, datetime],
        *,
        gap: bool,
        zone: str,
    ) -> None:
        self.local = local
        self.readings = readings
        self.gap = gap
        what = "does not exist" if gap else "occurs twice"
        super().__init__(f"{value!r} {what} in {zone} (daylight saving time change)")


class TimestampParser:
    """Parses one column's timestamps of one file into canonical UTC text."""

    __slots__ = ("_base", "_fixed", "_fmt", "_parse", "_utc", "_zone", "_zone_name")

    def __init__(self, fmt: str, timezone: str, *, base: datetime | None = None) -> None:
        self._fmt = fmt
        self._parse = (
            compile_format(fmt)
            if fmt not in ("iso", "epoch_s", "epoch_ms", "filetime", *RELATIVE_FORMATS)
            else None
        )
        self._zone: tzinfo = parse_zone(timezone)
        self._zone_name = timezone
        self._utc = is_utc(self._zone)
        self._fixed = is_fixed(self._zone)
        if fmt in RELATIVE_FORMATS and base is None:
            raise TimestampError(f"timestampFormat {fmt} needs a time base")
        self._base = base

    def __call__(self, text: str) -> str:
        """The UTC ISO 8601 form (``2026-11-27T01:05:00Z``) of ``text``."""
        value = text.strip()
        if not value:
            raise TimestampError("empty timestamp")
        fmt = self._fmt
        if fmt == "iso" and is_canonical(value):
            # Already canonical (what most modern loggers write): validate, keep as written.
            try:
                datetime.fromisoformat(value)
            except ValueError as e:
                raise TimestampError(f"{value!r} is not an ISO 8601 timestamp: {e}") from None
            return value
        try:
            parse = self._parse
            if parse is None:
                if fmt == "iso":
                    dt = datetime.fromisoformat(value)
                else:
                    absolute = self.absolute(value)
                    assert absolute is not None  # every other named format is absolute
                    return format_utc(absolute)
            else:
                dt = parse(value)
            if dt.tzinfo is None and not self._utc:
                zone = self._zone
                offset = zone.utcoffset(dt)
                assert offset is not None  # a zone always has an offset
                # A fixed offset, or a local time that the zone reads one way only (the
                # same offset for both folds): the common case, inline.
                if self._fixed or zone.utcoffset(dt.replace(fold=1)) == offset:
                    return format_utc(dt - offset)
            return format_utc(self.to_utc(dt, value))
        except AmbiguousTimeError:
            raise
        except (ValueError, OverflowError) as e:
            # OverflowError: a time next to year 1 or 9999 that does not exist in UTC.
            raise TimestampError(f"{value!r} is not a timestamp in format {fmt}: {e}") from None

    def absolute(self, value: str) -> datetime | None:
        """The UTC instant of a value that is one whatever the zone (epochs, offsets)."""
        fmt = self._fmt
        if fmt == "epoch_s":
            return _EPOCH + timedelta(seconds=float(value.replace(",", ".")))
        if fmt == "epoch_ms":
            return _EPOCH + timedelta(milliseconds=float(value.replace(",", ".")))
        if fmt == "filetime":
            return _FILETIME_EPOCH + timedelta(microseconds=int(value) // 10)
        if self._base is not None:
            number = float(value.replace(",", "."))
            if number - number != 0.0:
                raise ValueError(f"{value!r} is not an offset")
            scale = 1000.0 if fmt == "offset_ms" else 1.0
            return self._base + timedelta(milliseconds=round(number * 1000.0 / scale, 3))
        return None

    def local(self, text: str) -> datetime:
        """The time as written: naive (local) or aware; ValueError if it is not one."""
        value = text.strip()
        if self._parse is None:
            return datetime.fromisoformat(value)
        return self._parse(value)

    def repeats(self, dt: datetime) -> bool:
        """True if the naive local ``dt`` occurs twice in the zone (the autumn DST repeat)."""
        if dt.tzinfo is not None or self._utc or self._fixed:
            return False
        off0 = self._zone.utcoffset(dt)
        off1 = self._zone.utcoffset(dt.replace(fold=1))
        return off0 is not None and off1 is not None and off0 > off1

    def to_utc(self, dt: datetime, value: str = "") -> datetime:
        """Naive UTC of a parsed time; AmbiguousTimeError in a DST repeat or gap."""
        if dt.tzinfo is not None:
            offset = dt.utcoffset()
            naive = dt.replace(tzinfo=None)
            return naive - offset if offset else naive
        if self._utc:
            return dt
        zone = self._zone
        off0 = zone.utcoffset(dt)
        assert off0 is not None  # a zone always has an offset
        if self._fixed:
            return dt - off0
        off1 = zone.utcoffset(dt.replace(fold=1))
        assert off1 is not None
        if off0 == off1:
            return dt - off0
        # PEP 495: in a repeat fold=0 has the larger offset (summer time), in a gap the smaller.
        raise AmbiguousTimeError(
            value or dt.isoformat(sep=" "),
            dt,
            (dt - off0, dt - off1),
            gap=off0 < off1,
            zone=self._zone_name,
        )


def base_instant(text: str, fmt: str, timezone: str) -> datetime:
    """Naive UTC of a time base read from the preamble, in ``fmt`` (any absolute format)."""
    parser = TimestampParser(fmt, timezone)
    value = text.strip()
    absolute = parser.absolute(value)
    if absolute is not None:
        return absolute
    return parser.to_utc(parser.local(value), value)


def is_canonical(value: str) -> bool:
    """True if ``value`` has the shape of ``2026-11-27T01:05:00Z`` (digits not checked).

    With the separators in place, ``datetime.fromisoformat`` accepts only ASCII digits in
    the other positions, so a value of this shape that it reads is canonical as written.
    """
    return len(value) == 20 and value[4::3] == "--T::Z"


def format_utc(utc_naive: datetime) -> str:
    """Canonical text of a naive UTC instant: seconds, milliseconds or microseconds as needed.

    Sub-millisecond digits are kept (power-quality recorders sample every 200 us); nothing is
    rounded.
    """
    micro = utc_naive.microsecond
    if micro % 1000:
        return utc_naive.isoformat(timespec="microseconds") + "Z"
    if micro:
        return utc_naive.isoformat(timespec="milliseconds") + "Z"
    return utc_naive.isoformat(timespec="seconds") + "Z"
