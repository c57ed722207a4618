"""File identity beyond the path: has a file grown, or been rewritten in place, or is it a copy?

A growing file keeps its first bytes and the bytes already read; a file truncated, rotated or
rewritten (even with the same header) does not, and is read again as a new version. A copy of
a file already read, under another name, has the same content fingerprint.
"""

from __future__ import annotations

import hashlib
from typing import BinaryIO

from edge_agent.state.ledger import FileRecord, Probes, digest

PROBE_BYTES = 4096
_WHOLE_HASH_LIMIT = 8 * 1024 * 1024
_SAMPLES = 32


def content_fingerprint(stream: BinaryIO, size: int) -> str:
    """Identifies a file's bytes: a hash of all of them up to 8 MiB, above that of its size,
    first and last 64 KiB and 32 blocks spread over it (a copy is found without reading a big
    file twice; two different logs do not share all of that)."""
    h = hashlib.blake2b(str(size).encode(), digest_size=20)
    stream.seek(0)
    if size <= _WHOLE_HASH_LIMIT:
        while chunk := stream.read(1024 * 1024):
            h.update(chunk)
    else:
        h.update(stream.read(65536))
        for i in range(1, _SAMPLES + 1):
            stream.seek(size * i // (_SAMPLES + 1))
            h.update(stream.read(4096))
        stream.seek(size - 65536)
        h.update(stream.read(65536))
    return h.hexdigest()


def probes_at(stream: BinaryIO, offset: int) -> Probes:
    """Hashes of the first bytes and of the bytes just before ``offset``."""
    head_len = min(offset, PROBE_BYTES)
    stream.seek(0)
    head = stream.read(head_len)
    tail_start = max(0, offset - PROBE_BYTES)
    stream.seek(tail_start)
    tail = stream.read(offset - tail_start)
    return Probes(head_len, digest(head), offset, digest(tail))


def changed_in_place(stream: BinaryIO, record: FileRecord, size: int) -> str | None:
    """Why the file is no longer the one the ledger read (truncated, rewritten), or None."""
    if record.offset == 0 and record.head_len == 0:
        return None
    if size < record.offset:
        return f"truncated: {size} bytes, {record.offset} were already read"
    if record.head_hash is not None and record.head_len:
        stream.seek(0)
        if digest(stream.read(record.head_len)) != record.head_hash:
            return "rewritten: its first bytes changed"
    if record.tail_hash is not None and record.tail_end:
        start = max(0, record.tail_end - PROBE_BYTES)
        stream.seek(start)
        if digest(stream.read(record.tail_end - start)) != record.tail_hash:
            return "rewritten: bytes already read changed"
    return None
