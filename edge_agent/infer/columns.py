"""What each column holds: its type, its unit, a field name, and how numbers are written."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from edge_agent.csvread.numbers import normalizer
from edge_agent.infer.table import is_marker

_UNIT_IN_NAME = (
    re.compile(r"^(?P<base>.*?)\s*,\s*(?P<unit>[^,()\[\]]{1,12}?)\s*\((?P<rest>.*)\)\s*$"),  # HOBO
    re.compile(r"^(?P<base>.*?)\s*\[\s*(?P<unit>[^\[\]]{1,16}?)\s*\]\s*$"),
    re.compile(r"^(?P<base>.*?)\s*\(\s*(?P<unit>[^()]{1,16}?)\s*\)\s*$"),
)
_NOT_UNITS = re.compile(r"^(?:utc|gmt.*|local|none|\(none\)|[a-z]+ ?\d+)$", re.IGNORECASE)
_UNIT_TEXT = re.compile(r"^(?=.*[A-Za-z%°µ])[A-Za-z0-9°µ%/^²³·*. -]+$")
_BOOLS = frozenset({"true", "false"})
_NUMBER_TITLE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


@dataclass
class ColumnGuess:
    """How ``infer`` proposes to read one column."""

    index: int
    key: str  # the key in the column map: header text, or 1-based position
    name: str | None = None
    type: str | None = None
    unit: str | None = None
    skip: bool = False
    note: str = ""
    packed: dict[str, str] | None = None  # key -> field name, for a cell of key:value readings


def number_style(columns: Sequence[Sequence[str]]) -> tuple[str, str | None, str]:
    """(decimal, thousands, why unsure) from the numeric-looking cells of a file's columns."""
    cells = [c.strip() for col in columns for c in col if c.strip()]
    comma = [c for c in cells if re.fullmatch(r"[+-]?\d*,\d+", c)]
    point = [c for c in cells if re.fullmatch(r"[+-]?\d*\.\d+", c)]
    grouped_point = [c for c in cells if re.fullmatch(r"[+-]?\d{1,3}(?:\.\d{3})+,\d+", c)]
    if grouped_point:
        return ",", ".", ""
    if not comma:
        return ".", None, ""
    threes = all(re.fullmatch(r"[+-]?\d{1,3},\d{3}", c) for c in comma)
    if not threes:
        if point and all(re.fullmatch(r"[+-]?\d{1,3}(?:\.\d{3})+", c) for c in point):
            # 21,4 and 1.021 in one file: the point groups thousands (CO2 of 1.021 ppm).
            return (
                ",",
                ".",
                "guessed: every point is followed by three digits (1.021) in a file of decimal "
                "commas: read as a thousands separator",
            )
        if point:
            return ",", None, "unsure: numbers are written with a decimal comma and with a point"
        return ",", None, ""
    if point:
        return ".", ",", ""
    # 1,137 only: thousands if the same columns also hold small numbers written without
    # (32, 110: a column of watts); a column where every number has its comma is decimals.
    plain = sum(
        1
        for col in columns
        if any(re.fullmatch(r"[+-]?\d{1,3},\d{3}", c.strip()) for c in col)
        for c in col
        if re.fullmatch(r"[+-]?\d+", c.strip())
    )
    if not plain:
        return (
            ",",
            None,
            "unsure: every comma is followed by three digits (18,125): read as a decimal "
            "comma; if they are thousands, set decimal: '.' and thousands: ','",
        )
    return (
        ".",
        ",",
        (
            "unsure: every comma is followed by three digits (1,137): read as a thousands "
            "separator; if they are decimals, set decimal: ',' and thousands: null"
        ),
    )


def cell_type(values: Sequence[str], decimal: str, thousands: str | None) -> str | None:
    """int, float, bool or str for the non-empty, non-marker ``values``; None if there are none."""
    normalize = normalizer(decimal, thousands)
    kinds = set()
    for value in values:
        text = value.strip()
        if not text or is_marker(text):
            continue
        if text.lower() in _BOOLS:
            kinds.add("bool")
            continue
        try:
            number = normalize(text)
            float(number)
        except ValueError:
            kinds.add("str")
            continue
        if "_" in number or not number.isascii():
            kinds.add("str")
            continue
        try:
            int(number)
        except ValueError:
            kinds.add("float")
        else:
            kinds.add("int" if not (len(text) > 1 and text.lstrip("+-")[:1] == "0") else "str")
    if not kinds:
        return None
    if kinds <= {"int", "float"}:
        return "float" if "float" in kinds else "int"
    return next(iter(kinds)) if len(kinds) == 1 else "str"


def split_unit(title: str) -> tuple[str, str | None]:
    """The name without its unit, and the unit a header cell carries (``Temp (°C)``)."""
    for pattern in _UNIT_IN_NAME:
        found = pattern.match(title)
        if found and found.group("base").strip():
            unit = found.group("unit").strip()
            if _UNIT_TEXT.match(unit) and not _NOT_UNITS.match(unit):
                return found.group("base").strip(), unit
    return title, None


_PACKED = re.compile(r"^\s*(?:[\w.-]+:[-+]?[\d.,]+\s+)*[\w.-]+:[-+]?[\d.,]+\s*$")


def packed_keys(values: Sequence[str]) -> list[str] | None:
    """The keys of cells that hold several ``key:value`` readings (``"0:681 1:681 "``)."""
    if not values or not all(_PACKED.match(v) for v in values):
        return None
    keys: list[str] = []
    for value in values:
        for part in value.split():
            key = part.partition(":")[0]
            if key not in keys:
                keys.append(key)
    return keys if len(keys) > 1 or any(len(v.split()) > 1 for v in values) else None


def slug(text: str) -> str:
    """snake_case ASCII of a header text: ``Temp Out`` -> ``temp_out``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[A-Za-z0-9]+", ascii_text)
    return "_".join(w.lower() for w in words)


def field_names(titles: Sequence[str]) -> list[str]:
    """A short unique field name per column: the slug without unit, told apart if it repeats."""
    # A title that is a number (a DTS trace's distance, -3.03) is kept as written: its slug
    # would drop the sign and the point and name two columns alike.
    bases = [
        t.strip() if _NUMBER_TITLE.fullmatch(t.strip()) else slug(split_unit(t)[0]) or f"col{i + 1}"
        for i, t in enumerate(titles)
    ]
    names = list(bases)
    groups: dict[str, list[int]] = {}
    for i, base in enumerate(bases):
        groups.setdefault(base, []).append(i)
    for base, members in groups.items():
        if len(members) < 2:
            continue
        token_lists = [slug(titles[i]).split("_") for i in members]
        common = set.intersection(*(set(t) for t in token_lists))
        for i, tokens in zip(members, token_lists, strict=True):
            extra = [t for t in tokens if t not in common]
            follower = slug(titles[i + 1]) if i + 1 < len(titles) else ""
            if extra:
                names[i] = "_".join([base, *extra])
            elif follower and bases.count(slug(split_unit(titles[i + 1])[0])) == 1:
                # A repeated label before each channel (TwinCAT: "Name", "var_INT8"): the
                # label column is the channel's time.
                names[i] = f"{follower}_time"
    seen: set[str] = set()
    for i, name in enumerate(names):
        candidate, n = name, 1
        while candidate in seen or candidate in ("ts", "line", "uncertain", "record_type"):
            n += 1
            candidate = f"{name}_{n}"
        seen.add(candidate)
        names[i] = candidate
    return names
