"""The one backoff schedule: doubling ceilings, a floor, jitter from the first retry, a cap."""

from __future__ import annotations

import random

import pytest

from edge_agent.backoff import Backoff


def test_delays_double_their_ceiling_stay_above_the_floor_and_are_capped() -> None:
    for attempt, ceiling in [(0, 2), (1, 4), (2, 8), (5, 60), (100, 60)]:
        delays = []
        for seed in range(200):
            backoff = Backoff(1, 60, rng=random.Random(seed))
            backoff.attempts = attempt
            delays.append(backoff.next_delay())
        assert all(1 <= d <= ceiling for d in delays), (attempt, max(delays))
        assert max(delays) > 1 + (ceiling - 1) * 0.8  # jittered up to the ceiling
        assert min(delays) < 1 + (ceiling - 1) * 0.2  # and down to the floor


def test_attempts_count_and_reset_starts_over() -> None:
    backoff = Backoff(0.5, 30)
    for _ in range(10):
        backoff.next_delay()
    assert backoff.attempts == 10
    backoff.reset()
    assert backoff.attempts == 0
    assert 0.5 <= backoff.next_delay() <= 1.0


def test_a_maximum_below_the_floor_is_the_floor() -> None:
    backoff = Backoff(5, 1)
    assert backoff.maximum == 5
    assert {backoff.next_delay() for _ in range(10)} == {5}


def test_a_floor_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        Backoff(0, 1)
