"""The outbox side of the state database: what the publisher reads, acknowledges and reports.

Batches enter through ``Ledger.commit`` (in the same transaction as the file offset) and leave
only when the broker (or the nucleus) acknowledged them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from edge_agent.state.db import StateDB


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One batch waiting in the outbox."""

    seq: int
    batch_id: str
    topic: str
    payload: bytes
    rows: int
    file_ref: int | None


@dataclass(frozen=True, slots=True)
class OutboxDepth:
    """How much is waiting."""

    batches: int
    rows: int
    bytes: int
    oldest_age_seconds: float | None


class OutboxGauge:
    """The outbox size in bytes, kept in memory (summing payloads on every commit is too slow).

    Writers add (from reading threads), the dispatcher subtracts (on the event loop). Nobody
    blocks a thread on it: a reading pass that finds the outbox full commits what it has and
    ends, and its runner waits on the event loop (``wait_for_room``) before the next pass, so
    the threads that delete acknowledged batches are never starved by waiting readers.
    """

    def __init__(self, initial_bytes: int, limit: int) -> None:
        self._bytes = initial_bytes
        self.limit = limit
        self._lock = threading.Lock()
        self._room: asyncio.Event | None = None  # created on the loop by the first waiter

    @property
    def full(self) -> bool:
        """At or over the limit: ingestion must wait."""
        return self._bytes >= self.limit

    @property
    def bytes(self) -> int:
        """Current size of the outbox payloads."""
        return self._bytes

    def add(self, nbytes: int) -> None:
        """Payloads were inserted (any thread)."""
        with self._lock:
            self._bytes += nbytes

    def remove(self, nbytes: int) -> None:
        """Payloads were acknowledged and deleted (on the event loop)."""
        with self._lock:
            self._bytes = max(0, self._bytes - nbytes)
        if self._room is not None and not self.full:
            self._room.set()

    async def wait_for_room(self) -> None:
        """Return once the outbox is below its limit (on the event loop)."""
        while self.full:
            if self._room is None:
                self._room = asyncio.Event()
            self._room.clear()
            if not self.full:  # room came between the look and the clear
                return
            await self._room.wait()


class Outbox:
    """Reads and acknowledgements of queued batches."""

    def __init__(self, db: StateDB) -> None:
        self.db = db

    def total_bytes(self) -> int:
        """Sum of payload sizes (used once at start)."""
        rows = self.db.query("SELECT COALESCE(SUM(LENGTH(payload)), 0) AS n FROM outbox")
        return int(rows[0]["n"])

    def fetch(self, after_seq: int, limit: int) -> list[OutboxItem]:
        """The next batches in commit order after ``after_seq``."""
        rows = self.db.query(
            "SELECT seq, batch_id, topic, payload, rows, file_ref FROM outbox "
            "WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [
            OutboxItem(
                r["seq"], r["batch_id"], r["topic"], bytes(r["payload"]), r["rows"], r["file_ref"]
            )
            for r in rows
        ]

    def acknowledge(self, seqs: Iterable[int]) -> tuple[set[int], int, int]:
        """Delete acknowledged batches; returns (their file refs, bytes freed, rows)."""
        seq_list = sorted(set(seqs))
        if not seq_list:
            return set(), 0, 0
        marks = ",".join("?" * len(seq_list))
        with self.db.transaction() as conn:
            rows = conn.execute(
                f"SELECT file_ref, LENGTH(payload), rows FROM outbox WHERE seq IN ({marks})",
                seq_list,
            ).fetchall()
            conn.execute(f"DELETE FROM outbox WHERE seq IN ({marks})", seq_list)
            freed = sum(r[1] for r in rows)
            nrows = sum(r[2] for r in rows)
            conn.execute(
                "INSERT INTO counters (name, value) VALUES ('rows_acknowledged', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (nrows,),
            )
            conn.execute(
                "INSERT INTO counters (name, value) VALUES ('batches_acknowledged', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (len(rows),),
            )
        return {r[0] for r in rows if r[0] is not None}, freed, nrows

    def record_failure(self, seq: int, error: str) -> None:
        """A publish of this batch failed; kept for status and the next attempt."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
                (error, seq),
            )

    def depth(self) -> OutboxDepth:
        """Batches, rows and bytes waiting, and the age of the oldest."""
        row = self.db.query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(rows), 0) AS r, "
            "COALESCE(SUM(LENGTH(payload)), 0) AS b, MIN(created) AS oldest FROM outbox"
        )[0]
        oldest = row["oldest"]
        return OutboxDepth(
            int(row["n"]),
            int(row["r"]),
            int(row["b"]),
            None if oldest is None else max(0.0, time.time() - float(oldest)),
        )
