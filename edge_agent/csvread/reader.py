"""Streaming CSV reading: a file's layout (encoding, delimiter, header, units) and its records.

Memory does not grow with the file: lines are read one at a time, a line longer than
``maxLineBytes`` is skipped in bounded pieces, and a quoted field that never closes is cut off
at ``maxLineBytes`` and re-read line by line. Every record knows the physical line it starts on
and the byte offset just after it, which is what the ledger commits.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from edge_agent.config.models import CsvConfig
from edge_agent.csvread.encoding import Encoding, detect_encoding
from edge_agent.csvread.lines import PhysicalLine, iter_lines, newline_unit

_CANDIDATE_DELIMITERS = (",", ";", "\t", "|")
RAW_LIMIT = 4096  # characters of raw text kept for a quarantine entry


class FileFormatError(ValueError):
    """The file as a whole cannot be read with its dataset's settings (quarantined whole)."""


@dataclass(frozen=True, slots=True)
class Layout:
    """What is known about a file before its data rows: how to decode and split them."""

    encoding: Encoding
    delimiter: str
    quotechar: str
    header: tuple[str, ...] | None
    units: tuple[str, ...] | None
    data_offset: int  # byte offset of the first data row
    data_line: int  # its 1-based physical line number
    numbered: bool = False  # no header row: columns are named by position ("1", "2", ...)


@dataclass(slots=True)
class RawRecord:
    """One CSV record as read: its fields, or the problem that kept it from being read."""

    line: int
    next_line: int
    end_offset: int
    fields: list[str] | None
    problem: str | None
    lines: list[str]

    @property
    def raw(self) -> str:
        """The record's text as in the file, newline removed, cut to RAW_LIMIT characters."""
        text = "".join(self.lines)
        if text.endswith("\r\n"):
            text = text[:-2]
        elif text.endswith(("\n", "\r")):
            text = text[:-1]
        return text[:RAW_LIMIT]

    @property
    def blank(self) -> bool:
        """True for an empty line (nothing but the line ending)."""
        return self.fields is not None and (not self.fields or self.fields == [""])


def read_layout(stream: BinaryIO, options: CsvConfig) -> Layout:
    """Read the head of a file (encoding, header and units rows) without reading its data."""
    stream.seek(0)
    head = stream.read(4096)
    encoding = detect_encoding(head, options.encoding)
    newline = newline_unit(encoding.codec)
    data_line = options.data_start_line
    header_text: str | None = None
    units_text: str | None = None
    offset = encoding.bom_length
    number = 1
    first_data_text: str | None = None
    for physical in iter_lines(
        stream, encoding.bom_length, newline=newline, max_line_bytes=options.max_line_bytes
    ):
        if number >= data_line:
            if not physical.overlong:
                first_data_text = _decode_or_none(physical.data, encoding.codec)
            break
        if physical.overlong:
            raise FileFormatError(
                f"line {number} is longer than maxLineBytes ({options.max_line_bytes})"
            )
        try:
            text = physical.data.decode(encoding.codec)
        except UnicodeDecodeError as e:
            raise FileFormatError(_decode_problem(number, encoding, options, e)) from None
        if number == options.header_row:
            header_text = text
        elif number == options.units_row:
            units_text = text
        offset = physical.end_offset
        number += 1
    if header_text is None and options.header_row is not None:
        raise FileFormatError(
            "empty file"
            if number == 1
            else f"the file ends before its header row {options.header_row}"
        )
    delimiter = options.delimiter
    if delimiter == "auto":
        delimiter = sniff_delimiter(header_text or first_data_text or "", options.quotechar)
    header = _parse_one(header_text, delimiter, options.quotechar) if header_text else None
    units = _parse_one(units_text, delimiter, options.quotechar) if units_text else None
    numbered = False
    if header is not None:
        header = tuple(h.strip() for h in header)
        if all(not h for h in header):
            raise FileFormatError(f"header row {options.header_row} is empty")
    elif first_data_text is not None:
        width = len(_parse_one(first_data_text, delimiter, options.quotechar))
        header = tuple(str(i + 1) for i in range(width))
        numbered = True
    return Layout(
        encoding=encoding,
        delimiter=delimiter,
        quotechar=options.quotechar,
        header=header,
        units=tuple(u.strip() for u in units) if units else None,
        data_offset=offset,
        data_line=number,
        numbered=numbered,
    )


