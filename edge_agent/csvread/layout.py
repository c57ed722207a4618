"""A file's layout: its encoding, delimiter, header and units rows, where its data starts."""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass, field
from typing import BinaryIO

from edge_agent.config.datasets import CsvConfig
from edge_agent.csvread.encoding import BOMS, Encoding, detect_encoding
from edge_agent.csvread.fixedwidth import RULE, column_cuts, stacked_names
from edge_agent.csvread.lines import iter_lines, newline_unit

_CANDIDATE_DELIMITERS = (",", ";", "\t", "|")
_SCAN_LINES = 64  # lines looked at for the first data rows
# The first data rows: their widest fixes the columns of a file without header; they also fix
# what the dataset layer derives per file (row order, one type per unlisted column, fixed-width
# columns), so that a pass resumed in the middle of the file decides exactly as a whole one.
_SAMPLE_ROWS = 16
_PREAMBLE_CHARS = 64 * 1024  # lines before the data kept for timeBase / timezonePattern
_SAMPLE_CHARS = 256 * 1024  # the first data rows kept: bounded whatever their length
_SEP_LINE = re.compile(r"^sep=(.)\r?\n?$")  # Excel's hint line: "sep=;"


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
    # False when a line before the data has no line end yet: a growing log whose header is
    # still being written (its columns may be cut short).
    header_complete: bool = True
    # The lines before the data (metadata, header), for timeBase and timezonePattern.
    preamble: tuple[str, ...] = ()
    # The first data rows as text (at most _SAMPLE_ROWS): what is decided per file.
    sample: tuple[str, ...] = ()
    # Fixed-width files: the character positions where columns start.
    cuts: tuple[int, ...] | None = None
    # The file itself, for what must look at the rows around one (a DST repeat); the reader
    # and the dataset layer restore its position after such a look.
    stream: BinaryIO | None = field(default=None, compare=False, repr=False)


