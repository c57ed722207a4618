"""Token buckets that keep a connection within AWS IoT Core's per-connection limits.

IoT Core allows 100 publishes/s and 512 KiB/s per connection by default
(notes/iot-core-limits.md). Going over them gets messages throttled or the connection
dropped, so the publisher paces itself: one bucket counts publishes, one counts bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from edge_agent.config.models import PublishConfig

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """An asyncio token bucket: ``rate_per_second`` tokens per second, at most ``burst`` saved up.

    ``rate_per_second=None`` means unlimited: ``acquire`` never waits. An amount larger than
    ``burst`` still passes: the bucket goes into debt and the caller waits until the debt is
    paid back, so one big payload costs exactly its size in time, no more and no less.
    Callers are served in arrival order (a lock is held while waiting), so a stream of
    small payloads cannot starve a big one.

    ``clock`` and ``sleep`` default to the running loop's monotonic ``time()`` and
    ``asyncio.sleep``; tests pass a fake pair.
    """

    def __init__(
        self,
        rate_per_second: float | None,
        burst: float,
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        if rate_per_second is not None and rate_per_second <= 0:
            raise ValueError(f"rate_per_second must be > 0 or None, not {rate_per_second}")
        if burst <= 0:
            raise ValueError(f"burst must be > 0, not {burst}")
        self.rate_per_second = rate_per_second
        self.burst = burst
        self._clock = clock
        self._sleep: Sleep = sleep or asyncio.sleep
        self._tokens = burst  # start full: a fresh connection may use its first second at once
        self._updated: float | None = None
        self._lock = asyncio.Lock()

    def _now(self) -> float:
        if self._clock is not None:
            return self._clock()
        return asyncio.get_running_loop().time()

    def _refill(self, now: float) -> None:
        assert self.rate_per_second is not None
        if self._updated is not None:
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate_per_second)
        self._updated = now

    @property
    def tokens(self) -> float:
        """Tokens available at the last update (negative while in debt); for status and tests."""
        return self._tokens

    async def acquire(self, amount: float = 1.0) -> None:
        """Take ``amount`` tokens, waiting as long as the rate requires."""
        if amount < 0:
            raise ValueError(f"amount must be >= 0, not {amount}")
        if self.rate_per_second is None or amount == 0:
            return
        async with self._lock:
            self._refill(self._now())
            # Take first, then wait out any debt: the wait is the same as waiting for
            # enough tokens, and it also works for amounts larger than the burst.
            self._tokens -= amount
            if self._tokens < 0:
                try:
                    await self._sleep(-self._tokens / self.rate_per_second)
                except asyncio.CancelledError:
                    # The caller will not publish after all: give its share back.
                    self._tokens += amount
                    raise


class RateLimiter:
    """Publishes per second and bytes per second, paced together.

    ``None`` for either limit means unlimited (local brokers, benchmarks). The burst is
    ``burst_seconds`` worth of each rate (at least one publish).
    """

    def __init__(
        self,
        max_publishes_per_second: float | None,
        max_bytes_per_second: float | None,
        *,
        burst_seconds: float = 1.0,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        if burst_seconds <= 0:
            raise ValueError(f"burst_seconds must be > 0, not {burst_seconds}")
        self.publishes = TokenBucket(
            max_publishes_per_second,
            max(1.0, (max_publishes_per_second or 1.0) * burst_seconds),
            clock=clock,
            sleep=sleep,
        )
        self.bytes = TokenBucket(
            max_bytes_per_second,
            max(1.0, (max_bytes_per_second or 1.0) * burst_seconds),
            clock=clock,
            sleep=sleep,
        )

    @classmethod
    def from_config(cls, config: PublishConfig) -> RateLimiter:
        """The limiter for ``publish.maxPublishesPerSecond`` and ``publish.maxBytesPerSecond``."""
        return cls(config.max_publishes_per_second, config.max_bytes_per_second)

    async def acquire(self, nbytes: int) -> None:
        """Wait until one more publish of ``nbytes`` bytes fits within both limits."""
        await self.publishes.acquire(1)
        await self.bytes.acquire(nbytes)
