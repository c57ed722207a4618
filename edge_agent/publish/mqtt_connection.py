"""One paho client and the one MQTT connection it makes, bridged into asyncio.

paho is a threaded client. The bridge follows aiomqtt: the blocking connect (TCP, TLS
handshake) runs in a worker thread (``open``), paho's network loop runs in its own thread
(``loop_start``), and paho's callbacks only ever hand their data to the event loop through
``loop.call_soon_threadsafe``; every future and counter is touched on the event loop alone.

One in-flight limit: each connection's ``window``, ``maxInflight`` slots, or fewer when an
MQTT 5 broker's CONNACK carries a smaller Receive Maximum (sending more unacknowledged QoS 1
messages than that is a protocol error). paho's own limit is switched off (the publisher sets
it to 0), so no message waits inside paho, unseen, while its PUBACK timer runs. A PUBACK that
does not come within the acknowledgement timeout gives the connection up, like a drop: MQTT
allows a re-send only on a new connection, so waiting on this one could hold a slot for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.errors import NotConnectedError, PublishRejectedError
from edge_agent.publish.tls import TlsContext


class MqttConnection:
    """One paho client and the one connection it makes; never reused once lost.

    Methods named ``_on_*`` run on paho's threads and only post to the event loop.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        client: mqtt.Client,
        tls: ssl.SSLContext | None,
        max_inflight: int,
        ack_timeout: float,
    ) -> None:
        self.client = client
        self._max_inflight = max_inflight
        self._ack_timeout = ack_timeout
        # The one in-flight limit (see the module docstring); resized at CONNACK.
        self.window = asyncio.Semaphore(max_inflight)
        self._tls = tls if isinstance(tls, TlsContext) else None
        self._loop = loop
        # None: the connection closed before any CONNACK arrived.
        self.connack: asyncio.Future[ReasonCode | None] = loop.create_future()
        self.lost: asyncio.Future[str] = loop.create_future()
        self.pending: dict[int, asyncio.Future[None]] = {}
        self.up = False
        self._lock = threading.Lock()  # orders open() against close() across threads
        self._closed = False
        self._loop_started = False
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish

    # ---------------------------------------------------------------- paho threads

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        # A closed event loop raises RuntimeError: nobody waits for this connection any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback, *args)

    def _on_connect(
        self, _c: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, properties: Any
    ) -> None:
        receive_maximum = getattr(properties, "ReceiveMaximum", None)
        self._post(self._connack_received, reason, receive_maximum)

    def _on_disconnect(
        self, _c: mqtt.Client, _u: Any, flags: mqtt.DisconnectFlags, reason: ReasonCode, _p: Any
    ) -> None:
        by = "broker sent DISCONNECT" if flags.is_disconnect_packet_from_server else "closed"
        self._post(self.mark_lost, f"{by}: {reason}")

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        self._post(self._puback_received, mid, reason)

    def open(self, host: str, port: int, keep_alive: int, mqtt5: bool) -> None:
        """Connect (blocking: TCP, TLS, CONNECT sent) and start paho's network thread."""
        tls = self._tls
        try:
            if mqtt5:
                # A fresh session each time: unacknowledged batches are the outbox's business.
                self.client.connect(host, port, keep_alive, clean_start=True)
            else:
                self.client.connect(host, port, keep_alive)
        except OSError:
            if tls is not None:
                tls.release_socket(close=True)
            raise
        if tls is not None:
            tls.release_socket(close=False)
        with self._lock:
            if self._closed:
                # Abandoned while connecting (cancelled); without a loop thread, disconnect()
                # writes DISCONNECT and closes the socket right here.
                self.client.disconnect()
                return
            self.client.loop_start()
            self._loop_started = True

    def close(self) -> None:
        """Disconnect and join paho's network thread (blocking; idempotent)."""
        with self._lock:
            self._closed = True
            started, self._loop_started = self._loop_started, False
        if started:
            self.client.disconnect()
            self.client.loop_stop()

    # ---------------------------------------------------------------- event loop

    def _connack_received(self, reason: ReasonCode, receive_maximum: int | None) -> None:
        # paho ignores the broker's Receive Maximum (MQTT 5), and sending more unacknowledged
        # QoS 1 messages than it is a protocol error: the window enforces it.
        if isinstance(receive_maximum, int) and receive_maximum < self._max_inflight:
            self.window = asyncio.Semaphore(receive_maximum)
        if not self.connack.done():
            self.connack.set_result(reason)

    def _puback_received(self, mid: int, reason: ReasonCode) -> None:
        ack = self.pending.pop(mid, None)
        if ack is None or ack.done():
            return  # its publish was cancelled, or the connection was already given up
        if reason.is_failure:
            ack.set_exception(
                PublishRejectedError(f"broker refused the publish: {reason}", reason.value)
            )
        else:
            # Includes 16, "No matching subscribers": the broker accepted the message.
            ack.set_result(None)

    def mark_lost(self, reason: str) -> None:
        """Give the connection up: fail the CONNACK wait and every publish awaiting a PUBACK."""
        self.up = False
        if not self.connack.done():
            self.connack.set_result(None)
        if not self.lost.done():
            self.lost.set_result(reason)
        pending, self.pending = self.pending, {}
        for ack in pending.values():
            if not ack.done():
                ack.set_exception(NotConnectedError(f"connection lost before PUBACK ({reason})"))

    async def publish(self, topic: str, payload: bytes) -> None:
        """Send one QoS 1 publish and wait for its PUBACK (hold a ``window`` slot around it).

        No PUBACK within the ack timeout: the connection is given up (``mark_lost``), which
        makes ``run()`` reconnect, and NotConnectedError is raised; the batch stays in the
        outbox and is sent again, with its batchId, on the next connection.
        """
        mid, ack = self._send(topic, payload)
        try:
            async with asyncio.timeout(self._ack_timeout):
                await ack
        except TimeoutError:
            reason = f"no PUBACK within {self._ack_timeout:g} s"
            self.mark_lost(reason)
            raise NotConnectedError(f"{reason}; reconnecting to send it again") from None
        finally:
            self.pending.pop(mid, None)  # a cancelled wait must not leave its future behind

    def _send(self, topic: str, payload: bytes) -> tuple[int, asyncio.Future[None]]:
        if not self.up or self.lost.done():
            raise NotConnectedError()
        try:
            info = self.client.publish(topic, payload, qos=1)
        except ValueError as e:
            # paho validates topics and sizes; the same batch would fail again.
            raise PublishRejectedError(f"cannot publish to {topic!r}: {e}") from e
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise NotConnectedError(f"publish not sent: {mqtt.error_string(info.rc)}")
        # Registered before the loop runs again, so the PUBACK callback (posted through
        # call_soon_threadsafe) always finds it.
        ack: asyncio.Future[None] = self._loop.create_future()
        self.pending[info.mid] = ack
        return info.mid, ack
