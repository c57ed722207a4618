"""Streaming CSV reading: the records of a file, each with its line number and end offset.

Memory does not grow with the file: lines are read one at a time, a line longer than
``maxLineBytes`` is skipped in bounded pieces, and a quoted field that never closes is cut off
at ``maxLineBytes`` and re-read line by line. Every record knows the physical line it starts on
and the byte offset just after it, which is what the ledger commits.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from typing import BinaryIO

from edge_agent.config.datasets import CsvConfig
from edge_agent.csvread.fixedwidth import FixedWidthReader
from edge_agent.csvread.grouping import group_records
from edge_agent.csvread.layout import (
    FileFormatError,
    Layout,
    csv_problem,
    read_layout,
    sniff_delimiter,
)
from edge_agent.csvread.lines import PhysicalLine, iter_lines, newline_unit
from edge_agent.csvread.records import RAW_LIMIT, RawRecord

_SKIP_CHUNK = 64 * 1024  # piece size for reading past an overlong line

__all__ = [
    "RAW_LIMIT",
    "FileFormatError",
    "Layout",
    "RawRecord",
    "iter_records",
    "read_layout",
    "sniff_delimiter",
]


class _RunawayRecordError(Exception):
    """A quoted field kept going past maxLineBytes: the record is cut off and re-read."""


def _skip_line(readline: Callable[[int], bytes], offset: int, end: int | None) -> tuple[int, bool]:
    """Read past the rest of an overlong line in bounded pieces: (offset after it, newline seen)."""
    while end is None or offset < end:
        piece = readline(_SKIP_CHUNK if end is None else min(_SKIP_CHUNK, end - offset))
        if not piece:
            break
        offset += len(piece)
        if piece[-1:] == b"\n":
            return offset, True
    return offset, False


def iter_records(
    stream: BinaryIO,
    layout: Layout,
    options: CsvConfig,
    *,
    start_offset: int,
    start_line: int,
    final: bool,
    end: int | None = None,
) -> Iterator[RawRecord]:
    """Yield the records from ``start_offset`` (a record boundary) to the end of the data.

    ``final`` means the file is complete (settled): its last line counts even without a
    newline and an open quote at the end is an error. Otherwise (a growing log) the reading
    stops before an incomplete last line or record, which a later pass reads whole.

    Records follow each other without gaps: each starts on the line (``line``) and at the
    byte offset where the previous one ended (``next_line``, ``end_offset``). A record that
    cannot be read (bad bytes, NUL bytes, a line longer than maxLineBytes, a quoted field not
    closed within maxLineBytes or at the end of the file, malformed quoting, a value across a
    fixed-width column boundary) has ``fields`` None and a ``problem``.

    With ``recordStartPattern``, a record is a line matching it and the lines after it up to
    the next match (a time line and its value lines), so that a pass never starts or stops in
    the middle of one.
    """
    records = _iter_rows(
        stream,
        layout,
        options,
        start_offset=start_offset,
        start_line=start_line,
        final=final,
        end=end,
    )
    if options.record_start_pattern is None:
        return records
    return group_records(
        records, options.record_start_pattern, final=final, max_bytes=options.max_line_bytes
    )


def _iter_rows(
    stream: BinaryIO,
    layout: Layout,
    options: CsvConfig,
    *,
    start_offset: int,
    start_line: int,
    final: bool,
    end: int | None,
) -> Iterator[RawRecord]:
    """The records of ``iter_records``, one CSV record (or fixed-width line) each."""
    codec = layout.encoding.codec
    newline = newline_unit(codec)
    max_bytes = options.max_line_bytes
    if csv.field_size_limit() <= max_bytes:
        # A record is at most max_bytes long, so no field of it can be longer.
        csv.field_size_limit(max_bytes + 1)
    # State shared with the line feed below (closure cells are the fastest shared state).
    offset = start_offset  # end of the last line handed to csv.reader
    next_line = start_line  # number of the next line to read
    lines: list[str] = []  # decoded lines of the record being read
    nbytes = 0  # bytes of the record being read
    problem: str | None = None  # first problem of a line of the record being read
    at_eof = False  # the data ended (for a growing log: before an incomplete line)
    cut = False  # the record's last line has no line end (a complete file's last line)

    def take(physical: PhysicalLine) -> str | None:
        """Account for one physical line; the text for csv.reader, or None at the end."""
        nonlocal offset, next_line, nbytes, problem, at_eof, cut
        if not physical.terminated and not final:
            at_eof = True  # a growing file's last line without newline is not complete yet
            return None
        cut = not physical.terminated
        size = physical.end_offset - offset
        if lines and nbytes + size > max_bytes:
            raise _RunawayRecordError
        number = next_line
        offset = physical.end_offset
        nbytes += size
        next_line = number + 1
        data = physical.data
        if physical.overlong:
            problem = problem or f"line {number} is longer than maxLineBytes ({max_bytes})"
            lines.append(data.decode(codec, errors="replace")[:RAW_LIMIT])
            return "\n"
        try:
            text = data.decode(codec)
        except UnicodeDecodeError as e:
            problem = problem or (
                f"line {number} is not valid {codec} "
                f"(byte {e.start} of the line: {e.reason}); check csv.encoding"
            )
            lines.append(data.decode(codec, errors="replace"))
            return "\n"
        if not physical.terminated:
            text += "\n"  # a settled file's last line without newline is complete
        if "\x00" in text:
            problem = problem or f"line {number} contains NUL bytes"
        lines.append(text)
        return text

    def feed() -> Iterator[str]:
        """Decoded physical lines for csv.reader, accounted for as they are handed out."""
        nonlocal offset, next_line, nbytes, problem, at_eof
        stream.seek(offset)
        if newline != b"\n":
            for physical in iter_lines(
                stream, offset, newline=newline, max_line_bytes=max_bytes, end=end
            ):
                text = take(physical)
                if text is None:
                    return
                yield text
            at_eof = True
            return
        readline = stream.readline
        while True:
            limit = max_bytes if end is None else min(max_bytes, end - offset)
            data = readline(limit) if limit > 0 else b""
            if data[-1:] == b"\n" and not lines:
                # The common case, inline: a whole line that starts a record.
                try:
                    text = data.decode(codec)
                except UnicodeDecodeError:
                    pass
                else:
                    if "\x00" not in text:
                        offset += len(data)
                        nbytes = len(data)
                        next_line += 1
                        lines.append(text)
                        yield text
                        continue
            if not data:
                at_eof = True
                return
            if data[-1:] == b"\n":
                physical = PhysicalLine(data, offset + len(data), True)
            elif len(data) < max_bytes:
                # The data ends without a newline (end of file, or of the range to read).
                physical = PhysicalLine(data, offset + len(data), False)
            else:
                if lines and nbytes + len(data) > max_bytes:
                    raise _RunawayRecordError
                after, terminated = _skip_line(readline, offset + len(data), end)
                physical = PhysicalLine(data, after, terminated, overlong=True)
            text = take(physical)
            if text is None:
                return
            yield text

    def runaway_line(start: int) -> PhysicalLine:
        """The line a runaway record starts with, read again on its own."""
        return next(iter_lines(stream, start, newline=newline, max_line_bytes=max_bytes, end=end))

    quote = layout.quotechar
    first = start_line  # the line the record being read starts on
    record_start = start_offset
    cuts = layout.cuts

    def new_reader() -> Iterator[list[str]]:
        if cuts is not None:
            return FixedWidthReader(feed(), cuts)
        return csv.reader(feed(), delimiter=layout.delimiter, quotechar=quote, strict=False)

    reader = new_reader()
    while True:
        try:
            for fields in reader:
                if at_eof:
                    # csv.reader returns what it has when the data ends inside a quoted field.
                    if final:
                        yield RawRecord(
                            first,
                            next_line,
                            offset,
                            None,
                            "quoted field not closed at end of file",
                            lines,
                            record_start,
                            not cut,
                        )
                    # Else the writer is still inside the quoted field: read it next time.
                    return
                if problem is None:
                    record = RawRecord(
                        first, next_line, offset, fields, None, lines, record_start, not cut
                    )
                else:
                    record = RawRecord(
                        first, next_line, offset, None, problem, lines, record_start, not cut
                    )
                    problem = None
                cut = False
                first = next_line
                record_start = offset
                lines = []
                nbytes = 0
                yield record
        except _RunawayRecordError:
            # Quarantine the line that opened the quote; read the following lines on their own.
            physical = runaway_line(record_start)
            record = RawRecord(
                first,
                first + 1,
                physical.end_offset,
                None,
                f"quoted field not closed within maxLineBytes ({max_bytes}); "
                "the lines after it are read on their own",
                [physical.data.decode(codec, errors="replace")[:RAW_LIMIT]],
                record_start,
                physical.terminated,
            )
            offset = record_start = physical.end_offset
            next_line = first = first + 1
            lines = []
            nbytes = 0
            problem = None
            reader = new_reader()
            yield record
        except csv.Error as e:
            # The lines read so far are the bad record; csv.reader goes on with the next line.
            reason = csv_problem(e) if cuts is not None else f"malformed CSV: {csv_problem(e)}"
            record = RawRecord(first, next_line, offset, None, reason, lines, record_start, not cut)
            cut = False
            first = next_line
            record_start = offset
            lines = []
            nbytes = 0
            problem = None
            yield record
        else:
            return