def read_layout(stream: BinaryIO, options: CsvConfig) -> Layout:
    """Read the head of a file (encoding, header and units rows) without reading its data.

    Raises FileFormatError when the file as a whole cannot be read with ``options``: it is
    empty, ends before its header row, or its header rows do not decode or are too long.
    """
    stream.seek(0)
    head = stream.read(4096)
    encoding = detect_encoding(head, options.encoding)
    newline = newline_unit(encoding.codec)
    data_line = options.data_start_line
    header_text: str | None = None
    units_text: str | None = None
    offset = encoding.bom_length
    number = 1
    header_complete = True
    sample: list[str] = []  # the first data lines that decode: for sniffing and column counts
    preamble: list[str] = []
    kept = 0
    header_lines: list[str] = []
    sep_line: str | None = None
    header_end = options.header_end
    scanned = sampled = 0
    for physical in iter_lines(
        stream, encoding.bom_length, newline=newline, max_line_bytes=options.max_line_bytes
    ):
        if number >= data_line:
            # A header says how wide rows are; without one, look for a row to count.
            scanned += 1
            if physical.terminated and not physical.overlong:
                # (An unterminated last line may still be being written: a partial row.)
                text = _decode_or_none(physical.data, encoding.codec)
                if text is not None and text.strip() and "\x00" not in text:
                    sample.append(text)
                    sampled += len(text)
            if len(sample) >= _SAMPLE_ROWS or scanned >= _SCAN_LINES or sampled > _SAMPLE_CHARS:
                break
            continue
        if physical.overlong:
            raise FileFormatError(
                f"line {number} is longer than maxLineBytes ({options.max_line_bytes}); "
                "check csv.headerRow and csv.encoding"
            )
        try:
            text = physical.data.decode(encoding.codec)
        except UnicodeDecodeError as e:
            problem = _decode_problem(number, encoding, options, e)
            if physical.terminated:
                raise FileFormatError(problem) from None
            # No line end yet: a growing log's writer may be mid-character, or the encoding
            # guessed from a few bytes may change once the line is whole.
            if _cut_short(physical.data, encoding, number):
                raise FileFormatError(_unfinished(number)) from None
            raise FileFormatError(f"{_unfinished(number)}; {problem}") from None
        if not physical.terminated:
            # The writer may still be writing this line (a growing log just created).
            header_complete = False
        if number == 1 and (sep := _SEP_LINE.match(text)):
            sep_line = sep.group(1)
        if options.header_row is not None and header_end is not None:
            if number == options.header_row:
                header_text = text
            if options.header_row <= number <= header_end:
                header_lines.append(text)
        if number == options.units_row:
            units_text = text
        if kept < _PREAMBLE_CHARS:
            preamble.append(text.rstrip("\r\n"))
            kept += len(text)
        offset = physical.end_offset
        number += 1
    if header_end is not None and len(header_lines) < options.header_rows:
        header_text = None  # a stacked header not complete yet
    if header_text is None and options.header_row is not None:
        if number == 1 and encoding.bom_length:
            # A growing log waits for what comes after its byte order mark.
            raise FileFormatError(
                f"empty file: nothing after its byte order mark (it ends before its header "
                f"row {options.header_row})"
            )
        raise FileFormatError(
            "empty file"
            if number == 1
            else f"the file ends before its header row {options.header_row}"
        )
    delimiter = options.delimiter
    cuts = None
    if delimiter == "fixed":
        cuts, header, units = _fixed_columns(options, header_lines, units_text, sample)
    elif delimiter == "auto" and sep_line is not None:
        delimiter = sep_line
    if delimiter == "auto":
        if header_text is not None:
            text, data = header_text, sample[0] if sample else None
        else:
            # Without header: the row with the most candidates (not a "$RT_OFF$" marker row).
            quote = options.quotechar
            text = max(sample, key=lambda t: sum(_count_candidates(t, quote).values()), default="")
            data = None
        delimiter = sniff_delimiter(text, options.quotechar, data=data, decimal=options.decimal)
    if cuts is None:
        header, units = _delimited_header(
            header_lines, units_text, delimiter, options, number, complete=header_complete
        )
    numbered = False
    if header is None and cuts is not None:
        header = tuple(str(i + 1) for i in range(len(cuts)))
        numbered = True
    if header is None and sample:
        # The widest of the first rows: a marker row ("$RT_OFF$") must not fix a width of 1.
        skip = [re.compile(p) for p in options.skip_patterns]
        start = re.compile(options.record_start_pattern) if options.record_start_pattern else None
        width = grouped = 0
        for text in sample:
            if any(p.search(text) for p in skip):
                continue
            try:
                cells = len(_parse_one(text, delimiter, options.quotechar))
            except csv.Error:
                continue
            if start is not None:
                # Records of a time line and its value lines: as wide as their lines together.
                grouped = cells if start.search(text) else grouped + cells
                cells = grouped
            width = max(width, cells)
        if width:  # else each row is typed by its own width (RecordBuilder)
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
        header_complete=header_complete,
        preamble=tuple(preamble),
        sample=tuple(sample),
        cuts=cuts,
        stream=stream,
    )


def _fixed_columns(
    options: CsvConfig, header_lines: list[str], units_text: str | None, sample: list[str]
) -> tuple[tuple[int, ...], tuple[str, ...] | None, tuple[str, ...] | None]:
    """Cuts, header and units of a whitespace-aligned file: columns by position."""
    skip = [re.compile(p) for p in (*options.skip_patterns, *options.footer_patterns)]
    rows = [t for t in sample if not RULE.match(t) and not any(p.search(t) for p in skip)]
    cuts = column_cuts([*header_lines, *rows])
    header = stacked_names(header_lines, cuts) if header_lines else None
    units = stacked_names([units_text], cuts) if units_text is not None else None
    return cuts, header, units


