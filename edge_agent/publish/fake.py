"""An in-memory publisher for unit tests of the stages before the cloud."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from edge_agent.errors import NotConnectedError, PublishRejectedError


class FakePublisher:
    """Records what is published; can be told to refuse, drop, or hold acknowledgements.

    * ``reject_next(n, code=135)``: the next ``n`` publishes raise ``PublishRejectedError``;
    * ``disconnect_next(n)``: the next ``n`` publishes raise ``NotConnectedError``;
    * ``set_connected(False)``: every publish raises ``NotConnectedError`` and ``wait_ready``
      blocks until ``set_connected(True)``;
    * ``hold_acks()`` / ``release_acks()``: publishes wait for their "PUBACK" until released
      (back-pressure tests); ``inflight`` counts them, ``peak_inflight`` the most at once.

    As a real publisher, at most ``max_inflight`` publishes await their acknowledgement; more
    wait for a slot before they are "sent". ``sent`` lists what was sent, in sending order;
    ``published`` what was acknowledged; ``attempts`` counts every call.
    """

    def __init__(self, *, connected: bool = True, max_inflight: int = 16) -> None:
        self.published: list[tuple[str, bytes]] = []
        self.sent: list[tuple[str, bytes]] = []
        self.attempts = 0
        self.inflight = 0
        self.peak_inflight = 0
        self._max_inflight = max_inflight
        self._window = asyncio.Semaphore(max_inflight)
        self.closed = False
        self._ready = asyncio.Event()
        if connected:
            self._ready.set()
        self._acks = asyncio.Event()
        self._acks.set()
        self._changed = asyncio.Condition()
        self._reject: list[tuple[str, int]] = []
        self._disconnects = 0

    @property
    def name(self) -> str:
        """Always ``fake``."""
        return "fake"

    @property
    def connected(self) -> bool:
        """Whether publishes may succeed now."""
        return self._ready.is_set() and not self.closed

    @property
    def max_inflight(self) -> int:
        """The most publishes awaiting acknowledgement at once."""
        return self._max_inflight

    def set_connected(self, connected: bool) -> None:
        """Go up or down, as ``run()`` would after a (re)connection or a drop."""
        if connected:
            self._ready.set()
        else:
            self._ready.clear()

    def reject_next(
        self, count: int = 1, *, code: int = 135, reason: str = "Not authorized"
    ) -> None:
        """Refuse the next ``count`` publishes with an MQTT reason code."""
        self._reject.extend([(reason, code)] * count)

    def disconnect_next(self, count: int = 1) -> None:
        """Fail the next ``count`` publishes as if the connection had dropped."""
        self._disconnects += count

    def hold_acks(self) -> None:
        """Make publishes wait for their acknowledgement until ``release_acks``."""
        self._acks.clear()

    def release_acks(self) -> None:
        """Acknowledge every held publish and stop holding."""
        self._acks.set()

    async def run(self) -> None:
        """Nothing to keep up; waits until cancelled, as a real publisher's ``run`` does."""
        await asyncio.Event().wait()

    async def wait_ready(self) -> None:
        """Return once connected; refused after ``aclose``."""
        if self.closed:
            raise NotConnectedError("fake publisher closed")
        await self._ready.wait()

    async def publish(self, topic: str, payload: bytes) -> None:
        """Record the payload, or fail as configured."""
        self.attempts += 1
        async with self._window:
            if self.closed or not self._ready.is_set():
                raise NotConnectedError("fake publisher not connected")
            if self._disconnects:
                self._disconnects -= 1
                raise NotConnectedError("fake publisher: connection lost before PUBACK")
            if self._reject:
                reason, code = self._reject.pop(0)
                raise PublishRejectedError(f"fake publisher refused the publish: {reason}", code)
            self.sent.append((topic, bytes(payload)))
            self.inflight += 1
            self.peak_inflight = max(self.peak_inflight, self.inflight)
            try:
                await self._acks.wait()
            finally:
                self.inflight -= 1
        async with self._changed:
            self.published.append((topic, bytes(payload)))
            self._changed.notify_all()

    async def wait_published(self, count: int) -> list[tuple[str, bytes]]:
        """Wait until at least ``count`` payloads were published; bound it with asyncio.timeout."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.published) >= count)
            return list(self.published)

    def payloads_json(self) -> list[Any]:
        """The published payloads decoded as JSON."""
        return [json.loads(payload) for _, payload in self.published]

    async def aclose(self) -> None:
        """Refuse every later publish."""
        self.closed = True
        self._ready.clear()
