"""``edge-agent`` with the publish limiter of ``RateLimiter.from_config`` (a sliding window).

    python bench/agent_window.py run --config agent.yaml

edge_agent/agent.py builds its limiter with the ``RateLimiter`` constructor, whose token buckets
let up to twice the limits through in the first second after an idle spell. This launcher swaps
in the sliding window that ``from_config`` builds and then runs the ordinary command line, so
the benchmarks measure both in one run. Once agent.py builds its limiter with ``from_config``
the two are the same and this file can go.
"""

from __future__ import annotations

import sys

import edge_agent.agent
from edge_agent.cli import main
from edge_agent.publish import ratelimit


def windowed(
    max_publishes_per_second: float | None, max_bytes_per_second: float | None
) -> ratelimit.RateLimiter:
    return ratelimit.RateLimiter(
        max_publishes_per_second,
        max_bytes_per_second,
        window_seconds=ratelimit.WINDOW_SECONDS + ratelimit.JITTER_SECONDS,
    )


if __name__ == "__main__":
    edge_agent.agent.RateLimiter = windowed  # type: ignore[misc,assignment]
    sys.exit(main())
