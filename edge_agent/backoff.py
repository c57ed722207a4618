"""Capped exponential backoff with jitter: the one schedule every retry loop of the agent uses.

Our retry loops are long-lived (a connection kept up for months, a watcher, a publish retried
until the broker is back) and each has its own stop event, its own idea of when to start over
(a connection that held for a while), and errors that call for the slowest pace at once (a
refused logon). So this is a schedule, not a retry decorator: the loop asks for the next delay
and waits its own way (``asyncio`` event, ``threading.Event``), and says when to start over.
"""

from __future__ import annotations

import random


class Backoff:
    """Delays that double from ``initial`` up to ``maximum``, each drawn at random under a ceiling.

    The n-th delay (n = 0, 1, ...) is uniform in ``[initial, min(maximum, initial * 2**(n+1))]``:
    never below ``initial`` (a floor the caller may owe a server, e.g. AWS IoT Core's one
    CONNECT per second per client id), and jittered from the first retry on, so gateways that
    lost the same broker at the same moment do not come back in lockstep.
    """

    def __init__(self, initial: float, maximum: float, *, rng: random.Random | None = None) -> None:
        if initial <= 0:
            raise ValueError(f"initial must be > 0, not {initial}")
        self.initial = initial
        self.maximum = max(initial, maximum)
        self.attempts = 0
        """Delays handed out since the last ``reset``."""
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt (and count this one)."""
        ceiling = min(self.maximum, self.initial * 2 ** min(self.attempts + 1, 64))
        self.attempts += 1
        return self._rng.uniform(self.initial, ceiling)

    def reset(self) -> None:
        """Start over at ``initial`` (the thing retried has worked, or held for long enough)."""
        self.attempts = 0
