"""Whether the agent is healthy, as /healthz, the heartbeat and ``edge-agent status`` say it.

Healthy means data can flow, allowing ``unhealthyAfterSeconds`` (the grace) for the ordinary
hiccups a gateway sees (a reconnect, a share that reboots):

* the publisher is connected, or has been disconnected for less than the grace;
* the outbox is empty, or a batch was acknowledged within the grace (it drains);
* no source has been unreadable (``unavailable`` or ``access-denied``) for longer than the grace.

A source ``paused`` because the outbox is full is back-pressure, not a fault of its own: the
outbox rule reports it when nothing drains. The monitor samples what cannot announce itself
(the publisher's connection, acknowledgements) once a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge_agent.publish.base import Publisher
from edge_agent.stats import ERROR_STATES, AgentStats

SAMPLE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """Healthy or not, and why not."""

    healthy: bool
    problems: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        """A JSON-able copy."""
        return {"healthy": self.healthy, "problems": list(self.problems)}


def is_connected(publisher: Publisher) -> bool:
    """Whether the publisher says it is connected."""
    return publisher.connected


class HealthMonitor:
    """Samples the publisher and the outbox, and judges health on demand (any thread)."""

    def __init__(
        self,
        stats: AgentStats,
        publisher: Publisher,
        grace_seconds: float,
        outbox_bytes: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stats = stats
        self.publisher = publisher
        self.grace_seconds = grace_seconds
        self._outbox_bytes = outbox_bytes
        self._clock = clock
        now = clock()
        self._disconnected_since: float | None = now
        self._acknowledged = stats.batches_published
        self._drained_at = now  # last acknowledgement, or last moment the outbox was empty

    def sample(self) -> None:
        """Note what changed since the last sample (on the event loop)."""
        now = self._clock()
        connected = is_connected(self.publisher)
        self.stats.publisher_state = "connected" if connected else "disconnected"
        if connected:
            self._disconnected_since = None
        elif self._disconnected_since is None:
            self._disconnected_since = now
        acknowledged = self.stats.batches_published
        if acknowledged != self._acknowledged or self._outbox_bytes() == 0:
            self._acknowledged = acknowledged
            self._drained_at = now
        self.stats.health = self.verdict(now).as_dict()

    async def run(self) -> None:
        """Sample every second until cancelled."""
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_SECONDS)

    def verdict(self, now: float | None = None) -> Verdict:
        """The judgement now, with one reason per problem."""
        now = self._clock() if now is None else now
        grace = self.grace_seconds
        problems: list[str] = []
        since = self._disconnected_since
        if since is not None and now - since > grace:
            problems.append(f"publisher {self.publisher.name} disconnected for {now - since:.0f} s")
        stalled = now - self._drained_at
        if stalled > grace and self._outbox_bytes() > 0:
            problems.append(f"outbox not draining: no batch acknowledged for {stalled:.0f} s")
        for name, component in sorted(self.stats.components.items()):
            if component.state == "failed":
                problems.append(f"{name} failed ({component.error}); starting it again")
        for name, source in sorted(self.stats.sources.items()):
            held = now - source.state_since
            if source.state in ERROR_STATES and held > grace:
                detail = f": {source.detail}" if source.detail else ""
                problems.append(f"source {name} {source.state} for {held:.0f} s{detail}")
        return Verdict(not problems, tuple(problems))
