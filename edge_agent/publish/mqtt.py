"""Direct MQTT publishing (AWS IoT Core or any broker) with paho-mqtt 2.x, bridged into asyncio.

paho is a threaded client. The bridge follows aiomqtt: the blocking connect (TCP, TLS
handshake) runs in ``asyncio.to_thread``, paho's network loop runs in its own thread
(``loop_start``), and paho's callbacks only ever hand their data to the event loop through
``loop.call_soon_threadsafe``; every future and counter is touched on the event loop alone.

Each connection attempt gets a fresh paho client. When a connection drops, every publish
still waiting for its PUBACK fails with ``NotConnectedError``: the batch is still in the
outbox, which retries it (with the same batchId), so paho's own resend is not needed. A PUBACK
that does not come within ``ackTimeoutSeconds`` is handled the same way: the connection is
given up and a new one made (MQTT allows a re-send only on a new connection, so waiting on
the old one could hold the slot for ever).

One in-flight limit: each connection's ``window``, ``maxInflight`` slots, or fewer when an
MQTT 5 broker's CONNACK carries a smaller Receive Maximum (sending more unacknowledged QoS 1
messages than that is a protocol error). paho's own limit is switched off, so no message waits
inside paho, unseen, while its PUBACK timer runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.aio import wait_event
from edge_agent.backoff import Backoff
from edge_agent.config.publish import MqttConfig
from edge_agent.errors import NotConnectedError, PublishRejectedError
from edge_agent.publish.tls import TlsContext, build_ssl_context

logger = logging.getLogger("edge_agent.publish.mqtt")
_paho_logger = logging.getLogger("edge_agent.publish.mqtt.paho")

NOT_AUTHORIZED = 135  # PUBACK/CONNACK "Not authorized" (an ACL or IoT policy refusal)

# CONNACK refusals that retrying will not fix until someone changes a credential or policy:
# they are logged as errors with the fix and retried at the slowest pace.
_CONNACK_HINTS: dict[int, str] = {
    133: "the broker refused the client id; set publish.mqtt.clientId",
    134: "check publish.mqtt.username and publish.mqtt.password",
    135: "with AWS IoT Core: the certificate must be ACTIVE, attached to the thing, and its "
    "policy must allow iot:Connect for this client id",
    138: "this client is banned by the broker",
    140: "the broker does not accept this authentication method",
}


class _ConnectError(Exception):
    """A connection attempt failed; ``slow`` asks for the slowest retry pace."""

    def __init__(self, reason: str, *, slow: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.slow = slow


class _Connection:
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


class MqttPublisher:
    """Publishes with QoS 1 over one MQTT connection that ``run()`` keeps up.

    ``publish`` returns when the broker's PUBACK arrives. It raises ``NotConnectedError``
    while disconnected or when the connection drops before the PUBACK (retry later), and
    ``PublishRejectedError`` when an MQTT 5 broker refuses the message (reason code >= 0x80,
    e.g. 135 Not authorized). MQTT 3.1.1 has no reason codes: a refused message is
    acknowledged like any other. Pacing (publishes/s, bytes/s) is the caller's: the
    dispatcher's RateLimiter.
    """

    def __init__(self, config: MqttConfig, *, thing_name: str) -> None:
        self._config = config
        self.thing_name = thing_name
        # Never the bare thing name: the Greengrass nucleus connects with it, and IoT Core
        # drops the older of two connections that share a client id.
        self.client_id = config.client_id or f"{thing_name}-edge-agent"
        self._ssl_context = build_ssl_context(config.tls) if config.tls is not None else None
        self._ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._connection: _Connection | None = None
        self.publishes_ok = 0
        self.publishes_rejected = 0
        self.disconnects = 0
        self.last_error: str | None = None
        """Why the last connection attempt failed or the connection dropped; None while up."""

    @property
    def name(self) -> str:
        """``mqtt://host:port`` or ``mqtts://host:port``."""
        scheme = "mqtts" if self._ssl_context is not None else "mqtt"
        return f"{scheme}://{self._config.host}:{self._config.port}"

    @property
    def connected(self) -> bool:
        """Whether a CONNACK was accepted and the connection has not dropped since."""
        return self._connection is not None and self._connection.up

    @property
    def max_inflight(self) -> int:
        """``publish.mqtt.maxInflight``: the window's size unless the broker asks for less."""
        return self._config.max_inflight

    @property
    def inflight(self) -> int:
        """Publishes sent and waiting for their PUBACK."""
        return len(self._connection.pending) if self._connection is not None else 0

    def _log(self, level: int, event: str, message: str, **fields: Any) -> None:
        extra = {"event": event, "broker": self.name, "client_id": self.client_id, **fields}
        logger.log(level, message, extra=extra)

    # ---------------------------------------------------------------- connection

    async def run(self) -> None:
        """Connect, and reconnect with capped, jittered exponential backoff, until cancelled."""
        loop = asyncio.get_running_loop()
        backoff = Backoff(self._config.reconnect_min_seconds, self._config.reconnect_max_seconds)
        while not self._stopping.is_set():
            connection = _Connection(
                loop,
                self._new_client(),
                self._ssl_context,
                self._config.max_inflight,
                self._config.ack_timeout_seconds,
            )
            self._connection = connection
            slow = False
            try:
                await self._connect(connection)
                connected_at = loop.time()
                reason = await self._hold(connection)
                if self._stopping.is_set():
                    return
                # A connection that held for a while resets the backoff; one that drops at
                # once (e.g. another client took our client id) keeps slowing down.
                if loop.time() - connected_at >= self._config.reconnect_max_seconds:
                    backoff.reset()
                self.disconnects += 1
                self.last_error = f"connection lost: {reason}"
                self._log(logging.WARNING, "mqtt.disconnected", self.last_error, reason=reason)
            except _ConnectError as e:
                if self._stopping.is_set():
                    return
                slow, self.last_error = e.slow, e.reason
                level = logging.ERROR if e.slow else logging.WARNING
                attempt = backoff.attempts + 1
                self._log(
                    level, "mqtt.connect_failed", f"cannot connect: {e.reason}", attempt=attempt
                )
            finally:
                self._ready.clear()
                self._connection = None
                connection.mark_lost("publisher stopped" if self._stopping.is_set() else "closed")
                await asyncio.to_thread(connection.close)
            # The floor (reconnectMinSeconds) keeps us under IoT Core's ~1 CONNECT/s per client
            # id; a refusal only a person can fix is retried at the slowest pace at once.
            delay = backoff.next_delay()
            if slow:
                delay = backoff.maximum
            message = f"reconnecting in {delay:.2f} s"
            self._log(logging.INFO, "mqtt.reconnect_wait", message, delay_seconds=round(delay, 3))
            await wait_event(self._stopping, delay)

    async def _hold(self, connection: _Connection) -> str:
        """Mark the connection ready and wait until it is lost; returns why."""
        if connection.lost.done():  # dropped (or closed) right after its CONNACK
            return connection.lost.result()
        connection.up = True
        self.last_error = None
        self._ready.set()
        self._log(logging.INFO, "mqtt.connected", f"connected to {self.name}")
        try:
            return await connection.lost
        finally:
            self._ready.clear()

    def _new_client(self) -> mqtt.Client:
        mqtt5 = self._config.protocol == 5
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5 if mqtt5 else mqtt.MQTTv311,
            clean_session=None if mqtt5 else True,
            reconnect_on_failure=False,  # run() reconnects, with a fresh client
        )
        client.connect_timeout = self._config.connect_timeout_seconds
        # 0 = no limit in paho: the connection's window is the one limit (module docstring).
        client.max_inflight_messages_set(0)
        if self._ssl_context is not None:
            client.tls_set_context(self._ssl_context)
        if self._config.username is not None:
            client.username_pw_set(self._config.username, self._config.password)
        client.enable_logger(_paho_logger)
        return client

    async def _connect(self, connection: _Connection) -> None:
        config = self._config
        where = f"{config.host}:{config.port}"
        self._log(logging.INFO, "mqtt.connecting", f"connecting to {self.name}")
        try:
            # Bounded by paho's connect_timeout (TCP connect and TLS handshake).
            mqtt5 = config.protocol == 5
            await asyncio.to_thread(
                connection.open, config.host, config.port, config.keep_alive_seconds, mqtt5
            )
        except ssl.SSLCertVerificationError as e:
            raise _ConnectError(
                f"TLS: the certificate of {where} is not trusted ({e.verify_message}); check "
                "publish.mqtt.tls.ca (the CA that signed the broker's certificate) and "
                "publish.mqtt.host (it must match the certificate)"
            ) from e
        except ssl.SSLError as e:
            raise _ConnectError(
                f"TLS handshake with {where} failed ({e.reason or e}); check that the port "
                "speaks TLS and that publish.mqtt.tls.cert/key are the device certificate "
                "the broker trusts"
            ) from e
        except OSError as e:
            raise _ConnectError(f"cannot reach {where}: {e}") from e
        try:
            async with asyncio.timeout(config.connect_timeout_seconds):
                reason = await connection.connack
        except TimeoutError:
            raise _ConnectError(
                f"no CONNACK from {where} within {config.connect_timeout_seconds} s"
            ) from None
        if reason is None:
            lost = connection.lost.result() if connection.lost.done() else "closed"
            raise _ConnectError(
                f"{where} closed the connection before CONNACK ({lost}); if it uses TLS, "
                "check that the device certificate is registered and active"
            )
        if reason.is_failure:
            hint = _CONNACK_HINTS.get(reason.value)
            text = f"CONNACK refused: {reason} ({reason.value})"
            raise _ConnectError(f"{text} — {hint}" if hint else text, slow=hint is not None)

    async def wait_ready(self) -> None:
        """Return once connected (immediately if connected now); refused after ``aclose``."""
        if self._stopping.is_set():
            raise NotConnectedError(f"publisher for {self.name} is closed")
        await self._ready.wait()

    # ---------------------------------------------------------------- publishing

    async def publish(self, topic: str, payload: bytes) -> None:
        """Publish with QoS 1 and return when the PUBACK arrives.

        Waits for a slot of the connection's window first; the slot is held until the PUBACK,
        the failure, or the ack timeout (which drops the connection).
        """
        connection = self._connection
        if connection is None or not connection.up:
            raise NotConnectedError(f"not connected to {self.name}")
        try:
            async with connection.window:
                await connection.publish(topic, payload)
        except PublishRejectedError as e:
            self.publishes_rejected += 1
            message = f"publish to {topic!r} refused: {e.reason}"
            fields = {"topic": topic, "code": e.code}
            self._log(logging.WARNING, "mqtt.publish_rejected", message, **fields)
            raise
        self.publishes_ok += 1

    async def aclose(self) -> None:
        """Disconnect, join paho's thread, and make ``run()`` return."""
        self._stopping.set()
        self._ready.clear()
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.mark_lost("publisher closed")
            await asyncio.to_thread(connection.close)
