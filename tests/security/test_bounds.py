"""Oversized input is bounded: a line longer than maxLineBytes is quarantined without being held
in memory, and a big file is streamed (memory does not grow with its size).

Measured with tracemalloc through the real ingest pass (local source, SQLite outbox). The
200 MB single line is a sparse file (a hole of NUL bytes between a header and a last row), so
it costs no disk and little time while every byte of it is still read.
"""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from edge_agent.config.datasets import DatasetConfig
from edge_agent.csvread.reader import RAW_LIMIT, iter_records, read_layout
from tests.fuzz.harness import FILE, Pipeline

MB = 1024 * 1024
MAX_LINE = 1 * MB  # the default maxLineBytes
_T = TypeVar("_T")


def peak_of(action: Callable[[], _T]) -> tuple[_T, int]:
    """What ``action`` returns and the peak of Python memory it allocated (bytes)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = action()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return result, peak


def sparse_line_file(path: Path, size: int, codec: str = "utf-8") -> None:
    """``a,v`` then one line of ``size`` NUL bytes (a hole: no disk), then ``2,3``."""
    head = "a,v\n1,".encode(codec)
    tail = "\n2,3\n".encode(codec)
    with path.open("wb") as f:
        f.write(head)
        f.truncate(len(head) + size)
        f.seek(len(head) + size)
        f.write(tail)


@pytest.mark.parametrize(("codec", "size"), [("utf-8", 200 * MB), ("utf-16-le", 50 * MB)])
def test_a_200_mb_line_is_quarantined_without_holding_it(
    tmp_path: Path, codec: str, size: int
) -> None:
    ds = DatasetConfig.model_validate({"csv": {"encoding": codec}, "columns": {}})
    p = Pipeline(tmp_path, ds, max_payload_bytes=131_072)
    try:
        sparse_line_file(p.folder / FILE, size, codec)
        result, peak = peak_of(p.run)
        out = p.published()
    finally:
        p.close()
    assert (result.published, result.quarantined, result.state) == (1, 1, "read")
    [entry] = out.quarantined
    assert entry["line"] == 2
    assert f"longer than maxLineBytes ({MAX_LINE})" in entry["reason"]
    assert len(entry["raw"]) <= RAW_LIMIT
    assert [r["line"] for r in out.records] == [3]
    # The reader may hold one maxLineBytes piece of the line (plus a read chunk), never more.
    assert peak < 4 * MAX_LINE, f"peak {peak / MB:.1f} MiB for a {size // MB} MiB line"


def test_an_unclosed_quote_is_cut_off_at_max_line_bytes() -> None:
    ds = DatasetConfig.model_validate({"csv": {"maxLineBytes": 4096}, "columns": {}})
    rows = b"".join(b"%d,%d\n" % (i, i) for i in range(50_000))  # ~0.6 MB after the quote
    data = b'ts,v\n1,"never closed\n' + rows

    def read() -> tuple[int, int, int]:
        stream = io.BytesIO(data)
        layout = read_layout(stream, ds.csv)
        records = iter_records(
            stream, layout, ds.csv, start_offset=layout.data_offset, start_line=2, final=True
        )
        first = next(records)
        assert (first.line, first.fields) == (2, None)  # the line that opened the quote
        count = last = 0
        for record in records:  # the rest are read on their own, one record per line
            assert record.fields is not None and record.next_line == record.line + 1
            count, last = count + 1, record.line
        return first.line, count, last

    result, peak = peak_of(read)
    assert result == (2, 50_000, 50_002)
    assert peak < 64 * 4096, peak


def test_memory_does_not_grow_with_file_size(tmp_path: Path) -> None:
    ds = DatasetConfig.model_validate({"csv": {"timestampColumn": "ts"}, "columns": {}})

    def ingest(rows: int, where: Path) -> int:
        where.mkdir()
        p = Pipeline(where, ds)
        try:
            with (p.folder / FILE).open("w") as f:
                f.write("ts,a,b\n")
                f.writelines(f"2026-11-27T01:00:{i % 60:02d}Z,{i},{i * 0.5}\n" for i in range(rows))
            result, peak = peak_of(p.run)
        finally:
            p.close()
        assert result.published == rows
        return peak

    small = ingest(10_000, tmp_path / "small")
    big = ingest(100_000, tmp_path / "big")  # ten times the rows and bytes (~3.5 MB)
    assert big < small * 1.5 + MB, f"{small / MB:.2f} MiB for 10k rows, {big / MB:.2f} for 100k"


def test_a_huge_bad_value_still_fits_one_quarantine_payload(tmp_path: Path) -> None:
    ds = DatasetConfig.model_validate({"columns": {"v": {"type": "float"}}})
    p = Pipeline(tmp_path, ds, max_payload_bytes=131_072)
    try:
        (p.folder / FILE).write_text("a,v\n1," + "x" * 300_000 + "\n2,3\n")
        result = p.run()
        assert (result.published, result.quarantined) == (1, 1)
        p.published()  # asserts every payload is within maxPayloadBytes
    finally:
        p.close()
