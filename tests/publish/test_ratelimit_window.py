"""The sliding-window limiter: never more than the limit in any window, on a fake clock."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from edge_agent.config.publish import PublishConfig
from edge_agent.publish.ratelimit import JITTER_SECONDS, RateLimiter, SlidingWindow


class FakeClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def most_in_window(events: list[tuple[float, float]], seconds: float) -> tuple[int, float]:
    """(most sends, most amount) within any half-open window of ``seconds``."""
    best_count, best_amount = 0, 0.0
    for i, (start, _a) in enumerate(events):
        inside = [a for t, a in events[i:] if t < start + seconds]
        best_count = max(best_count, len(inside))
        best_amount = max(best_amount, sum(inside))
    return best_count, best_amount


async def test_count_never_above_the_limit_in_any_window() -> None:
    clock = FakeClock()
    window = SlidingWindow(100, None, 1.0, clock=clock, sleep=clock.sleep)
    events = []
    for _ in range(350):
        await window.acquire(10)
        events.append((clock.now, 10.0))
    assert most_in_window(events, 1.0)[0] == 100
    assert clock.now - 1000.0 == pytest.approx(3.49)  # evenly spaced at the rate, no slower
    gaps = {round(b[0] - a[0], 9) for a, b in itertools.pairwise(events)}
    assert gaps == {0.01}  # no burst: one send every 1/100 s


async def test_full_payloads_use_the_whole_byte_budget() -> None:
    clock = FakeClock()
    window = SlidingWindow(100, 524_288, 1.0, clock=clock, sleep=clock.sleep)
    events = []
    for _ in range(40):
        await window.acquire(131_072)
        events.append((clock.now, 131_072.0))
    count, amount = most_in_window(events, 1.0)
    assert (count, amount) == (4, 524_288)
    assert clock.now - 1000.0 == pytest.approx(9.75)  # one every 0.25 s: 100 % of the budget


async def test_amount_above_the_limit_goes_alone() -> None:
    clock = FakeClock()
    window = SlidingWindow(None, 1000, 1.0, clock=clock, sleep=clock.sleep)
    await window.acquire(300)
    await window.acquire(5000)  # waits for the 300 to leave the window, then goes alone
    assert clock.now == pytest.approx(1001.0)
    await window.acquire(1)  # 5000 at 1000/s: the next send waits the 5 s it costs
    assert clock.now == pytest.approx(1006.0)


async def test_cancelled_wait_records_nothing() -> None:
    clock = FakeClock()
    gate = asyncio.Event()
    sleeps: list[float] = []

    async def blocked_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await gate.wait()

    window = SlidingWindow(1, None, 1.0, clock=clock, sleep=blocked_sleep)
    await window.acquire()
    waiter = asyncio.create_task(window.acquire())
    await asyncio.sleep(0)  # it waits for the first send to leave the window
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert sleeps == [1.0]
    clock.now += 1.0
    await window.acquire()  # the first left; the cancelled one was never counted
    assert sleeps == [1.0]
    assert window._next == pytest.approx(clock.now + 1.0)  # spaced from the send, not the wait


async def test_from_config_is_a_window_with_both_iot_core_limits() -> None:
    clock = FakeClock()
    limiter = RateLimiter.from_config(PublishConfig())
    assert limiter.window.max_count == 100
    assert limiter.window.max_amount == 524_288
    assert limiter.window.seconds == pytest.approx(1.0 + JITTER_SECONDS)
    # An idle connection does not save up a burst: 150 small publishes take two windows.
    limiter = RateLimiter(100, 524_288, window_seconds=1.0, clock=clock, sleep=clock.sleep)
    events = []
    for _ in range(150):
        await limiter.acquire(200)
        events.append((clock.now, 200.0))
    assert most_in_window(events, 1.0)[0] == 100


@pytest.mark.parametrize(("count", "amount", "seconds"), [(0, None, 1), (None, -1, 1), (1, 1, 0)])
def test_bad_arguments_are_refused(
    count: float | None, amount: float | None, seconds: float
) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        SlidingWindow(count, amount, seconds)
