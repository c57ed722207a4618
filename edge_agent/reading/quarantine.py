"""Quarantine entries: bounded to fit a payload, and their local copy under stateDir.

The local copy is one JSONL file per source under stateDir/quarantine. Entries are appended
before the transaction that queues them for ``{topic}/quarantine`` commits, so a crash between
the two can repeat a line here (never lose one).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

from edge_agent.batcher import BatchBuilder, RecordTooLargeError, encode
from edge_agent.errors import StorageFullError

# A quarantine entry names the problem and shows the row; a huge bad value or line must not
# make a payload IoT Core refuses (the reason quotes the value, the raw text is the line).
MAX_REASON_CHARS = 512
MAX_RAW_CHARS = 4096


def bounded_entry(
    line: int, reason: str, raw: str, builder: BatchBuilder
) -> tuple[dict[str, object], bytes]:
    """The quarantine entry, its reason and raw text cut so that it fits a payload."""
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[:MAX_REASON_CHARS] + f"… ({len(reason):,} characters)"
    limit = MAX_RAW_CHARS
    while True:
        shown = raw if len(raw) <= limit else raw[:limit] + f"… ({len(raw):,} characters)"
        entry: dict[str, object] = {"line": line, "reason": reason, "raw": shown}
        text = encode(entry)
        try:
            builder.check(text)
        except RecordTooLargeError:
            if limit == 0:
                raise
            limit //= 4  # escaped control characters take six bytes each
            continue
        return entry, text


class QuarantineLog:
    """The local JSONL copy of every quarantined row, one file per source, rotated at 64 MiB."""

    MAX_BYTES = 64 * 1024 * 1024

    def __init__(self, state_dir: Path, source: str) -> None:
        self.path = state_dir / "quarantine" / f"{source}.jsonl"
        self._lock = threading.Lock()

    def write(self, entries: list[dict[str, object]]) -> None:
        """Append entries (before the transaction that publishes them commits)."""
        if not entries:
            return
        with self._lock:
            data = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries).encode()
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileNotFoundError):
                    if self.path.stat().st_size > self.MAX_BYTES:
                        self.path.replace(self.path.with_suffix(".jsonl.1"))
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError as e:
                raise StorageFullError(f"cannot write quarantine log {self.path}: {e}") from e
            try:
                start = os.lseek(fd, 0, os.SEEK_END)
                self._write_all(fd, data, start)
            finally:
                os.close(fd)

    def _write_all(self, fd: int, data: bytes, start: int) -> None:
        """Write every byte or none: a disk that fills up mid-write must not leave half a
        line for the next append to run into (the entries are written again on retry)."""
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view) :]
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise StorageFullError(f"cannot write quarantine log {self.path}: {e}") from e
