"""Loaded (as ``sitecustomize``) only by an agent process the clock test starts under
libfaketime, through PYTHONPATH.

libfaketime 0.9.10 with ``FAKETIME_DONT_FAKE_MONOTONIC=1`` (the wall clock jumps, the
monotonic clock does not, as with a real NTP step) fails ``clock_nanosleep`` on the monotonic
clock with an absolute deadline with EINVAL: it shifts the deadline by the fake offset. Python's
``time.sleep`` is exactly that call, so it is replaced by a wait on ``select`` with a relative
timeout, which libfaketime passes through untouched. Nothing else is changed.
"""

from __future__ import annotations

import select
import time


def _sleep(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


time.sleep = _sleep
