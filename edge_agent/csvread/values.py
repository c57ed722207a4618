"""How CSV values are written: numbers with a decimal point or comma, booleans, null markers.

Each function makes a converter for one dataset's settings: from the text of one field to a
Python value, None for a missing value, or ValueError when the text does not fit. RecordBuilder
(``datasets/generic.py``) applies them to the columns of a file.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from typing import Any

from edge_agent.csvread.numbers import INT_MAX, INT_MIN, Converter, normalizer
from edge_agent.csvread.timestamps import TimestampParser

__all__ = ["INT_MAX", "INT_MIN", "Converter"]

_TRUE = frozenset({"true", "1", "yes", "on", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "off", "n", "f"})


def float_converter(decimal: str, nulls: frozenset[str], thousands: str | None = None) -> Converter:
    """Typed float columns: blanks around, a decimal point (or comma), NaN/inf -> None."""
    normalize = normalizer(decimal, thousands)

    def to_float(value: str) -> float | None:
        text = value.strip()
        if text in nulls:
            return None
        text = normalize(text)
        number = float(text)
        if "_" in text:
            raise ValueError(value)  # float() reads "1_000"; a logger never means that
        # Loggers write NaN/INF for "no valid reading": that is a missing value, not a number.
        return number if number - number == 0.0 else None

    return to_float


def int_converter(decimal: str, nulls: frozenset[str], thousands: str | None = None) -> Converter:
    """Typed int columns: also "12.0" and "1e3", which loggers write for whole numbers."""
    normalize = normalizer(decimal, thousands)

    def to_int(value: str) -> int | None:
        text = value.strip()
        if text in nulls:
            return None
        if "_" in text:
            raise ValueError(value)  # int() reads "1_000"; a logger never means that
        text = normalize(text)
        try:
            whole = int(text)
        except ValueError:
            number = float(text)  # "12.0", "1e3"
            if not number.is_integer():
                raise
            whole = int(number)
        if not INT_MIN <= whole <= INT_MAX:
            raise ValueError(f"{value} is beyond the 64-bit integer range")
        return whole

    return to_int


def bool_converter(nulls: frozenset[str]) -> Converter:
    """Typed bool columns: true/false, 1/0, yes/no, on/off, y/n, t/f in any case."""

    def to_bool(value: str) -> bool | None:
        text = value.strip()
        if text in nulls:
            return None
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(value)

    return to_bool


def str_converter(nulls: frozenset[str]) -> Converter:
    """Typed str columns: the text as written, None for a null marker."""

    def to_str(value: str) -> str | None:
        return None if value.strip() in nulls else value

    return to_str


def timestamp_converter(parse: TimestampParser, nulls: frozenset[str]) -> Converter:
    """Typed timestamp columns: UTC ISO 8601 text, as the record's ``ts``."""

    def to_timestamp(value: str) -> str | None:
        return None if value.strip() in nulls else parse(value)

    return to_timestamp


def text_starts(nulls: Iterable[str]) -> frozenset[str]:
    """First characters after which a value is plain text without looking further.

    ASCII letters, except those that can start "true"/"false" or a null marker. (A letter
    can start a float only as inf/nan, which are text too.)
    """
    return frozenset(string.ascii_letters) - set("tTfF") - {n[:1] for n in nulls}


def inferring_converter(decimal: str, nulls: frozenset[str]) -> Converter:
    """Unlisted columns: int, float, bool or text, whichever the value is written as.

    - digits: an integer, unless it has leading zeros (identifiers such as "007" stay text);
      a sign and surrounding blanks are allowed ("-5", " 12 ");
    - an ASCII number with a decimal point (or comma, with ``decimal: ","``) or an
      exponent: a float;
    - true/false in any case: a boolean;
    - a null marker with blanks around it: None;
    - anything else (including NaN/inf, "1_000", "0x1F"): the text as written.

    This runs for most values of most files, so the common cases avoid exceptions.
    """
    comma = decimal == ","
    plain = text_starts(nulls)
    number_starts = frozenset("0123456789+-.,") if comma else frozenset("0123456789+-.")

    def infer(value: str) -> Any:
        if value.isdecimal():
            if value[0] != "0" or len(value) == 1:
                try:
                    number = int(value)
                except ValueError:  # more digits than int() converts
                    return value
                return number if number <= INT_MAX else value  # beyond 64 bits: as written
            return value
        if value[:1] in plain:
            return value
        text = value.strip()
        if text in nulls:
            return None
        if text[:1] in number_starts:
            if comma:
                text = text.replace(",", ".")
            try:
                real = float(text)
            except ValueError:
                return value
            if real - real != 0.0 or "_" in text or not text.isascii():
                return value  # NaN, inf: not a reading; "1_000": not how loggers write numbers
            if "." in text or "e" in text or "E" in text:
                return real
            # float() read it and it has no point or exponent: optional sign, then digits.
            number = int(text)
            written = text.removeprefix("+")
            if not INT_MIN <= number <= INT_MAX:
                return value
            return number if str(number) == written or written == "-0" else value
        if len(text) <= 5:
            lowered = text.lower()
            if lowered == "true":
                return True
            if lowered == "false":
                return False
        return value

    return infer


def is_number(text: str) -> bool:
    """True if float() reads ``text``."""
    try:
        float(text)
    except ValueError:
        return False
    return True
