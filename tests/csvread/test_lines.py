"""Physical lines and encodings: byte offsets, code-unit newlines, bounded memory."""

from __future__ import annotations

import codecs
import io
import tracemalloc

import pytest

from edge_agent.config.datasets import CsvConfig
from edge_agent.csvread.encoding import Encoding, detect_encoding
from edge_agent.csvread.lines import PhysicalLine, iter_lines, newline_unit
from edge_agent.csvread.reader import iter_records, read_layout


def lines_of(data: bytes, codec: str = "utf-8", **kwargs: int | None) -> list[PhysicalLine]:
    start = kwargs.pop("start", None) or 0
    max_line_bytes = kwargs.pop("max_line_bytes", None) or 1024
    return list(
        iter_lines(
            io.BytesIO(data),
            start,
            newline=newline_unit(codec),
            max_line_bytes=max_line_bytes,
            end=kwargs.pop("end", None),
        )
    )


def lines_of_text(text: str, codec: str, **kwargs: int | None) -> list[PhysicalLine]:
    return lines_of(text.encode(codec), codec, **kwargs)


def shape(lines: list[PhysicalLine]) -> list[tuple[bytes, int, bool, bool]]:
    return [(p.data, p.end_offset, p.terminated, p.overlong) for p in lines]


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    ("codec", "unit"),
    [
        ("utf-8", b"\n"),
        ("cp1252", b"\n"),
        ("iso8859-1", b"\n"),
        ("utf-16-le", b"\n\x00"),
        ("utf_16_le", b"\n\x00"),
        ("utf-16-be", b"\x00\n"),
        ("utf-16", b"\n\x00"),
        ("utf-32-le", b"\n\x00\x00\x00"),
        ("utf-32-be", b"\x00\x00\x00\n"),
    ],
)
def test_newline_unit(codec: str, unit: bytes) -> None:
    assert newline_unit(codec) == unit


@pytest.mark.parametrize(
    ("head", "configured", "expected"),
    [
        (b"\xef\xbb\xbfa,b\n", "auto", Encoding("utf-8", 3)),
        (b"\xff\xfea\x00", "auto", Encoding("utf-16-le", 2)),
        (b"\xfe\xff\x00a", "auto", Encoding("utf-16-be", 2)),
        (b"\xff\xfe\x00\x00a\x00\x00\x00", "auto", Encoding("utf-32-le", 4)),
        # The BOM is a fact about the bytes, whatever the configuration says.
        (b"\xef\xbb\xbfa,b\n", "cp1252", Encoding("utf-8", 3)),
        (b"a,b\n", "auto", Encoding("utf-8", 0)),
        (b"a,b\n", "cp1252", Encoding("cp1252", 0)),
        (b"a,b\n", "latin-1", Encoding("iso8859-1", 0)),
        (b"a,b\n", "utf-8-sig", Encoding("utf-8", 0)),
        (b"a,b\n", "utf-16", Encoding("utf-16-le", 0)),
        ("ts,a\n1,2\n".encode("utf-16-le"), "auto", Encoding("utf-16-le", 0)),
        ("ts,a\n1,2\n".encode("utf-16-be"), "auto", Encoding("utf-16-be", 0)),
        # A run of NUL bytes (a block never written before a power loss) is not UTF-16.
        (b"\x00" * 300, "auto", Encoding("utf-8", 0)),
        (b"a,b\n" + b"\x00" * 300, "auto", Encoding("utf-8", 0)),
        (b"", "auto", Encoding("utf-8", 0)),
    ],
)
def test_detect_encoding(head: bytes, configured: str, expected: Encoding) -> None:
    assert detect_encoding(head, configured) == expected


# --------------------------------------------------------------------------- byte newlines


def test_byte_lines_with_offsets() -> None:
    data = b"a,b\r\n1,2\n\n3,4"
    assert shape(lines_of(data)) == [
        (b"a,b\r\n", 5, True, False),
        (b"1,2\n", 9, True, False),
        (b"\n", 10, True, False),
        (b"3,4", 13, False, False),
    ]
    assert shape(lines_of(data, start=5)) == shape(lines_of(data))[1:]


def test_byte_lines_stop_at_end() -> None:
    data = b"a,b\n1,2\n3,4\n"
    assert shape(lines_of(data, end=8)) == [(b"a,b\n", 4, True, False), (b"1,2\n", 8, True, False)]
    assert shape(lines_of(data, end=6))[-1] == (b"1,", 6, False, False)
    assert lines_of(data, start=8, end=8) == []


def test_overlong_byte_line_keeps_only_its_start() -> None:
    data = b"short\n" + b"x" * 5000 + b"\nnext\n" + b"y" * 3000
    assert shape(lines_of(data, max_line_bytes=1000)) == [
        (b"short\n", 6, True, False),
        (b"x" * 1000, 5007, True, True),
        (b"next\n", 5012, True, False),
        (b"y" * 1000, 8012, False, True),
    ]
    # The limit counts the newline: a line of exactly max_line_bytes is whole.
    assert shape(lines_of(b"x" * 999 + b"\n", max_line_bytes=1000)) == [
        (b"x" * 999 + b"\n", 1000, True, False)
    ]
    assert lines_of(b"x" * 1000 + b"\n", max_line_bytes=1000)[0].overlong


# --------------------------------------------------------------------------- code-unit newlines


