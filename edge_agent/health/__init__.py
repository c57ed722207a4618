"""What the agent tells its operators: /healthz and /metrics, the heartbeat, progress lines.

``AgentHealth`` is the one object the agent wires in: ``progress_callback`` for each source's
ingestor, and ``run`` as one task of the agent's TaskGroup (the monitor, the HTTP endpoint
and the heartbeat run in a TaskGroup of their own inside it). docs/operations.md describes
what an operator sees.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from edge_agent.config.models import AgentConfig
from edge_agent.health.heartbeat import Heartbeat, status_topic
from edge_agent.health.metrics import AgentCollector, make_registry
from edge_agent.health.monitor import HealthMonitor, is_connected
from edge_agent.health.progress import ProgressCallback, ProgressTracker
from edge_agent.health.server import HealthServer, make_app
from edge_agent.publish.base import Publisher
from edge_agent.publish.ratelimit import RateLimiter
from edge_agent.state.outbox import OutboxGauge
from edge_agent.stats import AgentStats

__all__ = ["AgentHealth"]


class AgentHealth:
    """The operator's view of one agent."""

    def __init__(self, config: AgentConfig, stats: AgentStats, publisher: Publisher) -> None:
        self.config = config
        self.stats = stats
        self.publisher = publisher
        stats.status_interval_seconds = config.status_interval_seconds
        self.progress = ProgressTracker(config.health.progress_seconds)
        self.monitor: HealthMonitor | None = None
        self.server: HealthServer | None = None
        self.heartbeat: Heartbeat | None = None
        # Checked now, so a bad topic stops the agent before it starts, with the key named.
        self.status_topic = status_topic(config)

    def progress_callback(self, loop: asyncio.AbstractEventLoop, source: str) -> ProgressCallback:
        """The ``on_progress`` of one source's ingestor."""
        return self.progress.callback(loop, self.stats.source(source))

    async def run(self, gauge: OutboxGauge, limiter: RateLimiter) -> None:
        """Monitor, serve and send heartbeats until cancelled."""
        health = self.config.health
        self.monitor = monitor = HealthMonitor(
            self.stats,
            self.publisher,
            health.unhealthy_after_seconds,
            lambda: gauge.bytes,
        )
        if health.heartbeat_seconds is not None:
            self.heartbeat = Heartbeat(
                self.config, self.stats, self.publisher, monitor, self.status_topic
            )
        async with asyncio.TaskGroup() as tg:
            tg.create_task(monitor.run(), name="health-monitor")
            if health.port is not None:
                collector = AgentCollector(
                    self.stats,
                    Path(self.config.state_dir),
                    monitor.verdict,
                    lambda: is_connected(self.publisher),
                    gauge.limit,
                )
                app = make_app(make_registry(collector), monitor.verdict)
                self.server = HealthServer(health.host, health.port, app)
                tg.create_task(self.server.serve(), name="health-server")
            if self.heartbeat is not None:
                tg.create_task(self.heartbeat.run(limiter), name="heartbeat")