def sniff_delimiter(text: str, quotechar: str = '"') -> str:
    """The candidate delimiter that occurs most often outside quotes (',' when none does)."""
    counts = dict.fromkeys(_CANDIDATE_DELIMITERS, 0)
    quoted = False
    for ch in text:
        if ch == quotechar:
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_CANDIDATE_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _parse_one(text: str, delimiter: str, quotechar: str) -> tuple[str, ...]:
    row = next(csv.reader([text], delimiter=delimiter, quotechar=quotechar), [])
    return tuple(row)


def _decode_or_none(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def _decode_problem(
    line: int, encoding: Encoding, options: CsvConfig, e: UnicodeDecodeError
) -> str:
    hint = (
        "; set csv.encoding to the file's codec (e.g. cp1252 for Windows HMIs)"
        if options.encoding == "auto"
        else ""
    )
    return f"line {line} is not valid {encoding.codec} (byte {e.start}: {e.reason}){hint}"


class _RunawayRecordError(Exception):
    """A quoted field kept going past maxLineBytes: the record is cut off and re-read."""


class _LineFeed:
    """Decoded physical lines for csv.reader, remembering which lines the current record used.

    For encodings whose newline is the byte ``\\n`` the common case (a whole line of normal
    length) is read straight from the stream here; everything else goes through ``iter_lines``.
    """

    def __init__(
        self,
        stream: BinaryIO,
        start: int,
        *,
        codec: str,
        first_line: int,
        max_line_bytes: int,
        end: int | None,
        final: bool,
    ) -> None:
        self._codec = codec
        self._final = final
        self._max = max_line_bytes
        self._end = end
        self._offset = start
        newline = newline_unit(codec)
        stream.seek(start)
        self._readline = stream.readline if newline == b"\n" else None
        self._stream = stream
        self._slow: Iterator[PhysicalLine] | None = (
            None
            if self._readline is not None
            else iter_lines(stream, start, newline=newline, max_line_bytes=max_line_bytes, end=end)
        )
        self.pushback: deque[tuple[str, int, int, str | None]] = deque()
        self.next_line = first_line  # number of the next line to hand out
        self.record: list[str] = []
        self.record_meta: list[tuple[int, int, str | None]] = []  # (line, end_offset, problem)
        self.record_bytes = 0
        self.at_eof = False
        self.problems = False  # a line of the current record has a problem

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        readline = self._readline
        if readline is not None and not self.pushback:
            end = self._end
            limit = self._max if end is None else min(self._max, end - self._offset)
            data = readline(limit) if limit > 0 else b""
            if data[-1:] == b"\n":
                self._offset += len(data)
                number = self.next_line
                self.next_line = number + 1
                try:
                    text = data.decode(self._codec)
                except UnicodeDecodeError as e:
                    return self._bad_bytes(data, number, e)
                self.record.append(text)
                self.record_meta.append((number, self._offset, None))
                self.record_bytes += len(data)
                if self.record_bytes > self._max and len(self.record) > 1:
                    raise _RunawayRecordError
                return text
            # End of data, an unterminated last line or an overlong line: the general path.
            self._slow = _continue_lines(self._stream, data, self._offset, self._max, end)
            self._readline = None
        return self._general()

    def _general(self) -> str:
        if self.pushback:
            text, number, end, problem = self.pushback.popleft()
        else:
            assert self._slow is not None
            physical = next(self._slow, None)
            if physical is None or (not physical.terminated and not self._final):
                # A growing file's last line without newline is not complete yet.
                self.at_eof = True
                raise StopIteration
            number = self.next_line
            self.next_line += 1
            end = physical.end_offset
            problem = None
            if physical.overlong:
                text = physical.data.decode(self._codec, errors="replace")
                self._keep(text[:RAW_LIMIT], number, end, "line is longer than maxLineBytes")
                return "\n"
            try:
                text = physical.data.decode(self._codec)
            except UnicodeDecodeError as e:
                self._offset = end
                return self._bad_bytes(physical.data, number, e)
            if not physical.terminated:
                text += "\n"  # a settled file's last line without newline is complete
        self._keep(text, number, end, problem)
        if self.record_bytes > self._max and len(self.record) > 1:
            raise _RunawayRecordError
        return text

    def _bad_bytes(self, data: bytes, number: int, e: UnicodeDecodeError) -> str:
        problem = f"not valid {self._codec} at byte {e.start} of the line ({e.reason})"
        self._keep(data.decode(self._codec, errors="replace"), number, self._offset, problem)
        return "\n"

    def _keep(self, text: str, number: int, end: int, problem: str | None) -> None:
        if problem is not None:
            self.problems = True
        self.record.append(text)
        self.record_meta.append((number, end, problem))
        self.record_bytes += len(text)

    def take(self) -> tuple[list[str], list[tuple[int, int, str | None]]]:
        lines, meta = self.record, self.record_meta
        self.record, self.record_meta, self.record_bytes = [], [], 0
        return lines, meta


def _continue_lines(
    stream: BinaryIO, first: bytes, offset: int, max_line_bytes: int, end: int | None
) -> Iterator[PhysicalLine]:
    """The byte-newline general path, given the piece the fast path read at ``offset``."""
    if not first:
        return iter(())
    if len(first) < max_line_bytes:
        # The data ends without a newline (end of file, or of the range to read).
        return iter([PhysicalLine(first, offset + len(first), False)])
    # An overlong line: read it again from its start, in bounded pieces.
    return iter_lines(stream, offset, newline=b"\n", max_line_bytes=max_line_bytes, end=end)


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
    """
    feed = _LineFeed(
        stream,
        start_offset,
        codec=layout.encoding.codec,
        first_line=start_line,
        max_line_bytes=options.max_line_bytes,
        end=end,
        final=final,
    )
    quote = layout.quotechar

    def new_reader() -> Iterator[list[str]]:
        return csv.reader(feed, delimiter=layout.delimiter, quotechar=quote, strict=False)

    reader = new_reader()
    while True:
        try:
            fields: list[str] | None = next(reader)
            problem: str | None = None
        except StopIteration:
            return
        except _RunawayRecordError:
            # Quarantine the line that opened the quote; re-read the following lines on their own.
            lines_, meta = feed.take()
            for text, (number, end_, prob) in zip(lines_[1:], meta[1:], strict=True):
                feed.pushback.append((text, number, end_, prob))
            number, end_, _ = meta[0]
            yield RawRecord(
                number,
                number + 1,
                end_,
                None,
                f"quoted field not closed within maxLineBytes ({options.max_line_bytes})",
                lines_[:1],
            )
            reader = new_reader()
            continue
        except csv.Error as e:
            fields, problem = None, f"malformed CSV: {e}"
            reader = new_reader()
        lines_, meta = feed.take()
        if not meta:
            return
        first, last = meta[0], meta[-1]
        if problem is None and feed.problems:
            problem = next((p for _, _, p in meta if p), None)
            if problem is not None:
                fields = None
        feed.problems = False
        if feed.at_eof and problem is None and "".join(lines_).count(quote) % 2 == 1:
            if not final:
                return  # the writer is still inside a quoted field; read it next time
            fields, problem = None, "quoted field not closed at end of file"
        yield RawRecord(first[0], last[0] + 1, last[1], fields, problem, lines_)
