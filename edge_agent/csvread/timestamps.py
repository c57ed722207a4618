"""Timestamps as equipment writes them, to UTC ISO 8601 with ``Z``.

Formats: ``iso`` (ISO 8601 with or without offset, date only, ``T`` or space), ``epoch_s``,
``epoch_ms``, or a strptime format. Times without an offset are in the configured IANA zone.
Local times that occur twice (the autumn DST repeat) take the reading that keeps the file's
timestamps moving forward; local times that do not exist (the spring DST gap) are read with the
offset before the gap, i.e. moved forward by the gap (PEP 495), the way a clock that missed the
change would be corrected.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_EPOCH = datetime(1970, 1, 1)


class TimestampError(ValueError):
    """A value is not a timestamp in the configured format."""


class TimestampParser:
    """Parses one file's timestamps; keeps the last instant to resolve DST repeats."""

    __slots__ = ("_fmt", "_last", "_utc", "_zone")

    def __init__(self, fmt: str, timezone: str) -> None:
        self._fmt = fmt
        self._zone = ZoneInfo(timezone)
        self._utc = timezone in ("UTC", "Etc/UTC", "Z", "GMT", "Etc/GMT")
        self._last: datetime | None = None

    def __call__(self, text: str) -> str:
        """The UTC ISO 8601 form (``2026-11-27T01:05:00Z``) of ``text``."""
        value = text.strip()
        if not value:
            raise TimestampError("empty timestamp")
        fmt = self._fmt
        if fmt == "iso" and len(value) == 20 and value[10] == "T" and value[19] == "Z":
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
                dt = _EPOCH + timedelta(seconds=float(value.replace(",", ".")))
                return _format(dt)
            elif fmt == "epoch_ms":
                dt = _EPOCH + timedelta(milliseconds=float(value.replace(",", ".")))
                return _format(dt)
            else:
                dt = datetime.strptime(value, fmt)
        except (ValueError, OverflowError) as e:
            raise TimestampError(f"{value!r} is not a timestamp in format {fmt}: {e}") from None
        if dt.tzinfo is not None:
            offset = dt.utcoffset()
            naive = dt.replace(tzinfo=None)
            return _format(naive - offset if offset else naive)
        if self._utc:
            return _format(dt)
        return _format(self._localize(dt))

    def _localize(self, local: datetime) -> datetime:
        """Naive local time in the zone -> naive UTC, resolving DST repeats and gaps."""
        first = local.replace(tzinfo=self._zone, fold=0)
        second = local.replace(tzinfo=self._zone, fold=1)
        off0, off1 = first.utcoffset(), second.utcoffset()
        assert off0 is not None  # a ZoneInfo always has an offset
        assert off1 is not None
        utc = local - off0
        if off0 != off1:
            roundtrip = first.astimezone(UTC).astimezone(self._zone).replace(tzinfo=None)
            if roundtrip == local:
                # Ambiguous (the hour that repeats): prefer the reading that does not go back
                # in time relative to the previous row.
                later = local - off1
                if self._last is not None and utc < self._last <= later:
                    utc = later
            # Else the time does not exist (spring gap): fold=0 moves it forward by the gap.
        self._last = utc
        return utc


def _format(utc_naive: datetime) -> str:
    if utc_naive.microsecond:
        return utc_naive.isoformat(timespec="milliseconds") + "Z"
    return utc_naive.isoformat(timespec="seconds") + "Z"
