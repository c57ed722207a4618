"""Pacing that keeps a connection within AWS IoT Core's per-connection limits.

IoT Core allows 100 publishes/s and 512 KiB/s per connection by default
(notes/iot-core-limits.md). Going over them gets messages throttled or the connection
dropped, so the agent paces itself (the dispatcher and the heartbeat share one limiter).

Both limits are held over a sliding window (:class:`SlidingWindow`): never more than the rate's
worth of publishes, or of bytes, in any one second, with sends spread evenly over the window
rather than sent in a burst at its start (a burst arrives at the broker spread out by network
and scheduling delays, into the next window; even spacing leaves a margin per send). Token
buckets, which this replaced, let up to twice the rate through in the first second after an
idle spell (the saved-up burst plus the refill).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable

from edge_agent.config.publish import PublishConfig

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

WINDOW_SECONDS = 1.0
"""IoT Core's limits are per second."""
JITTER_SECONDS = 0.02
"""Added to the window: two sends a window apart here may arrive closer together at the broker
(network and scheduling jitter); 20 ms of margin costs 2 % of the rate."""


class SlidingWindow:
    """At most ``max_count`` sends and ``max_amount`` units (bytes) in any ``seconds`` window.

    A log of the sends still inside the window: a send waits until enough of the oldest ones
    have left it for both limits to hold, and is recorded at the moment it is let through, so
    the two limits are checked together at one instant. ``None`` means no limit. An amount
    larger than ``max_amount`` on its own waits for an empty window and then goes alone (one
    payload cannot be split). Callers are served in arrival order.

    Sends are also spaced: after a send of ``amount``, the next waits ``seconds / max_count``
    or ``seconds * amount / max_amount``, the longer; so a window fills evenly, at the rate,
    instead of all at its start.

    ``clock`` and ``sleep`` default to the running loop's ``time()`` and ``asyncio.sleep``;
    tests pass a fake pair.
    """

    def __init__(
        self,
        max_count: float | None,
        max_amount: float | None,
        seconds: float,
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        for name, value in (("max_count", max_count), ("max_amount", max_amount)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0 or None, not {value}")
        if seconds <= 0:
            raise ValueError(f"seconds must be > 0, not {seconds}")
        self._clock = clock
        self._sleep: Sleep = sleep or asyncio.sleep
        self._lock = asyncio.Lock()  # callers are served in arrival order
        self.max_count = max_count
        self.max_amount = max_amount
        self.seconds = seconds
        self._sent: collections.deque[tuple[float, float]] = collections.deque()
        self._amount = 0.0
        self._next = float("-inf")  # the earliest time of the next send (spacing)

    def _now(self) -> float:
        if self._clock is not None:
            return self._clock()
        return asyncio.get_running_loop().time()

    def _fits(self, count: int, total: float, amount: float) -> bool:
        if count == 0:
            return True  # alone in the window: even an amount above max_amount goes
        count_ok = self.max_count is None or count + 1 <= self.max_count
        return count_ok and (self.max_amount is None or total + amount <= self.max_amount)

    def _wait_for(self, amount: float, now: float) -> float:
        """Seconds until one more send of ``amount`` fits (0: now); expired sends dropped."""
        while self._sent and self._sent[0][0] <= now - self.seconds:
            self._amount -= self._sent.popleft()[1]
        spacing = self._next - now
        count, total = len(self._sent), self._amount
        if self._fits(count, total, amount):
            return max(0.0, spacing)
        for at, sent in self._sent:  # oldest first: the wait ends when enough have left
            count -= 1
            total -= sent
            if self._fits(count, total, amount):
                return max(spacing, at + self.seconds - now)
        raise AssertionError("unreachable: an empty window always fits")

    async def acquire(self, amount: float = 1.0) -> None:
        """Wait until one more send of ``amount`` fits in the window, and record it."""
        if amount < 0:
            raise ValueError(f"amount must be >= 0, not {amount}")
        if self.max_count is None and self.max_amount is None:
            return
        async with self._lock:
            while True:
                now = self._now()
                wait = self._wait_for(amount, now)
                if wait <= 0:
                    break
                await self._sleep(wait)
            self._sent.append((now, amount))
            self._amount += amount
            gap = 0.0 if self.max_count is None else self.seconds / self.max_count
            if self.max_amount is not None:
                gap = max(gap, self.seconds * amount / self.max_amount)
            self._next = now + gap


class RateLimiter:
    """Publishes per second and bytes per second, paced together over one sliding window.

    ``None`` for either limit means unlimited (local brokers, benchmarks). The window holds
    each rate times ``WINDOW_SECONDS``; its length is ``window_seconds`` (by default one
    second plus ``JITTER_SECONDS``, what ``from_config`` uses): no burst above the rate, ever.
    """

    def __init__(
        self,
        max_publishes_per_second: float | None,
        max_bytes_per_second: float | None,
        *,
        window_seconds: float = WINDOW_SECONDS + JITTER_SECONDS,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.window = SlidingWindow(
            None if max_publishes_per_second is None else max_publishes_per_second * WINDOW_SECONDS,
            None if max_bytes_per_second is None else max_bytes_per_second * WINDOW_SECONDS,
            window_seconds,
            clock=clock,
            sleep=sleep,
        )

    @classmethod
    def from_config(cls, config: PublishConfig) -> RateLimiter:
        """The limiter for ``publish.maxPublishesPerSecond`` and ``publish.maxBytesPerSecond``."""
        return cls(config.max_publishes_per_second, config.max_bytes_per_second)

    async def acquire(self, nbytes: int) -> None:
        """Wait until one more publish of ``nbytes`` bytes fits within both limits."""
        await self.window.acquire(nbytes)
