"""Date-time formats as legacy equipment writes them, read without ``datetime.strptime``.

The formats are strptime formats with a few extensions that loggers need:

- ``%H%M`` written together and followed by no other directive is an HHMM *integer* without
  leading zeros (Campbell mixed arrays: ``30`` = 00:30, ``2400`` = midnight at the end of the
  day);
- ``%p`` also reads ``a``/``p`` and ``a.m.``/``p.m.`` (WeatherLink writes ``12:05a``);
- ``%H`` reads ``24`` when minutes and seconds are zero (the end of the day);
- ``%j`` (day of the year) with a year gives the date;
- ``%f`` keeps up to six digits: microseconds are never cut.

Formats with other directives (month names, ``%z``, ...) go to ``datetime.strptime``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

ABSOLUTE_FORMATS = frozenset({"iso", "epoch_s", "epoch_ms", "filetime"})
RELATIVE_FORMATS = frozenset({"offset_s", "offset_ms"})
NAMED_FORMATS = ABSOLUTE_FORMATS | RELATIVE_FORMATS
_STRPTIME_DIRECTIVES = frozenset("aAbBcdfHIjmMpSUwWxXyYzZ%")

_DIRECTIVES = {
    "d": r"(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])",
    "m": r"(?P<m>1[0-2]|0[1-9]|[1-9])",
    "y": r"(?P<y>\d\d)",
    "Y": r"(?P<Y>\d\d\d\d)",
    "H": r"(?P<H>2[0-4]|[0-1]\d|\d)",
    "I": r"(?P<I>1[0-2]|0[1-9]|[1-9])",
    "M": r"(?P<M>[0-5]\d|\d)",
    "S": r"(?P<S>6[0-1]|[0-5]\d|\d)",
    "f": r"(?P<f>[0-9]{1,6})",
    "j": r"(?P<j>36[0-6]|3[0-5]\d|[0-2]?\d?\d)",
    "p": r"(?P<p>[AaPp](?:\.?[Mm]\.?)?)",
}
_HHMM = r"(?P<HM>\d{1,4})"

Parse = Callable[[str], datetime]


def check_format(fmt: str) -> str | None:
    """Why ``fmt`` cannot be a timestampFormat, or None.

    A strptime format without a year is refused: strptime fills in 1900 and the records would
    be published as 1900 dates, silently wrong.
    """
    if fmt in NAMED_FORMATS:
        return None
    if "%" not in fmt:
        return (
            "timestampFormat is iso, epoch_s, epoch_ms, filetime, offset_s, offset_ms or a "
            "strptime format such as '%d.%m.%Y %H:%M:%S'"
        )
    found = set(re.findall(r"%(.)", fmt.replace("%%", "")))
    bad = sorted(found - _STRPTIME_DIRECTIVES)
    if bad:
        return f"timestampFormat {fmt!r}: unknown directive(s) {', '.join('%' + b for b in bad)}"
    if not found & {"Y", "y", "c", "x"}:
        return (
            f"timestampFormat {fmt!r} has no year (%Y or %y): the records would be published "
            "as 1900 dates; if the year is written once in the file (its first lines), read it "
            "with timeBase and put it in this format (e.g. '%Y-%m %d %H:%M')"
        )
    if not found & {"d", "j", "c", "x"}:
        return f"timestampFormat {fmt!r} has no day (%d or %j)"
    if "d" in found and not found & {"m", "b", "B"}:
        return f"timestampFormat {fmt!r} has a day but no month (%m, %b or %B)"
    return None


def compile_format(fmt: str) -> Parse:
    """A function reading ``fmt`` into a naive (or, with %z, aware) datetime; ValueError if not."""
    pattern = _pattern(fmt)
    if pattern is None:
        return lambda value: datetime.strptime(value, fmt)
    fast = _fast(pattern, fmt)
    if fast is not None:
        return fast
    return lambda value: _read(pattern, value, fmt)


def _fast(pattern: re.Pattern[str], fmt: str) -> Parse | None:
    """The common all-numeric date-time (``%d.%m.%Y %H:%M:%S``), read without a dict.

    Legacy loggers write such a format on every row; anything out of the ordinary (hour 24,
    a value that does not match) goes to ``_read``, which reads it or names the problem.
    """
    index = pattern.groupindex
    if not set(index) <= {"Y", "y", "m", "d", "H", "M", "S", "f"} or not {"m", "d"} <= set(index):
        return None
    long_year = "Y" in index
    y = index["Y" if long_year else "y"] - 1
    m, d = index["m"] - 1, index["d"] - 1
    h, mi, s, f = (index[k] - 1 if k in index else -1 for k in "HMSf")
    match = pattern.match

    def read(value: str) -> datetime:
        found = match(value)
        if found is None or found.end() != len(value):
            return _read(pattern, value, fmt)
        g = found.groups()
        year = int(g[y])
        if not long_year:
            year += 2000 if year <= 68 else 1900  # as strptime's %y
        hour = int(g[h]) if h >= 0 else 0
        if hour == 24:
            return _read(pattern, value, fmt)
        return datetime(
            year,
            int(g[m]),
            int(g[d]),
            hour,
            int(g[mi]) if mi >= 0 else 0,
            int(g[s]) if s >= 0 else 0,
            int(g[f].ljust(6, "0")) if f >= 0 else 0,
        )

    return read


def _pattern(fmt: str) -> re.Pattern[str] | None:
    """The regular expression for ``fmt``, or None if it needs strptime itself."""
    parts: list[str] = []
    seen: set[str] = set()
    i = 0
    while i < len(fmt):
        char = fmt[i]
        if char == "%":
            directive = fmt[i + 1 : i + 2]
            if directive == "%":
                parts.append("%")
            elif fmt.startswith("%H%M", i) and not fmt.startswith("%", i + 4) and "H" not in seen:
                parts.append(_HHMM)
                seen.update("HM")
                i += 4
                continue
            elif directive in _DIRECTIVES and directive not in seen:
                parts.append(_DIRECTIVES[directive])
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
    if "I" in seen and "p" not in seen:
        return None  # strptime's rule: %I without %p is read as AM; keep its behaviour
    return re.compile("".join(parts), re.IGNORECASE)


def _read(pattern: re.Pattern[str], value: str, fmt: str) -> datetime:
    found = pattern.match(value)
    if found is None:
        raise ValueError(f"time data {value!r} does not match format {fmt!r}")
    if found.end() != len(value):
        raise ValueError(f"unconverted data remains: {value[found.end() :]}")
    parts = found.groupdict()
    if (year := parts.get("Y")) is not None:
        full_year = int(year)
    elif (short_year := parts.get("y")) is not None:
        short = int(short_year)
        full_year = short + (2000 if short <= 68 else 1900)  # as strptime's %y
    else:
        full_year = 1900  # a time alone (infer tries those; check_format refuses them)
    if (hhmm := parts.get("HM")) is not None:
        number = int(hhmm)
        hour, minute = divmod(number, 100)
        if minute >= 60:
            raise ValueError(f"{hhmm!r} is not a time written as HHMM")
    else:
        hour = int(parts.get("H") or 0)
        minute = int(parts.get("M") or 0)
    if (twelve := parts.get("I")) is not None:
        hour = int(twelve) % 12 + (12 if parts["p"][0] in "pP" else 0)
    second = int(parts.get("S") or 0)
    fraction = parts.get("f")
    micro = int(fraction.ljust(6, "0")) if fraction else 0
    if (day_of_year := parts.get("j")) is not None:
        number = int(day_of_year)
        start = datetime(full_year, 1, 1)
        if not 1 <= number <= (datetime(full_year + 1, 1, 1) - start).days:
            raise ValueError(f"day of year {number} does not exist in {full_year}")
        date = start + timedelta(days=number - 1)
    else:
        date = datetime(full_year, int(parts.get("m") or 1), int(parts.get("d") or 1))
    if hour == 24:
        # 24:00 is midnight at the end of the day (loggers close a day's interval with it).
        if minute or second or micro:
            raise ValueError(f"{value!r}: hour 24 is only 24:00")
        return date + timedelta(days=1)
    return date.replace(hour=hour, minute=minute, second=second, microsecond=micro)
