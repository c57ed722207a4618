"""Simulated time: parsing ``--start``, formatting timestamps, flooring to a step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OLE_EPOCH = datetime(1899, 12, 30)


def parse_start(text: str) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is UTC. Returns an aware UTC time."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def floor_time(when: datetime, step: timedelta) -> datetime:
    """``when`` rounded down to a whole multiple of ``step`` since the Unix epoch."""
    seconds = int(step.total_seconds())
    elapsed = int((when - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=elapsed - elapsed % seconds)


def iso_z(when: datetime) -> str:
    """ISO 8601 UTC with ``Z`` and whole seconds: ``2026-01-21T14:55:30Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_iso_z(text: str) -> datetime:
    """The inverse of :func:`iso_z`."""
    return datetime.fromisoformat(text).astimezone(UTC)


def local(when: datetime, zone: tzinfo) -> datetime:
    """``when`` as wall-clock time in ``zone`` (aware)."""
    return when.astimezone(zone)


def is_ambiguous(when: datetime, zone: ZoneInfo) -> bool:
    """True if the wall-clock time of ``when`` in ``zone`` happens twice (DST fall-back)."""
    wall = when.astimezone(zone).replace(tzinfo=None)
    first = wall.replace(tzinfo=zone, fold=0).utcoffset()
    second = wall.replace(tzinfo=zone, fold=1).utcoffset()
    return first != second


def ole_days(wall: datetime) -> float:
    """OLE automation date (days since 1899-12-30) of a naive or aware wall-clock time."""
    naive = wall.replace(tzinfo=None)
    return (naive - _OLE_EPOCH).total_seconds() / 86_400
