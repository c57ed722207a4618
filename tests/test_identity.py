"""File identity beyond the path: grown, rewritten, truncated, or a copy."""

from __future__ import annotations

import io
import random

from edge_agent.identity import PROBE_BYTES, changed_in_place, content_fingerprint, probes_at
from edge_agent.state.ledger import FileRecord


def _record(data: bytes, offset: int) -> FileRecord:
    probes = probes_at(io.BytesIO(data), offset)
    return FileRecord(
        id=1,
        source="s",
        path="p",
        file_id="f",
        version=1,
        size=len(data),
        mtime_ns=0,
        offset=offset,
        next_line=1,
        head_len=probes.head_len,
        head_hash=probes.head_hash,
        tail_end=probes.tail_end,
        tail_hash=probes.tail_hash,
        state="reading",
        rows_published=0,
        rows_quarantined=0,
        rows_skipped=0,
        dataset_fp=None,
        reread=0,
    )


def _data(n: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    return "".join(f"2026-11-27,{rng.random():.6f}\n" for _ in range(n)).encode()


def test_a_file_that_only_grew_is_the_same_file() -> None:
    data = _data(2000)
    record = _record(data, len(data) // 2)
    grown = data + _data(100, seed=2)
    assert changed_in_place(io.BytesIO(grown), record, len(grown)) is None


def test_a_truncated_file_is_not() -> None:
    data = _data(2000)
    record = _record(data, len(data))
    reason = changed_in_place(io.BytesIO(data[:100]), record, 100)
    assert reason is not None
    assert reason.startswith("truncated")


def test_new_first_bytes_mean_a_rewrite() -> None:
    data = _data(2000)
    record = _record(data, len(data))
    rewritten = b"X" + data[1:]
    assert "first bytes" in (changed_in_place(io.BytesIO(rewritten), record, len(data)) or "")


def test_new_bytes_before_the_offset_mean_a_rewrite_even_with_the_same_head() -> None:
    data = _data(2000)
    offset = len(data) - 10
    record = _record(data, offset)
    rewritten = bytearray(data)
    rewritten[offset - 5] ^= 0x01  # same header, same length, one byte changed before the offset
    reason = changed_in_place(io.BytesIO(bytes(rewritten)), record, len(data))
    assert reason == "rewritten: bytes already read changed"
    assert offset - PROBE_BYTES > PROBE_BYTES  # the change is outside the head probe


def test_a_file_never_read_has_nothing_to_compare() -> None:
    empty = _record(b"", 0)
    assert changed_in_place(io.BytesIO(b"anything"), empty, 8) is None


def test_the_fingerprint_finds_copies_and_tells_files_apart() -> None:
    small = _data(100)
    assert content_fingerprint(io.BytesIO(small), len(small)) == content_fingerprint(
        io.BytesIO(bytes(small)), len(small)
    )
    other = _data(100, seed=3)
    assert content_fingerprint(io.BytesIO(small), len(small)) != content_fingerprint(
        io.BytesIO(other), len(other)
    )
    big = _data(450_000)  # over 8 MiB: sampled, not read whole
    assert len(big) > 8 * 1024 * 1024
    changed = big[:-100] + b"x" * 100
    assert content_fingerprint(io.BytesIO(big), len(big)) != content_fingerprint(
        io.BytesIO(changed), len(changed)
    )
