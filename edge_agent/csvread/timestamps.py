"""Timestamps as equipment writes them, to UTC ISO 8601 with ``Z``.

Formats: ``iso`` (ISO 8601 with or without offset, date only, ``T`` or space), ``epoch_s``,
``epoch_ms``, or a strptime format. Times without an offset are in the configured IANA zone.
Local times that occur twice (the autumn DST repeat) take the reading that keeps the file's
timestamps moving forward: the first reading (summer time) unless the previous row of the file
was already later than it. Local times that do not exist (the spring DST gap) are read with the
offset before the gap, i.e. moved forward by the gap (PEP 495 ``fold=0``), the way a clock that
missed the change would be corrected: in Europe/Berlin, ``2026-03-29 02:30`` is read as
``2026-03-29T01:30:00Z`` (= 03:30 CEST).

The repeat is resolved with the previous row *of this parser*: a pass that starts inside the
repeated hour (a resumed read) has no previous row and takes the first reading.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

_EPOCH = datetime(1970, 1, 1)


class TimestampError(ValueError):
    """A value is not a timestamp in the configured format."""


class TimestampParser:
    """Parses one file's timestamps; keeps the last instant to resolve DST repeats."""

    __slots__ = ("_fmt", "_last", "_numeric", "_utc", "_zone")

    def __init__(self, fmt: str, timezone: str) -> None:
        self._fmt = fmt
        self._numeric = _numeric_format(fmt) if fmt not in ("iso", "epoch_s", "epoch_ms") else None
        self._zone = ZoneInfo(timezone)
        self._utc = timezone in ("UTC", "Etc/UTC", "Z", "GMT", "Etc/GMT")
        self._last: datetime | None = None

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
            if fmt == "iso":
                dt = datetime.fromisoformat(value)
            elif fmt == "epoch_s":
                return _format(_EPOCH + timedelta(seconds=float(value.replace(",", "."))))
            elif fmt == "epoch_ms":
                return _format(_EPOCH + timedelta(milliseconds=float(value.replace(",", "."))))
            elif self._numeric is not None:
                dt = _strptime_numeric(self._numeric, value, fmt)
            else:
                dt = datetime.strptime(value, fmt)
            if dt.tzinfo is not None:
                offset = dt.utcoffset()
                naive = dt.replace(tzinfo=None)
                return _format(naive - offset if offset else naive)
            if self._utc:
                return _format(dt)
            return _format(self._localize(dt))
        except (ValueError, OverflowError) as e:
            # OverflowError: a time next to year 1 or 9999 that does not exist in UTC.
            raise TimestampError(f"{value!r} is not a timestamp in format {fmt}: {e}") from None

    def _localize(self, local: datetime) -> datetime:
        """Naive local time in the zone -> naive UTC, resolving DST repeats and gaps."""
        zone = self._zone
        if local.fold:
            local = local.replace(fold=0)
        # (zone.utcoffset on the naive time: the same as on an aware one, twice as fast.)
        off0 = zone.utcoffset(local)
        off1 = zone.utcoffset(local.replace(fold=1))
        assert off0 is not None  # a ZoneInfo always has an offset
        assert off1 is not None
        utc = local - off0
        # PEP 495: in a repeat fold=0 has the offset before the change (the larger one), in
        # a gap fold=0 has the offset before the jump (the smaller one), moving it forward.
        if off0 > off1:
            # Ambiguous (the hour that repeats): prefer the reading that does not go back in
            # time relative to the previous row.
            later = local - off1
            if self._last is not None and utc < self._last <= later:
                utc = later
        self._last = utc
        return utc


# The regular expressions datetime.strptime uses for these directives (CPython _strptime).
_NUMERIC_DIRECTIVES = {
    "d": r"(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])",
    "m": r"(?P<m>1[0-2]|0[1-9]|[1-9])",
    "y": r"(?P<y>\d\d)",
    "Y": r"(?P<Y>\d\d\d\d)",
    "H": r"(?P<H>2[0-3]|[0-1]\d|\d)",
    "M": r"(?P<M>[0-5]\d|\d)",
    "S": r"(?P<S>6[0-1]|[0-5]\d|\d)",
    "f": r"(?P<f>[0-9]{1,6})",
}


def _numeric_format(fmt: str) -> re.Pattern[str] | None:
    """A faster equivalent of ``strptime(value, fmt)`` for all-numeric date-time formats.

    datetime.strptime costs about 10 us (locale checks, a cache lookup, a generic result
    tuple); legacy loggers write formats like ``%d.%m.%y %H:%M:%S`` on every row. The
    pattern is built the way _strptime builds it; formats with other directives (names,
    %p, %z, ...) or without a full date return None and go to strptime itself.
    """
    parts: list[str] = []
    seen: set[str] = set()
    i = 0
    while i < len(fmt):
        char = fmt[i]
        if char == "%":
            directive = fmt[i + 1 : i + 2]
            if directive == "%":
                parts.append("%")
            elif directive in _NUMERIC_DIRECTIVES and directive not in seen:
                parts.append(_NUMERIC_DIRECTIVES[directive])
                seen.add(directive)
            else:
                return None
            i += 2
        elif char.isspace():
            while i < len(fmt) and fmt[i].isspace():
                i += 1
            parts.append(r"\s+")
        else:
            parts.append(re.escape(char))
            i += 1
    if len(seen & {"y", "Y"}) != 1 or not {"m", "d"} <= seen:
        return None
    return re.compile("".join(parts), re.IGNORECASE)


def _strptime_numeric(pattern: re.Pattern[str], value: str, fmt: str) -> datetime:
    """``datetime.strptime(value, fmt)`` for a pattern from ``_numeric_format``."""
    found = pattern.match(value)
    if found is None:
        raise ValueError(f"time data {value!r} does not match format {fmt!r}")
    if found.end() != len(value):
        raise ValueError(f"unconverted data remains: {value[found.end() :]}")
    parts = found.groupdict()
    if (year := parts.get("Y")) is not None:
        full_year = int(year)
    else:
        short = int(parts["y"])
        full_year = short + (2000 if short <= 68 else 1900)  # as strptime's %y
    fraction = parts.get("f")
    return datetime(
        full_year,
        int(parts["m"]),
        int(parts["d"]),
        int(parts.get("H") or 0),
        int(parts.get("M") or 0),
        int(parts.get("S") or 0),
        int(fraction.ljust(6, "0")) if fraction else 0,
    )


def is_canonical(value: str) -> bool:
    """True if ``value`` has the shape of ``2026-11-27T01:05:00Z`` (digits not checked).

    With the separators in place, ``datetime.fromisoformat`` accepts only ASCII digits in
    the other positions, so a value of this shape that it reads is canonical as written.
    """
    return len(value) == 20 and value[4::3] == "--T::Z"


def _format(utc_naive: datetime) -> str:
    # Milliseconds when there are any (sub-millisecond digits are cut, never rounded up).
    if utc_naive.microsecond >= 1000:
        return utc_naive.isoformat(timespec="milliseconds") + "Z"
    return utc_naive.isoformat(timespec="seconds") + "Z"
