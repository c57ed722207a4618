"""Numbers as equipment writes them: decimal comma, thousands separators, values stored x10.

A thousands separator is accepted only where it groups digits by three (``1,137``,
``1.137,5``): with ``thousands: "."`` a WinCC ``60.00`` is refused, not read as 6000. A value
that looks like a number in another convention than the dataset's gets a hint naming the
setting (``number_hint``), so that a quarantine entry says how to fix the configuration.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

Converter = Callable[[str], Any]

# What a JSON consumer (and orjson) can take as an integer: signed or unsigned 64 bits.
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1

_COMMA_DECIMAL = re.compile(r"^[+-]?\d*,\d+$")
_GROUPED = re.compile(r"^[+-]?\d{1,3}(?P<sep>[,.' ])\d{3}(?:(?P=sep)\d{3})*(?:[.,]\d+)?$")


def grouping(thousands: str, decimal: str) -> re.Pattern[str]:
    """Digits grouped by three with ``thousands``, an optional ``decimal`` part."""
    t, d = re.escape(thousands), re.escape(decimal)
    return re.compile(rf"^[+-]?\d{{1,3}}(?:{t}\d{{3}})+(?:{d}\d*)?$")


def normalizer(decimal: str, thousands: str | None) -> Callable[[str], str]:
    """A function that turns a stripped number text into what ``float()`` reads, or raises."""
    if thousands is None:
        if decimal == ",":
            return lambda text: text.replace(",", ".")
        return lambda text: text
    grouped = grouping(thousands, decimal)

    def normalize(text: str) -> str:
        if thousands in text:
            if not grouped.match(text):
                raise ValueError(f"{text!r}: thousands separator {thousands!r} not between groups")
            text = text.replace(thousands, "")
        return text.replace(",", ".") if decimal == "," else text

    return normalize


def number_hint(text: str, decimal: str, thousands: str | None) -> str:
    """Why a text that did not read as a number may be one in another convention ('' if not)."""
    value = text.strip()
    if decimal == "." and _COMMA_DECIMAL.match(value):
        digits = len(value) - value.index(",") - 1
        if digits == 3 and thousands != ",":
            return (
                "; it looks like a number with a thousands separator (set csv.thousands: ',') "
                "or a decimal comma (set csv.decimal: ',')"
            )
        return "; it looks like a number with a decimal comma: set csv.decimal: ','"
    found = _GROUPED.match(value)
    if found and found.group("sep") != thousands:
        sep = found.group("sep")
        return f"; it looks like a number with thousands separators: set csv.thousands: {sep!r}"
    return ""


def number_converter(decimal: str, thousands: str | None, nulls: frozenset[str]) -> Converter:
    """A column that is numeric in this file: an int when written as one, else a float.

    Not a number (text, NaN aside): ValueError. NaN/inf are a missing reading (None).
    """
    normalize = normalizer(decimal, thousands)

    def to_number(value: str) -> int | float | None:
        text = value.strip()
        if text in nulls:
            return None
        if "_" in text or not text.isascii():
            raise ValueError(value)  # float() reads "1_000" and other scripts; loggers do not
        text = normalize(text)
        try:
            whole = int(text)
        except ValueError:
            number = float(text)
            return number if number - number == 0.0 else None
        if not INT_MIN <= whole <= INT_MAX:
            raise ValueError(f"{value} is beyond the 64-bit integer range")
        return whole

    return to_number


def scaled(convert: Converter, scale: float | None, offset: float | None) -> Converter:
    """``convert`` then ``value * scale + offset``, in decimal so that -294 x 0.1 is -29.4."""
    factor = Decimal(repr(scale)) if scale is not None else Decimal(1)
    shift = Decimal(repr(offset)) if offset is not None else Decimal(0)

    def scale_value(text: str) -> float | None:
        value = convert(text)
        if value is None:
            return None
        try:
            return float(Decimal(repr(value)) * factor + shift)
        except InvalidOperation:
            raise ValueError(text) from None

    return scale_value
