"""Publishing through the Greengrass nucleus over IPC (PublishToIoTCore, QoS 1)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping

from edge_agent.backoff import Backoff
from edge_agent.config.publish import GreengrassConfig
from edge_agent.errors import NotConnectedError
from edge_agent.greengrass.ipc import GreengrassIpc
from edge_agent.publish.base import LOCAL_TOPIC_PREFIX

logger = logging.getLogger(__name__)

# A connection that stayed up this long was healthy: the next drop starts the backoff afresh.
_STABLE_SECONDS = 30.0


class GreengrassPublisher:
    """The Publisher for an agent deployed as a Greengrass component.

    ``publish`` sends PublishToIoTCore with QoS 1 (AT_LEAST_ONCE) and returns once the nucleus
    answered. Success means "accepted into the nucleus spooler", not "delivered to AWS IoT Core":
    the spooler is in memory by default and is lost on a restart, so the agent's outbox stays the
    durable store and must keep a batch until this call returned. ``ServiceError`` (the spooler is
    full, back-pressure) raises a transient PublishError; ``UnauthorizedError`` raises
    PublishRejectedError naming the recipe's accessControl to fix; a lost connection raises
    NotConnectedError, and so does an answer that does not come within
    ``config.ack_timeout_seconds``, after closing the connection so that it is made again.
    At most ``config.max_inflight`` publishes wait for an answer at a time: the publisher's
    one in-flight limit (the nucleus has no Receive Maximum to honour).

    Without ``ipc``, the publisher owns its connection, made from the component's environment
    (SVCUID and the nucleus socket path) with ``config.connect_timeout_seconds``: ``run()`` keeps
    it up, reconnecting with capped, jittered exponential backoff, and ``aclose()`` closes it.
    With ``ipc``, the connection is shared and belongs to the caller (the Greengrass component,
    which outlives one agent and keeps its configuration subscriptions on it): ``run()`` only
    follows it (ready while it is open) and ``aclose()`` leaves it open. Either way a closed
    publisher is finished; make a new one for the next agent.
    """

    def __init__(
        self,
        config: GreengrassConfig,
        *,
        thing_name: str,
        ipc: GreengrassIpc | None = None,
        environ: Mapping[str, str] | None = None,
        reconnect_min_seconds: float = 1.0,
        reconnect_max_seconds: float = 60.0,
    ) -> None:
        self._config = config
        self._thing_name = thing_name
        self._owns_connection = ipc is None
        self._ipc = ipc or GreengrassIpc.from_environment(
            environ,
            connect_timeout_seconds=config.connect_timeout_seconds,
            request_timeout_seconds=config.ack_timeout_seconds,
        )
        self._reconnect = (reconnect_min_seconds, reconnect_max_seconds)
        self._publish_timeout = config.ack_timeout_seconds
        self._inflight = asyncio.Semaphore(config.max_inflight)
        self._ready = asyncio.Event()
        self._closing = False
        self._closed = asyncio.Event()

    @property
    def name(self) -> str:
        """What the publisher talks to, for logs and status."""
        return f"greengrass-ipc ({self._thing_name})"

    @property
    def connected(self) -> bool:
        """Whether a publish may succeed now (for status)."""
        return self._ready.is_set()

    @property
    def max_inflight(self) -> int:
        """``publish.greengrass.maxInflight``: publishes waiting for the nucleus at once."""
        return self._config.max_inflight

    @property
    def ipc(self) -> GreengrassIpc:
        """The IPC connection this publisher publishes on (its own, or a shared one)."""
        return self._ipc

    @property
    def local_alerts_topic(self) -> str:
        """The local pub/sub topic for alerts (``publish.greengrass.localAlertsTopic``)."""
        return self._config.local_alerts_topic

    async def run(self) -> None:
        """Keep the IPC connection up (or follow the shared one) until cancelled or aclose()d."""
        if not self._owns_connection:
            await self._follow()
            return
        backoff = Backoff(*self._reconnect)
        loop = asyncio.get_running_loop()
        try:
            while not self._closing:
                try:
                    await self._ipc.connect()
                except NotConnectedError as e:
                    delay = backoff.next_delay()
                    logger.warning("Greengrass IPC: %s; retrying in %.1f s", e, delay)
                    await asyncio.sleep(delay)
                    continue
                if self._closing:  # aclose() ran while we were connecting
                    break
                connected_at = loop.time()
                logger.info("Greengrass IPC connected to %s", self._ipc.socket_path)
                self._ready.set()
                reason = await self._ipc.wait_closed()
                self._ready.clear()
                if self._closing:
                    break
                logger.warning("Greengrass IPC connection lost: %r", reason)
                if loop.time() - connected_at >= _STABLE_SECONDS:
                    backoff.reset()
                await asyncio.sleep(backoff.next_delay())
        finally:
            self._ready.clear()
            await self._ipc.close()

    async def _follow(self) -> None:
        """Mirror the state of a connection someone else keeps up."""
        try:
            while await self._unless_closed(self._ipc.wait_connected()):
                self._ready.set()
                if not await self._unless_closed(self._ipc.wait_closed()):
                    break
                self._ready.clear()
        finally:
            self._ready.clear()

    async def _unless_closed(self, waiting: Awaitable[object]) -> bool:
        """Await ``waiting`` unless aclose() comes first; whether it finished."""
        task = asyncio.ensure_future(waiting)
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            done, _ = await asyncio.wait({task, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            task.cancel()
            closed.cancel()
        return task in done and not self._closing

    async def wait_ready(self) -> None:
        """Return when a publish may succeed (connected to the nucleus)."""
        await self._ready.wait()

    async def publish(self, topic: str, payload: bytes) -> None:
        """PublishToIoTCore with QoS 1; return once the nucleus accepted it into its spooler.

        A topic starting with ``local:`` goes to the local pub/sub instead (PublishToTopic)."""
        if topic.startswith(LOCAL_TOPIC_PREFIX):
            await self.publish_local(topic.removeprefix(LOCAL_TOPIC_PREFIX), payload)
            return
        async with self._inflight:
            if not self._ready.is_set():
                raise NotConnectedError("not connected to the Greengrass nucleus")
            await self._ipc.publish_to_iot_core(
                topic, payload, timeout_seconds=self._publish_timeout
            )

    async def publish_local(self, topic: str, payload: bytes) -> None:
        """PublishToTopic on the nucleus' local pub/sub (alerts for components on the gateway)."""
        async with self._inflight:
            if not self._ready.is_set():
                raise NotConnectedError("not connected to the Greengrass nucleus")
            await self._ipc.publish_to_topic(topic, payload, timeout_seconds=self._publish_timeout)

    async def aclose(self) -> None:
        """Stop publishing; run() returns. An owned connection is closed, a shared one is not."""
        self._closing = True
        self._ready.clear()
        self._closed.set()
        if self._owns_connection:
            await self._ipc.close()
