"""The local copy of quarantined rows: one JSONL file per source under stateDir/quarantine.

Entries are appended before the transaction that queues them for ``{topic}/quarantine``
commits, so a crash between the two can repeat a line here (never lose one).
"""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path

from edge_agent.errors import StorageFullError


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
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                if self.path.stat().st_size > self.MAX_BYTES:
                    self.path.replace(self.path.with_suffix(".jsonl.1"))
            try:
                with self.path.open("a", encoding="utf-8") as f:
                    for entry in entries:
                        f.write(json.dumps(entry, ensure_ascii=False) + "\n")
                    f.flush()
            except OSError as e:
                raise StorageFullError(f"cannot write quarantine log {self.path}: {e}") from e