def test_utf16_lines_split_on_aligned_newlines_only() -> None:
    # U+0A0A encodes as 0A 0A and U+0100 as 00 01: bytes that look like newlines off alignment.
    text = "a\u0a0a\u0100b\r\n\u0a00c\n\n\u4e0a"
    data = text.encode("utf-16-le")
    lines = lines_of(data, "utf-16-le")
    assert [p.data.decode("utf-16-le") for p in lines] == [
        "a\u0a0a\u0100b\r\n",
        "\u0a00c\n",
        "\n",
        "\u4e0a",
    ]
    assert [p.end_offset for p in lines] == [12, 18, 20, 22]
    assert [p.terminated for p in lines] == [True, True, True, False]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_unit_lines_across_chunk_boundaries(codec: str) -> None:
    rows = [f"{i},{'ä' * (i % 50)},\u0a0a\n" for i in range(6000)]
    data = "".join(rows).encode(codec)
    assert len(data) > 3 * 64 * 1024
    lines = lines_of(data, codec)
    assert [p.data.decode(codec) for p in lines] == rows
    assert lines[-1].end_offset == len(data)
    ends = [len("".join(rows[: i + 1]).encode(codec)) for i in (0, 1000, 5999)]
    assert [lines[i].end_offset for i in (0, 1000, 5999)] == ends


def test_unit_lines_start_after_a_bom_and_stop_at_end() -> None:
    data = codecs.BOM_UTF16_LE + "a\nbb\ncc".encode("utf-16-le")
    assert shape(lines_of(data, "utf-16-le", start=2, end=2 + 10)) == [
        ("a\n".encode("utf-16-le"), 6, True, False),
        ("bb\n".encode("utf-16-le"), 12, True, False),
    ]
    assert shape(lines_of(data, "utf-16-le", start=6, end=10)) == [
        ("bb".encode("utf-16-le"), 10, False, False)
    ]


def test_overlong_utf16_line() -> None:
    long = "x" * 300_000
    data = f"a\n{long}\nb\n{long}".encode("utf-16-le")
    lines = lines_of(data, "utf-16-le", max_line_bytes=1000)
    assert [(len(p.data), p.terminated, p.overlong) for p in lines] == [
        (4, True, False),
        (1000, True, True),
        (4, True, False),
        (1000, False, True),
    ]
    assert lines[1].data == ("x" * 500).encode("utf-16-le")
    assert lines[1].end_offset == 4 + 600_002
    assert lines[3].end_offset == len(data)
    # Found whole in one chunk, still cut.
    short = lines_of_text("a\n" + "y" * 600 + "\nb\n", "utf-16-le", max_line_bytes=1000)
    assert [(len(p.data), p.overlong) for p in short] == [(4, False), (1000, True), (4, False)]


# --------------------------------------------------------------------------- memory


class GeneratedFile(io.RawIOBase):
    """A seekable file of ``head + fill * size + tail`` whose bytes are made as they are read."""

    def __init__(self, head: bytes, fill: bytes, size: int, tail: bytes) -> None:
        self._head, self._tail = head, tail
        self._fill = fill * (64 * 1024 // len(fill))
        self._unit = len(fill)
        self._size = size
        self.length = len(head) + size + len(tail)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = {0: offset, 1: self._pos + offset, 2: self.length + offset}[whence]
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        written = 0
        while written < len(view) and self._pos < self.length:
            pos = self._pos
            if pos < len(self._head):
                piece = self._head[pos:]
            elif pos < len(self._head) + self._size:
                into = pos - len(self._head)
                start = into % self._unit
                left = self._size - into
                piece = self._fill[start : start + left]
            else:
                piece = self._tail[pos - len(self._head) - self._size :]
            n = min(len(piece), len(view) - written)
            view[written : written + n] = piece[:n]
            written += n
            self._pos += n
        return written


@pytest.mark.parametrize(
    ("codec", "size"), [("utf-8", 50 * 1024 * 1024), ("utf-16-le", 16 * 1024 * 1024)]
)
def test_a_50_mb_line_is_read_in_bounded_memory(codec: str, size: int) -> None:
    head = "ts,v\n2026-11-27T01:05:00Z,first\n2026-11-27T01:06:00Z,".encode(codec)
    tail = "\n2026-11-27T01:07:00Z,after\n".encode(codec)
    raw = GeneratedFile(head, "x".encode(codec), size, tail)
    stream = io.BufferedReader(raw, buffer_size=64 * 1024)
    options = CsvConfig(encoding=codec)  # default maxLineBytes: 1 MiB
    tracemalloc.start()
    try:
        layout = read_layout(stream, options)
        records = [
            (r.line, r.next_line, r.end_offset, r.fields, r.problem, len(r.raw))
            for r in iter_records(
                stream,
                layout,
                options,
                start_offset=layout.data_offset,
                start_line=layout.data_line,
                final=True,
            )
        ]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    long_end = raw.length - len(tail) + len("\n".encode(codec))
    assert records == [
        (
            2,
            3,
            len("ts,v\n2026-11-27T01:05:00Z,first\n".encode(codec)),
            ["2026-11-27T01:05:00Z", "first"],
            None,
            26,
        ),
        (3, 4, long_end, None, "line 3 is longer than maxLineBytes (1048576)", 4096),
        (4, 5, raw.length, ["2026-11-27T01:07:00Z", "after"], None, 26),
    ]
    assert peak < 8 * 1024 * 1024, peak  # a few times maxLineBytes, far below the line
