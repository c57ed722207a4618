"""Fuzzing through the real paths (ingest pass into a SQLite outbox, configuration loading).

Every fuzz test takes its settings from ``fuzz_settings``: derandomized and without an example
database, so a CI run is reproducible and fast. ``EDGE_AGENT_FUZZ_SCALE=20`` (or any factor)
multiplies the number of examples for a long local run; ``EDGE_AGENT_FUZZ_RANDOM=1`` draws new
examples instead of the fixed ones.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SCALE = float(os.environ.get("EDGE_AGENT_FUZZ_SCALE", "1"))
_RANDOM = os.environ.get("EDGE_AGENT_FUZZ_RANDOM", "") not in ("", "0")


def fuzz_settings(examples: int) -> settings:
    """Settings for one fuzz test: ``examples`` in CI, scaled by EDGE_AGENT_FUZZ_SCALE."""
    return settings(
        max_examples=max(1, int(examples * _SCALE)),
        deadline=None,
        derandomize=not _RANDOM,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
