"""The heartbeat: the agent's counters on ``health.statusTopic`` every ``heartbeatSeconds``.

Best effort, by design: a heartbeat is about now, so it never goes through the outbox (one
from an hour ago is worthless). It is skipped while the publisher is disconnected, paced by
the same rate limiter as the data (IoT Core's per-connection limits hold for the sum), and
given up after a timeout, so it never holds data back. It carries counters and states only,
never a configuration value, so no password or key can leak through it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

from edge_agent.batcher import encode, utc_millis
from edge_agent.config.models import AgentConfig
from edge_agent.config.topics import TopicTemplate
from edge_agent.errors import PublishError
from edge_agent.health.monitor import HealthMonitor, is_connected
from edge_agent.publish.base import Publisher
from edge_agent.publish.ratelimit import RateLimiter
from edge_agent.stats import AgentStats

log = logging.getLogger("edge_agent.health")

MAX_WAIT_SECONDS = 10.0


def status_topic(config: AgentConfig) -> str:
    """The rendered status topic (AgentConfig checked it: a valid IoT Core topic, and no
    dataset's)."""
    return TopicTemplate(config.health.status_topic).render(thingName=config.thing_name)


def heartbeat_payload(
    thing_name: str, stats: AgentStats, monitor: HealthMonitor, ledger: dict[str, Any] | None
) -> dict[str, Any]:
    """The heartbeat message: the same counters as /metrics, as JSON."""
    now = time.time()
    sources = {name: s.as_dict(now) for name, s in sorted(stats.sources.items())}
    outbox: dict[str, Any] | None = None
    if ledger is not None:
        o = ledger["outbox"]
        outbox = {k: o[k] for k in ("batches", "rows", "bytes", "oldestAgeSeconds", "failing")}
        for name, entry in ledger["sources"].items():
            if name in sources:
                sources[name]["outboxBatches"] = entry["outboxBatches"]
    return {
        "v": 1,
        "kind": "heartbeat",
        "thingName": thing_name,
        "at": utc_millis(now),
        "startedAt": utc_millis(stats.started),
        "uptimeSeconds": round(now - stats.started, 1),
        "health": monitor.verdict(now).as_dict(),
        "publisher": stats.publisher_state,
        "batchesPublished": stats.batches_published,
        "rowsPublished": stats.rows_acknowledged,
        "publishErrors": dict(sorted(stats.publish_errors.items())),
        "filesDisposed": stats.files_disposed,
        "outbox": outbox,
        "sources": sources,
    }


class Heartbeat:
    """Publishes the heartbeat until cancelled."""

    def __init__(
        self,
        config: AgentConfig,
        stats: AgentStats,
        publisher: Publisher,
        monitor: HealthMonitor,
        topic: str,
    ) -> None:
        assert config.health.heartbeat_seconds is not None
        self.every_seconds = config.health.heartbeat_seconds
        self.topic = topic
        self.thing_name = config.thing_name
        self.state_dir = Path(config.state_dir)
        self.stats = stats
        self.publisher = publisher
        self.monitor = monitor
        self.sent = 0

    async def run(self, limiter: RateLimiter) -> None:
        """One heartbeat every ``heartbeatSeconds`` (the first one after the first interval)."""
        while True:
            await asyncio.sleep(self.every_seconds)
            await self.beat(limiter)

    async def beat(self, limiter: RateLimiter) -> bool:
        """Send one heartbeat now if connected; True if the broker acknowledged it."""
        if not is_connected(self.publisher):
            return False
        self.monitor.sample()  # the heartbeat says what holds now, not a second ago
        from edge_agent.status import collect  # noqa: PLC0415 - status imports the CLI side

        try:
            ledger: dict[str, Any] | None = await asyncio.to_thread(collect, self.state_dir)
        except (OSError, sqlite3.Error) as e:
            log.debug("heartbeat without the outbox figures", extra={"error": str(e)})
            ledger = None
        payload = encode(heartbeat_payload(self.thing_name, self.stats, self.monitor, ledger))
        try:
            async with asyncio.timeout(min(MAX_WAIT_SECONDS, self.every_seconds)):
                await limiter.acquire(len(payload))
                await self.publisher.publish(self.topic, payload)
        except (TimeoutError, PublishError) as e:
            log.info(
                "heartbeat not sent (best effort, the next one follows)",
                extra={"topic": self.topic, "error": str(e) or type(e).__name__},
            )
            return False
        self.sent += 1
        return True
