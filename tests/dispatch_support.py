"""A real outbox (SQLite StateDB in tmp_path) with batches in it, and a Dispatcher running on it.

Shared by the dispatcher's unit tests and the publish-path tests that run it against a broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent.dispatch import Dispatcher
from edge_agent.publish.base import Publisher
from edge_agent.publish.ratelimit import RateLimiter
from edge_agent.state.db import StateDB
from edge_agent.state.outbox import Outbox, OutboxGauge
from edge_agent.stats import AgentStats

TIMEOUT = 10.0


@dataclass
class OutboxRig:
    """A state database under ``directory``, its outbox, and what the dispatcher reported."""

    directory: Path
    topic: str = "dt/edge-agent/gw/line1"
    db: StateDB = field(init=False)
    outbox: Outbox = field(init=False)
    gauge: OutboxGauge = field(init=False)
    stats: AgentStats = field(default_factory=AgentStats)
    acknowledged_refs: list[set[int]] = field(default_factory=list)
    committed: list[str] = field(default_factory=list)
    """Every batchId committed here, in commit order."""

    def __post_init__(self) -> None:
        self.db = StateDB(self.directory)
        self.outbox = Outbox(self.db)
        self.gauge = OutboxGauge(0, 1 << 30)  # what the outbox holds, kept by commit()

    def commit(self, count: int, *, rows: int = 3, file_ref: int | None = 7) -> list[str]:
        """Commit ``count`` batches (payload = the envelope's batchId and n); their batchIds."""
        start = len(self.committed)
        ids = [f"batch-{start + i:04d}" for i in range(count)]
        with self.db.transaction() as conn:
            for n, batch_id in enumerate(ids, start):
                payload = json.dumps({"batchId": batch_id, "n": n}).encode()
                conn.execute(
                    "INSERT INTO outbox (batch_id, file_ref, topic, payload, rows, created) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (batch_id, file_ref, self.topic, payload, rows, time.time()),
                )
                self.gauge.add(len(payload))
        self.committed += ids
        return ids

    def waiting(self) -> list[str]:
        """batchIds still in the outbox, in commit order."""
        return [r["batch_id"] for r in self.db.query("SELECT batch_id FROM outbox ORDER BY seq")]

    def attempts(self, batch_id: str) -> tuple[int, str | None]:
        """(attempts, last_error) recorded for a batch."""
        [row] = self.db.query(
            "SELECT attempts, last_error FROM outbox WHERE batch_id = ?", (batch_id,)
        )
        return int(row["attempts"]), row["last_error"]

    def dispatcher(self, publisher: Publisher, **options: Any) -> Dispatcher:
        """A Dispatcher on this outbox, unlimited rate, short retry delays (``options`` win)."""
        settings: dict[str, Any] = {
            "retry_rejected_seconds": 300.0,
            "on_acknowledged": self.acknowledged_refs.append,
            "retry_min_seconds": 0.01,
            "retry_max_seconds": 0.05,
        }
        settings.update(options)
        return Dispatcher(
            self.outbox, publisher, RateLimiter(None, None), self.gauge, self.stats, **settings
        )

    def close(self) -> None:
        """Close the database."""
        self.db.close()


@contextlib.asynccontextmanager
async def dispatching(dispatcher: Dispatcher) -> AsyncIterator[asyncio.Task[None]]:
    """Run the dispatcher as the agent does (fetch, acknowledge, ``max_inflight`` workers) for
    the block; yields the fetch task (cancel it to stop fetching, then ``drain()``)."""
    workers = [asyncio.create_task(dispatcher.work()) for _ in range(dispatcher.max_inflight)]
    ack = asyncio.create_task(dispatcher.acknowledge())
    fetch = asyncio.create_task(dispatcher.fetch())
    tasks = [fetch, ack, *workers]
    try:
        yield fetch
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        failures = [r for r in results if not isinstance(r, asyncio.CancelledError | type(None))]
        assert not failures, failures  # a dispatcher task that died is a bug


async def until(condition: Callable[[], bool], *, timeout: float = TIMEOUT, what: str = "") -> None:
    """Poll ``condition`` (plain attributes and SQL have no event to wait on) until it holds."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():  # noqa: ASYNC110 — bounded polling of plain state
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what or condition}") from None
