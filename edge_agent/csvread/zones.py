"""Time zones as configurations and files write them: IANA names and fixed UTC offsets.

``UTC-05:00``, ``GMT+00:00``, ``+01:00`` are fixed offsets (the sign as written: ``UTC-05:00``
is five hours behind UTC, unlike POSIX ``Etc/GMT+5``). Abbreviations such as ``PST`` or ``CEST``
are refused: several zones share them and they hide the DST rule.
"""

from __future__ import annotations

import re
from datetime import UTC, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_OFFSET = re.compile(r"^(?:UTC|GMT|Z)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
_UTC_NAMES = frozenset({"utc", "z", "gmt", "etc/utc", "etc/gmt", "zulu", "universal"})
# Where a file names its zone: "Date Time, GMT-05:00", "(UTC)", "Time zone;Europe/Berlin".
_MENTION = re.compile(
    r"(?<![A-Za-z])(?P<zone>(?:UTC|GMT)\s*[+-]\s*\d{1,2}(?::?\d{2})?|UTC|GMT"
    r"|[A-Z][a-z]+/[A-Z][A-Za-z_]+(?:/[A-Z][A-Za-z_]+)?)(?![A-Za-z])"
)


class ZoneError(ValueError):
    """A time zone name or offset that is not accepted; the message says what is."""


def parse_zone(text: str) -> tzinfo:
    """The tzinfo for an IANA name, ``UTC``/``GMT``, or a fixed offset such as ``UTC-05:00``."""
    value = text.strip()
    if value.lower() in _UTC_NAMES:
        return UTC
    found = _OFFSET.match(value)
    if found:
        sign, hours, minutes = found.group(1), int(found.group(2)), int(found.group(3) or 0)
        if hours > 14 or minutes >= 60 or (hours == 14 and minutes):
            raise ZoneError(f"time zone offset {text!r} is out of range (-14:00 to +14:00)")
        delta = timedelta(hours=hours, minutes=minutes)
        return timezone(-delta if sign == "-" else delta) if delta else UTC
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    hint = (
        "; abbreviations are ambiguous (several zones share them) and hide the DST rule"
        if re.fullmatch(r"[A-Za-z]{2,5}", value)
        else ""
    )
    raise ZoneError(
        f"unknown time zone {text!r}: use an IANA name (Europe/Berlin, America/New_York), UTC, "
        f"or a fixed offset such as UTC-05:00 or +01:00{hint}"
    )


def is_utc(zone: tzinfo) -> bool:
    """True for a zone that is UTC all year (no conversion needed)."""
    if zone is UTC:
        return True
    return isinstance(zone, ZoneInfo) and zone.key in ("UTC", "Etc/UTC", "Etc/GMT", "GMT")


def is_fixed(zone: tzinfo) -> bool:
    """True for a fixed offset (no DST repeats or gaps)."""
    return isinstance(zone, timezone)


def zone_in_text(text: str) -> str | None:
    """The zone a header cell or metadata line names (``GMT+00:00``, ``UTC``, ``Europe/Berlin``).

    Only what ``parse_zone`` accepts is returned: ``Temp/Out`` is not a zone.
    """
    for found in _MENTION.finditer(text):
        zone = re.sub(r"\s+", "", found.group("zone"))
        try:
            parse_zone(zone)
        except ZoneError:
            continue
        return zone
    return None
