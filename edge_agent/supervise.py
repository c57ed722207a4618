"""Failure containment: a long-lived loop that fails is logged, shown, and started again.

One TaskGroup owns every task of the agent, and a task that raises would end the group and
with it the agent. The loops wrapped here (a source's discovery and reading, the farm worker,
the disposer, health and status) keep their data in the state database, so starting one again
loses nothing; until it runs again its failure is in ``status``, ``/healthz`` and the log, with
its cause. A full disk is not a failure: the loops pause on it by themselves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from edge_agent.aio import wait_event
from edge_agent.backoff import Backoff

log = logging.getLogger("edge_agent.agent")

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 300.0
STABLE_SECONDS = 600.0  # a loop that ran this long before failing starts its backoff afresh


@dataclass(slots=True)
class ComponentStatus:
    """A supervised loop: ``running`` or ``failed`` (with the error), and how often it failed."""

    state: str = "running"
    error: str = ""
    since: float = 0.0  # time.monotonic() of the last change
    failures: int = 0

    def as_dict(self, now: float) -> dict[str, Any]:
        """A JSON-able copy."""
        return {
            "state": self.state,
            "error": self.error,
            "stateSeconds": round(now - self.since, 1),
            "failures": self.failures,
        }


async def supervised(
    name: str,
    loop: Callable[[], Awaitable[None]],
    status: ComponentStatus,
    stopping: asyncio.Event,
) -> None:
    """Run ``loop`` until it returns or ``stopping`` is set; start it again after a failure,
    with capped, jittered exponential backoff."""
    backoff = Backoff(FIRST_RETRY_SECONDS, MAX_RETRY_SECONDS)
    while not stopping.is_set():
        started = time.monotonic()
        status.state, status.error, status.since = "running", "", started
        try:
            await loop()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            now = time.monotonic()
            if now - started >= STABLE_SECONDS:
                backoff.reset()
            status.state, status.since = "failed", now
            status.error = f"{type(e).__name__}: {e}"
            status.failures += 1
            wait = backoff.next_delay()
            log.error(
                "%s failed; started again in %.0f s (nothing is lost: its data is in the state "
                "database)",
                name,
                wait,
                exc_info=True,
                extra={"component": name, "error": status.error, "failures": status.failures},
            )
            if await wait_event(stopping, wait):
                return
            continue
        return
