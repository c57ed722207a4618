"""The token buckets that pace publishes: exact figures on a fake clock, one real-time check."""

from __future__ import annotations

import asyncio

import pytest

from edge_agent.config.publish import PublishConfig
from edge_agent.publish.ratelimit import RateLimiter, TokenBucket


class FakeClock:
    """A clock that only moves when someone sleeps on it; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_unlimited_never_waits(clock: FakeClock) -> None:
    bucket = TokenBucket(None, 1, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        await bucket.acquire(10_000_000)
    assert clock.sleeps == []


async def test_burst_passes_then_rate_applies(clock: FakeClock) -> None:
    bucket = TokenBucket(10, 5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        await bucket.acquire()
    assert clock.sleeps == []
    await bucket.acquire()
    await bucket.acquire()
    assert clock.sleeps == pytest.approx([0.1, 0.1])


async def test_amount_larger_than_burst_passes_with_debt(clock: FakeClock) -> None:
    bucket = TokenBucket(100, 50, clock=clock, sleep=clock.sleep)
    await bucket.acquire(250)  # 50 saved up, 200 more take 2 s
    assert clock.sleeps == pytest.approx([2.0])
    await bucket.acquire(10)
    assert clock.sleeps == pytest.approx([2.0, 0.1])


async def test_refill_is_capped_at_burst(clock: FakeClock) -> None:
    bucket = TokenBucket(10, 3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        await bucket.acquire()
    clock.now += 3600  # an hour idle saves up only the burst
    for _ in range(3):
        await bucket.acquire()
    assert clock.sleeps == []
    await bucket.acquire()
    assert clock.sleeps == pytest.approx([0.1])


async def test_cancelled_wait_gives_tokens_back() -> None:
    bucket = TokenBucket(1, 1)
    await bucket.acquire()  # empties the bucket
    waiter = asyncio.create_task(bucket.acquire(5))
    await asyncio.sleep(0)  # let it take its tokens and start waiting
    assert bucket.tokens < -4
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bucket.tokens > -1


async def test_rate_limiter_applies_both_limits(clock: FakeClock) -> None:
    limiter = RateLimiter(2, 1000, clock=clock, sleep=clock.sleep)
    assert limiter.publishes.burst == 2
    assert limiter.bytes.burst == 1000
    await limiter.acquire(100)
    await limiter.acquire(100)
    assert clock.sleeps == []
    await limiter.acquire(100)  # third publish in the same second: the publish bucket waits
    assert clock.sleeps == pytest.approx([0.5])
    # Fourth: the publish bucket waits another 0.5 s; by then the byte bucket is full again
    # (1000), so 3000 bytes leave a debt of 2000 = 2 s.
    await limiter.acquire(3000)
    assert clock.sleeps == pytest.approx([0.5, 0.5, 2.0])


def test_rate_limiter_from_config_defaults_to_iot_core_limits() -> None:
    limiter = RateLimiter.from_config(PublishConfig())
    assert limiter.publishes.rate_per_second == 100
    assert limiter.bytes.rate_per_second == 524_288
    unlimited = RateLimiter.from_config(
        PublishConfig(max_publishes_per_second=None, max_bytes_per_second=None)
    )
    assert unlimited.publishes.rate_per_second is None
    assert unlimited.bytes.rate_per_second is None


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_bad_arguments_are_refused(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        TokenBucket(rate, burst)


async def test_real_time_pacing() -> None:
    """20 acquires at 20/s with a burst of 1: the 19 after the first need >= 0.95 s."""
    bucket = TokenBucket(20, 1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(bucket.acquire() for _ in range(20)))
    elapsed = loop.time() - started
    assert elapsed >= 0.9
    assert elapsed < 10  # generous: only catches a bucket that does not refill
