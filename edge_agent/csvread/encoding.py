"""Which encoding a file is in: the configured codec, or a BOM, or a UTF-16 guess, or UTF-8."""

from __future__ import annotations

import codecs
from dataclasses import dataclass

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
BOMS = tuple(bom for bom, _codec in _BOMS)


@dataclass(frozen=True, slots=True)
class Encoding:
    """The codec to decode lines with and how many BOM bytes precede the first line."""

    codec: str
    bom_length: int


def detect_encoding(head: bytes, configured: str) -> Encoding:
    """Pick the encoding from the first bytes of a file and the configured ``csv.encoding``.

    A BOM always wins (a configured ``utf-16`` file still starts after its BOM). With ``auto``
    and no BOM, text whose every other byte is NUL is taken as UTF-16 without BOM (Excel and
    some HMIs write that); anything else is UTF-8.
    """
    for bom, codec in _BOMS:
        if head.startswith(bom):
            # Even when the configured codec disagrees: the BOM is a fact about the bytes.
            return Encoding(codec, len(bom))
    if configured != "auto":
        name = codecs.lookup(configured).name
        if name == "utf-16":
            # Plain "utf-16" without BOM: Windows writes little-endian.
            return Encoding("utf-16-le", 0)
        if name == "utf-8-sig":
            return Encoding("utf-8", 0)
        return Encoding(name, 0)
    sample = _complete_lines(head[:256])
    if len(sample) >= 4:
        even_nul = sample[1::2].count(0)
        odd_nul = sample[0::2].count(0)
        half = len(sample) // 2
        if even_nul > 0.8 * half and odd_nul < 0.1 * half:
            return Encoding("utf-16-le", 0)
        if odd_nul > 0.8 * half and even_nul < 0.1 * half:
            return Encoding("utf-16-be", 0)
    return Encoding("utf-8", 0)


def _complete_lines(head: bytes, enough: int = 16) -> bytes:
    """The first whole lines of ``head``, at least ``enough`` bytes of them if there are.

    A growing file must be given the same encoding on every pass: bytes after these lines,
    or a line still being written, do not change the guess once these lines are complete.
    """
    end = 0
    while end < enough:
        newline = head.find(b"\n", end)
        if newline == -1:
            return head if end == 0 else head[:end]
        end = newline + 1
        if head[end : end + 1] == b"\x00":
            end += 1  # the second byte of a UTF-16-LE line end
    return head[:end]
