"""What the nucleus sends us unasked, brought from awscrt's thread to the asyncio loop.

awsiot calls connection and stream callbacks on the awscrt event-loop thread; the only way they
reach asyncio is ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class ConfigurationUpdate:
    """The nucleus changed the component's configuration under ``key_path``."""

    component_name: str
    key_path: tuple[str, ...]


@dataclass(frozen=True)
class ConfigurationProposal:
    """A deployment asks whether ``configuration`` is acceptable; answer with
    ``GreengrassIpc.send_configuration_validity_report(deployment_id, ...)``."""

    deployment_id: str
    configuration: dict[str, Any]


def deliver(loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: Any) -> None:
    """Hand an event from an awscrt thread to the asyncio loop."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        # The loop is closed: the agent has stopped and nobody is left to tell.
        logger.debug("IPC event after the event loop closed: %s%r", callback, args)


async def settle(future: concurrent.futures.Future[Any], what: str) -> bool:
    """Wait for a shutdown future; its error (why the peer closed) is only logged.
    Return whether it completed in time."""
    waiter = asyncio.wrap_future(future)
    _, pending = await asyncio.wait({waiter}, timeout=CLOSE_TIMEOUT_SECONDS)
    if pending:
        waiter.cancel()
        logger.warning("%s took longer than %s s", what, CLOSE_TIMEOUT_SECONDS)
        return False
    if waiter.exception() is not None:
        logger.debug("%s: ended after %r", what, waiter.exception())
    return True


class ConnectionEvents:
    """The connection's lifecycle handler; awsiot calls it on the awscrt thread."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, closed: asyncio.Future[BaseException | None]
    ) -> None:
        self._loop = loop
        self._closed = closed

    def on_connect(self) -> None:
        """Connected: the connect() future reports it."""

    def on_disconnect(self, reason: BaseException | None) -> None:
        """The connection ended (reason None = we closed it)."""
        deliver(self._loop, self._resolve, reason)

    def on_error(self, error: BaseException) -> bool:
        """A connection-level protocol error: close the connection (the publisher reconnects)."""
        logger.warning("Greengrass IPC connection error: %r", error)
        return True

    def on_ping(self, headers: object, payload: object) -> None:
        """The nucleus pinged us; awscrt needs no answer from us."""

    def _resolve(self, reason: BaseException | None) -> None:
        if not self._closed.done():
            self._closed.set_result(reason)


class Subscription:
    """An open IPC stream; its events reach the loop until it is closed."""

    def __init__(self, operation: str, loop: asyncio.AbstractEventLoop) -> None:
        self.operation = operation
        self._loop = loop
        self._closed = asyncio.Event()
        self._stream: Any = None

    def handlers(self, on_event: Callable[[Any], None]) -> dict[str, Callable[..., Any]]:
        """The awsiot stream callbacks (they run on the awscrt thread)."""

        def on_error(error: BaseException) -> bool:
            logger.warning("%s stream error: %r", self.operation, error)
            return True  # close the stream; the caller subscribes again

        def on_closed() -> None:
            deliver(self._loop, self._closed.set)

        return {
            "on_stream_event": on_event,
            "on_stream_error": on_error,
            "on_stream_closed": on_closed,
        }

    def attach(self, stream: Any) -> None:
        """Keep the awsiot operation, to close it later."""
        self._stream = stream

    @property
    def closed(self) -> bool:
        """Whether the stream has ended (closed by us, the nucleus, or the connection)."""
        return self._closed.is_set()

    async def wait_closed(self) -> None:
        """Return when the stream has ended."""
        await self._closed.wait()

    async def close(self) -> None:
        """End the stream (sends TERMINATE_STREAM)."""
        if self._closed.is_set() or self._stream is None:
            return
        # The stream-closed callback may reach the loop after the close future does.
        if await settle(self._stream.close(), f"closing the {self.operation} stream"):
            self._closed.set()
