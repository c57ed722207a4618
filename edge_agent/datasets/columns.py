"""The columns of a file as the record builder types them, and the quarantine reason type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge_agent.config.datasets import PackedConfig
from edge_agent.csvread.values import Converter

RESERVED = frozenset({"ts", "line", "uncertain", "recordType"})


class RowError(ValueError):
    """A row does not fit its dataset; the message is the quarantine reason."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the file and how it becomes a field (or, packed, several fields)."""

    index: int
    name: str
    convert: Converter
    required: bool
    title: str
    description: str  # what the converter reads, for quarantine reasons
    form: str  # how the generated row function types it (see rowfunction)
    packed: tuple[str, ...] = ()  # field names of a packed cell


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, renamed if it is reserved (``ts_``) or taken (``name_2``)."""
    if name in RESERVED:
        name = f"{name}_"
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate


def packed_converter(
    packed: PackedConfig, convert: Converter, nulls: frozenset[str]
) -> tuple[Converter, tuple[str, ...]]:
    """A converter from a packed cell (``"0:681 1:681 "``) to its named fields, and their names.

    A key that the configuration does not name, or a reading that is not a key:value pair,
    raises: an unnamed sensor is not silently dropped. Readings the cell lacks are None.
    """
    names = packed.names
    fields = tuple(names.values()) if isinstance(names, dict) else tuple(names)
    empty = dict.fromkeys(fields)
    separator, key_separator = packed.separator, packed.key_separator

    def split(text: str) -> dict[str, Any]:
        out: dict[str, Any] = dict(empty)
        parts = [p for p in text.strip().split(separator) if p.strip()]
        if key_separator is None:
            assert isinstance(names, tuple)
            if len(parts) > len(names):
                raise ValueError(f"{len(parts)} readings but packed.names has {len(names)}")
            for name, part in zip(names, parts, strict=False):
                out[name] = None if part.strip() in nulls else convert(part)
            return out
        assert isinstance(names, dict)
        for part in parts:
            key, found, value = part.partition(key_separator)
            if not found:
                raise ValueError(f"reading {part!r} has no {key_separator!r}")
            field = names.get(key.strip())
            if field is None:
                raise ValueError(f"key {key.strip()!r} is not in packed.names")
            out[field] = None if value.strip() in nulls else convert(value)
        return out

    return split, fields