def _delimited_header(
    header_lines: list[str],
    units_text: str | None,
    delimiter: str,
    options: CsvConfig,
    number: int,
    *,
    complete: bool,
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """Header and units of a delimited file; a header still being written is said so."""
    try:
        return _header_rows(header_lines or None, units_text, delimiter, options)
    except FileFormatError as e:
        if not complete:
            # Its last line has no line end: a header still being written (cut inside a
            # quoted name, say) is not a wrong header. A growing log waits for the rest.
            raise FileFormatError(f"{_unfinished(number - 1)} ({e})") from None
        raise


def sniff_delimiter(
    text: str, quotechar: str = '"', *, data: str | None = None, decimal: str = "."
) -> str:
    """The candidate delimiter that occurs most often outside quotes in ``text`` (the header).

    With a decimal comma, ``,`` is taken only when no other candidate occurs (a file with
    decimal commas is separated by something else: ``;`` on Windows, or a tab). Ties are
    broken by ``data`` (a data row: the delimiter occurs as often there as in the header),
    then by the order ``,`` ``;`` tab ``|``. ``,`` when no candidate occurs at all.
    """
    counts = _count_candidates(text, quotechar)
    if decimal == "," and any(counts[d] for d in _CANDIDATE_DELIMITERS if d != ","):
        counts[","] = 0
    best = max(counts.values())
    if not best:
        return ","
    tied = [d for d in _CANDIDATE_DELIMITERS if counts[d] == best]
    if len(tied) > 1 and data is not None:
        in_data = _count_candidates(data, quotechar)
        tied = [d for d in tied if in_data[d] == best] or tied
    return tied[0]


def _count_candidates(text: str, quotechar: str) -> dict[str, int]:
    counts = dict.fromkeys(_CANDIDATE_DELIMITERS, 0)
    quoted = False
    for ch in text:
        if ch == quotechar:
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    return counts


def _parse_row(text: str, delimiter: str, quotechar: str, number: int | None) -> tuple[str, ...]:
    try:
        return _parse_one(text, delimiter, quotechar)
    except csv.Error as e:
        raise FileFormatError(f"line {number} is not valid CSV: {csv_problem(e)}") from None


def _parse_one(text: str, delimiter: str, quotechar: str) -> tuple[str, ...]:
    row = next(csv.reader([text], delimiter=delimiter, quotechar=quotechar), [])
    return tuple(row)


def _header_rows(
    header_lines: list[str] | None, units_text: str | None, delimiter: str, options: CsvConfig
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """The header (stacked over ``headerRows`` lines) and units rows split into names and units."""
    header = units = None
    if header_lines:
        assert options.header_row is not None
        rows = [
            _parse_row(text, delimiter, options.quotechar, options.header_row + n)
            for n, text in enumerate(header_lines)
        ]
        width = max(len(r) for r in rows)
        header = tuple(
            " ".join(r[i].strip() for r in rows if i < len(r) and r[i].strip())
            for i in range(width)
        )
        if all(not h for h in header):
            raise FileFormatError(f"header row {options.header_row} is empty; check csv.headerRow")
    if units_text is not None:
        units = _parse_row(units_text, delimiter, options.quotechar, options.units_row)
    return header, units


def _unfinished(line: int) -> str:
    return f"the file ends before its line {line} is complete (no line end yet)"


def _cut_short(data: bytes, encoding: Encoding, number: int) -> bool:
    """True if ``data`` is valid up to where a writer stopped: inside a character, or (line 1)
    inside a byte order mark."""
    if number == 1 and not encoding.bom_length and any(b.startswith(data) for b in BOMS):
        return True
    try:
        codecs.getincrementaldecoder(encoding.codec)().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _decode_or_none(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def _decode_problem(
    line: int, encoding: Encoding, options: CsvConfig, e: UnicodeDecodeError
) -> str:
    if encoding.bom_length:
        why = f"the file starts with a {encoding.codec} byte order mark"
    elif options.encoding != "auto":
        why = f"csv.encoding is {options.encoding}"
    elif encoding.codec == "utf-8":
        why = "csv.encoding is auto, which reads a file without byte order mark as utf-8"
    else:
        why = f"csv.encoding is auto and the file looks like {encoding.codec} without BOM"
    return (
        f"line {line} is not valid {encoding.codec} (byte {e.start} of the line: {e.reason}); "
        f"{why}: set csv.encoding to the file's encoding (e.g. cp1252 for Windows HMIs)"
    )


def csv_problem(error: csv.Error) -> str:
    """What a csv.Error says about the file (its own wording suggests a Python fix)."""
    reason = str(error)
    if "new-line character" in reason:
        return "a carriage return (CR) inside an unquoted field"
    return reason
