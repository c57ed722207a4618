"""The one way batches enter the outbox: checked for room on disk, in one transaction with
how far their file was read and whatever state the stage keeps for the rows they carry.

Used by the reading pass (batches of one file, the file's advance, the stage's rows) and by
stages that publish later by themselves (the farm worker: held readings, corrections,
alerts). Nobody waits here for the outbox to drain: a writer looks at ``full`` after its commit
and stops producing; waiting is done on the event loop (``OutboxGauge.wait_for_room``).
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from edge_agent.errors import StorageFullError
from edge_agent.state.db import StateDB
from edge_agent.state.ledger import Batch, FileAdvance, Ledger
from edge_agent.state.outbox import OutboxGauge

Writes = Callable[[sqlite3.Connection], None]
Queued = tuple[Batch, int | None]  # a batch and the ledger row of its file (None: no file)


class OutboxWriter:
    """Commits batches (see the module docstring); one per thread that writes."""

    def __init__(
        self,
        db: StateDB,
        gauge: OutboxGauge,
        *,
        state_dir: Path,
        min_free_disk_bytes: int,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.ledger = Ledger(db)
        self.gauge = gauge
        self.state_dir = state_dir
        self.min_free_disk_bytes = min_free_disk_bytes
        self.on_commit = on_commit

    @property
    def full(self) -> bool:
        """The outbox reached ``outbox.maxBytes``: stop producing until it drains."""
        return self.gauge.full

    def check_disk(self) -> None:
        """Raise StorageFullError when the disk under stateDir is at its reserve."""
        if not self.min_free_disk_bytes:
            return
        free = shutil.disk_usage(self.state_dir).free
        if free < self.min_free_disk_bytes:
            raise StorageFullError(
                f"only {free // (1024 * 1024)} MiB free under stateDir "
                f"{self.state_dir} (outbox.minFreeDiskBytes); ingestion paused"
            )

    def commit(
        self,
        batches: Sequence[Queued],
        *,
        advance: tuple[int, FileAdvance] | None = None,
        writes: Writes | None = None,
    ) -> int:
        """Insert ``batches``, advance a file (``(file_ref, advance)``) and run ``writes``, all
        in ONE transaction; returns the outbox bytes added. A batch already in the outbox (the
        same batchId, after a crash) is not added twice."""
        if batches:
            self.check_disk()
        now = time.time()
        added = 0
        with self.db.transaction() as conn:
            for batch, file_ref in batches:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO outbox "
                    "(batch_id, file_ref, topic, payload, rows, created) VALUES (?, ?, ?, ?, ?, ?)",
                    (batch.batch_id, file_ref, batch.topic, batch.payload, batch.rows, now),
                )
                if cursor.rowcount:
                    added += len(batch.payload)
            if advance is not None:
                self.ledger.advance(conn, *advance)
            if writes is not None:
                writes(conn)
        if added:
            self.gauge.add(added)
            self.on_commit()
        return added
