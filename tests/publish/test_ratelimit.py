"""RateLimiter: the IoT Core limits from the configuration, unlimited when asked, real time."""

from __future__ import annotations

import asyncio

import pytest

from edge_agent.config.publish import PublishConfig
from edge_agent.publish.ratelimit import RateLimiter


def test_rate_limiter_from_config_defaults_to_iot_core_limits() -> None:
    limiter = RateLimiter.from_config(PublishConfig())
    assert limiter.window.max_count == 100
    assert limiter.window.max_amount == 524_288
    unlimited = RateLimiter.from_config(
        PublishConfig(max_publishes_per_second=None, max_bytes_per_second=None)
    )
    assert unlimited.window.max_count is None
    assert unlimited.window.max_amount is None


async def test_unlimited_never_waits() -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    limiter = RateLimiter(None, None, sleep=sleep)
    for _ in range(1000):
        await limiter.acquire(10_000_000)
    assert sleeps == []


@pytest.mark.parametrize(("publishes", "nbytes"), [(0, None), (None, -1)])
def test_bad_limits_are_refused(publishes: float | None, nbytes: float | None) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        RateLimiter(publishes, nbytes)


async def test_real_time_pacing() -> None:
    """20 acquires at 20/s: spaced 1/20 s apart, so the 19 after the first need >= 0.95 s."""
    limiter = RateLimiter(20, None)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(limiter.acquire(100) for _ in range(20)))
    elapsed = loop.time() - started
    assert elapsed >= 0.9
    assert elapsed < 10  # generous: only catches a limiter that never lets go
