"""A PUBACK that never comes: the connection is dropped and made again, the batch re-sent.

Real mosquitto behind a small TCP proxy that reads the MQTT packets the broker sends and drops
the first PUBACK. Without an acknowledgement timeout that publish would hold its slot of the
window for ever (MQTT only allows a re-send on a new connection), and with one slot nothing
else would ever be sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_agent.config.publish import MqttConfig
from edge_agent.errors import NotConnectedError
from edge_agent.publish.mqtt import MqttPublisher
from tests.dispatch_support import OutboxRig, dispatching, until
from tests.infra.mosquitto import HOST, Broker

PUBACK = 4  # MQTT control packet type (high nibble of the first byte)


class PubackSwallower:
    """Forwards bytes between MQTT clients and a broker; drops the first ``swallow`` PUBACKs
    the broker sends. Runs on the test's event loop."""

    def __init__(self, broker: Broker, *, swallow: int = 1) -> None:
        self._broker = broker
        self._to_swallow = swallow
        self.swallowed: list[int] = []  # packet ids of the PUBACKs dropped
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[object]] = set()

    async def __aenter__(self) -> PubackSwallower:
        self._server = await asyncio.start_server(self._accept, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        # Python 3.11's wait_closed does not wait for the connection handlers: end them here.
        for handler in self._handlers:
            handler.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        writers = [client_w]
        try:
            broker_r, broker_w = await asyncio.open_connection(self._broker.host, self._broker.port)
            writers.append(broker_w)
            # Either side closing ends the pair, as a TCP proxy would.
            async with asyncio.TaskGroup() as pair:
                pumps = [
                    pair.create_task(self._bytes(client_r, broker_w)),
                    pair.create_task(self._packets(broker_r, client_w)),
                ]
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
                for pump in pumps:
                    pump.cancel()
        finally:
            self._handlers.discard(handler)
            for writer in writers:  # all closed before the first await: none can be skipped
                writer.close()
            for writer in writers:
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    @staticmethod
    async def _bytes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()

    async def _packets(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                header = await reader.readexactly(1)
                length_bytes = b""
                length, shift = 0, 0
                while True:  # "remaining length": a variable byte integer, 7 bits per byte
                    byte = await reader.readexactly(1)
                    length_bytes += byte
                    length |= (byte[0] & 0x7F) << shift
                    shift += 7
                    if not byte[0] & 0x80:
                        break
                body = await reader.readexactly(length)
                if header[0] >> 4 == PUBACK and self._to_swallow > 0:
                    self._to_swallow -= 1
                    self.swallowed.append(int.from_bytes(body[:2], "big"))
                    continue
                writer.write(header + length_bytes + body)
                await writer.drain()


@contextlib.asynccontextmanager
async def running(publisher: MqttPublisher) -> AsyncIterator[None]:
    task = asyncio.create_task(publisher.run())
    try:
        async with asyncio.timeout(10):
            await publisher.wait_ready()
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await publisher.aclose()


def config(port: int, **overrides: object) -> MqttConfig:
    settings: dict[str, object] = {
        "host": HOST,
        "port": port,
        "connect_timeout_seconds": 5,
        "reconnect_min_seconds": 0.05,
        "reconnect_max_seconds": 0.2,
        "ack_timeout_seconds": 1,
    }
    settings.update(overrides)
    return MqttConfig.model_validate(settings)


@pytest.mark.infra
async def test_a_broker_that_swallows_one_puback_does_not_pin_a_slot_for_ever(
    mosquitto: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    rig = OutboxRig(tmp_path / "state", topic=f"{topic_prefix}/line1")
    committed = rig.commit(6)
    loop = asyncio.get_running_loop()
    async with PubackSwallower(mosquitto) as proxy:
        # One slot: the publish whose PUBACK is lost would block every other batch.
        publisher = MqttPublisher(config(proxy.port, max_inflight=1), thing_name="gateway-01")
        dispatcher = rig.dispatcher(publisher)
        with mosquitto.subscriber(f"{topic_prefix}/#") as received:
            async with running(publisher), dispatching(dispatcher):
                started = loop.time()
                await until(lambda: rig.waiting() == [], timeout=20, what="every batch acked")
                elapsed = loop.time() - started
            messages = await received.wait_for_async(len(committed) + 1)
    rig.close()

    assert len(proxy.swallowed) == 1
    assert elapsed >= 1.0  # the acknowledgement timeout, then a new connection
    assert proxy.connections == 2
    assert publisher.disconnects == 1
    assert rig.stats.publish_errors == {"not-connected": 1}
    # Nothing lost; the batch whose PUBACK was swallowed came twice, with the same batchId.
    delivered = [json.loads(payload)["batchId"] for _, payload in messages]
    assert sorted(set(delivered)) == committed
    assert delivered.count(committed[0]) == 2
    assert len(delivered) == len(committed) + 1


@pytest.mark.infra
async def test_the_publish_fails_as_not_connected_and_the_connection_is_made_again(
    mosquitto: Broker, topic_prefix: str
) -> None:
    async with PubackSwallower(mosquitto) as proxy:
        publisher = MqttPublisher(config(proxy.port, ack_timeout_seconds=0.5), thing_name="gw")
        async with running(publisher):
            with pytest.raises(NotConnectedError, match=r"no PUBACK within 0\.5 s"):
                await publisher.publish(f"{topic_prefix}/x", b"{}")
            await until(lambda: proxy.connections == 2, what="a new connection")
            async with asyncio.timeout(10):
                await publisher.wait_ready()
            await publisher.publish(f"{topic_prefix}/x", b"{}")  # acknowledged this time
    assert publisher.publishes_ok == 1
    assert publisher.last_error is None
