"""Small asyncio helpers shared by the long-lived loops."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:  # noqa: ASYNC109 - an Event, not a coroutine, is what is waited for
    """Wait until ``event`` is set or ``timeout`` seconds pass; True if it was set.

    Uses ``asyncio.timeout`` rather than ``asyncio.wait_for``: on Python 3.11, ``wait_for``
    swallows a cancellation that arrives as the event is set, and a task being stopped would
    then wait forever.
    """
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
