"""Physical lines of a byte stream, with their byte offsets, never holding an overlong line whole.

Splitting happens on the *encoded* bytes so that every line's end offset is exact: that offset
is what the ledger commits. For ASCII-compatible encodings a newline is the byte ``\\n``; for
UTF-16 it is the two-byte code unit at an even offset.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

_CHUNK = 64 * 1024


@dataclass(slots=True)
class PhysicalLine:
    """One physical line: its bytes (newline included), where it ends, and how it ended.

    ``overlong`` lines keep only their first ``max_line_bytes`` bytes in ``data``; the rest was
    skipped without being held in memory. ``terminated`` is False for a last line that has no
    newline (yet).
    """

    data: bytes
    end_offset: int
    terminated: bool
    overlong: bool = False


def newline_unit(encoding: str) -> bytes:
    """The encoded newline for an encoding family."""
    name = encoding.lower().replace("_", "-")
    if name.startswith(("utf-16-be", "utf-16be")):
        return b"\x00\n"
    if name.startswith(("utf-16", "utf16")):
        return b"\n\x00"
    if name.startswith(("utf-32-be", "utf-32be")):
        return b"\x00\x00\x00\n"
    if name.startswith(("utf-32", "utf32")):
        return b"\n\x00\x00\x00"
    return b"\n"


def iter_lines(
    stream: BinaryIO,
    start: int,
    *,
    newline: bytes,
    max_line_bytes: int,
    end: int | None = None,
) -> Iterator[PhysicalLine]:
    """Yield the physical lines of ``stream`` from byte offset ``start`` (a line start).

    Reading stops at ``end`` if given (bytes past it are not looked at), else at end of file.
    """
    stream.seek(start)
    if newline == b"\n":
        yield from _iter_byte_lines(stream, start, max_line_bytes, end)
    else:
        yield from _iter_unit_lines(stream, start, newline, max_line_bytes, end)


def _iter_byte_lines(
    stream: BinaryIO, offset: int, max_line_bytes: int, end: int | None
) -> Iterator[PhysicalLine]:
    readline = stream.readline
    while True:
        limit = max_line_bytes if end is None else min(max_line_bytes, end - offset)
        if limit <= 0:
            return
        data = readline(limit)
        if not data:
            return
        offset += len(data)
        if data[-1:] == b"\n":
            yield PhysicalLine(data, offset, True)
            continue
        if len(data) < max_line_bytes:
            # End of file (or of the readable range) without a newline.
            yield PhysicalLine(data, offset, False)
            return
        # Overlong: skip to the next newline in bounded pieces.
        terminated = False
        while end is None or offset < end:
            piece = readline(_CHUNK if end is None else min(_CHUNK, end - offset))
            if not piece:
                break
            offset += len(piece)
            if piece[-1:] == b"\n":
                terminated = True
                break
        yield PhysicalLine(data, offset, terminated, overlong=True)
        if not terminated:
            return


def _iter_unit_lines(
    stream: BinaryIO, offset: int, newline: bytes, max_line_bytes: int, end: int | None
) -> Iterator[PhysicalLine]:
    """Lines for multi-byte code units (UTF-16/32): the newline must sit on a unit boundary."""
    unit = len(newline)
    buf = b""
    buf_start = offset  # file offset of buf[0]; always unit-aligned relative to the line start
    overlong_prefix: bytes | None = None
    while True:
        search_from = 0
        while True:
            i = buf.find(newline, search_from)
            while i != -1 and (i % unit) != 0:
                i = buf.find(newline, i + 1)
            if i == -1:
                break
            cut = i + unit
            line, buf = buf[:cut], buf[cut:]
            buf_start += cut
            if overlong_prefix is not None:
                yield PhysicalLine(overlong_prefix, buf_start, True, overlong=True)
                overlong_prefix = None
            elif len(line) > max_line_bytes:
                yield PhysicalLine(line[:max_line_bytes], buf_start, True, overlong=True)
            else:
                yield PhysicalLine(line, buf_start, True)
            search_from = 0
        if len(buf) > max_line_bytes:
            keep = len(buf) - (len(buf) % unit) - unit  # keep a partial unit and a maybe-newline
            if overlong_prefix is None:
                overlong_prefix = buf[:max_line_bytes]
            if keep > 0:
                buf = buf[keep:]
                buf_start += keep
        want = _CHUNK if end is None else min(_CHUNK, end - (buf_start + len(buf)))
        chunk = stream.read(want) if want > 0 else b""
        if not chunk:
            if buf or overlong_prefix is not None:
                data = overlong_prefix if overlong_prefix is not None else buf
                yield PhysicalLine(
                    data, buf_start + len(buf), False, overlong=overlong_prefix is not None
                )
            return
        buf += chunk
