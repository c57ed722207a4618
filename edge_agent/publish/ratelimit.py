"""Token buckets that keep a connection within AWS IoT Core's per-connection limits.

IoT Core allows 100 publishes/s and 512 KiB/s per connection by default
(notes/iot-core-limits.md). Going over them gets messages throttled or the connection
dropped, so the publisher paces itself: one bucket counts publishes, one counts bytes.

Token buckets with a burst of one second let up to twice the rate through in the first second
after an idle spell (the saved-up burst plus the refill). ``RateLimiter.from_config`` therefore
holds both limits over a sliding window instead (:class:`SlidingWindow`): never more than the
rate's worth of publishes, or of bytes, in any one second, with sends spread evenly over the
window rather than sent in a burst at its start (a burst arrives at the broker spread out by
network and scheduling delays, into the next window; even spacing leaves a margin per send).
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


class _Paced:
    """A clock and a sleep: the running loop's by default, a fake pair in tests."""

    def __init__(self, clock: Clock | None, sleep: Sleep | None) -> None:
        self._clock = clock
        self._sleep: Sleep = sleep or asyncio.sleep
        self._lock = asyncio.Lock()  # callers are served in arrival order

    def _now(self) -> float:
        if self._clock is not None:
            return self._clock()
        return asyncio.get_running_loop().time()


class TokenBucket(_Paced):
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
        super().__init__(clock, sleep)
        self.rate_per_second = rate_per_second
        self.burst = burst
        self._tokens = burst  # start full: a fresh connection may use its first second at once
        self._updated: float | None = None

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


class SlidingWindow(_Paced):
    """At most ``max_count`` sends and ``max_amount`` units (bytes) in any ``seconds`` window.

    A log of the sends still inside the window: a send waits until enough of the oldest ones
    have left it for both limits to hold, and is recorded at the moment it is let through, so
    the two limits are checked together at one instant. ``None`` means no limit. An amount
    larger than ``max_amount`` on its own waits for an empty window and then goes alone (one
    payload cannot be split). Callers are served in arrival order.

    Sends are also spaced: after a send of ``amount``, the next waits ``seconds / max_count``
    or ``seconds * amount / max_amount``, the longer; so a window fills evenly, at the rate,
    instead of all at its start.
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
        super().__init__(clock, sleep)
        self.max_count = max_count
        self.max_amount = max_amount
        self.seconds = seconds
        self._sent: collections.deque[tuple[float, float]] = collections.deque()
        self._amount = 0.0
        self._next = float("-inf")  # the earliest time of the next send (spacing)

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
    """Publishes per second and bytes per second, paced together.

    ``None`` for either limit means unlimited (local brokers, benchmarks). Without
    ``window_seconds``, two token buckets whose burst is ``burst_seconds`` worth of each rate
    (at least one publish). With it, a :class:`SlidingWindow` of that length holding each rate
    times the window (what ``from_config`` uses): no burst above the rate, ever.
    """

    def __init__(
        self,
        max_publishes_per_second: float | None,
        max_bytes_per_second: float | None,
        *,
        burst_seconds: float = 1.0,
        window_seconds: float | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        if burst_seconds <= 0:
            raise ValueError(f"burst_seconds must be > 0, not {burst_seconds}")
        self.window: SlidingWindow | None = None
        if window_seconds is not None:
            self.window = SlidingWindow(
                None
                if max_publishes_per_second is None
                else max_publishes_per_second * WINDOW_SECONDS,
                None if max_bytes_per_second is None else max_bytes_per_second * WINDOW_SECONDS,
                window_seconds,
                clock=clock,
                sleep=sleep,
            )
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
        """The limiter for ``publish.maxPublishesPerSecond`` and ``publish.maxBytesPerSecond``:
        a sliding window of one second plus ``JITTER_SECONDS``."""
        return cls(
            config.max_publishes_per_second,
            config.max_bytes_per_second,
            window_seconds=WINDOW_SECONDS + JITTER_SECONDS,
        )

    async def acquire(self, nbytes: int) -> None:
        """Wait until one more publish of ``nbytes`` bytes fits within both limits."""
        if self.window is not None:
            await self.window.acquire(nbytes)
            return
        await self.publishes.acquire(1)
        await self.bytes.acquire(nbytes)
