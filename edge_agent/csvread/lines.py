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
    """Lines for multi-byte code units (UTF-16/32): the newline must sit on a unit boundary.

    ``buf[pos:]`` is the unread part of the current line; ``buf_start`` is the file offset of
    ``buf[0]``. Lines are cut by index (not by re-slicing the buffer for every line), so a chunk
    of many short lines costs one pass over it.
    """
    unit = len(newline)
    buf = b""
    pos = 0
    buf_start = offset
    overlong_prefix: bytes | None = None  # first max_line_bytes of a line being skipped
    while True:
        i = buf.find(newline, pos)
        while i != -1 and (i - pos) % unit:
            i = buf.find(newline, i + 1)
        while i != -1:
            cut = i + unit
            end_offset = buf_start + cut
            if overlong_prefix is not None:
                yield PhysicalLine(overlong_prefix, end_offset, True, overlong=True)
                overlong_prefix = None
            elif cut - pos > max_line_bytes:
                yield PhysicalLine(buf[pos : pos + max_line_bytes], end_offset, True, overlong=True)
            else:
                yield PhysicalLine(buf[pos:cut], end_offset, True)
            pos = cut
            i = buf.find(newline, pos)
            while i != -1 and (i - pos) % unit:
                i = buf.find(newline, i + 1)
        # buf[pos:] holds no newline: drop what was read, keep the start of the current line.
        if pos:
            buf = buf[pos:]
            buf_start += pos
            pos = 0
        if len(buf) > max_line_bytes:
            if overlong_prefix is None:
                overlong_prefix = buf[:max_line_bytes]
            # Keep only an incomplete trailing unit; the rest of an overlong line is not needed.
            drop = len(buf) - len(buf) % unit
            buf = buf[drop:]
            buf_start += drop
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
