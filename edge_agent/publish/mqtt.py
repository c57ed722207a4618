"""Direct MQTT publishing (AWS IoT Core or any broker) with paho-mqtt 2.x, bridged into asyncio.

``MqttPublisher.run()`` keeps one connection up (mqtt_connection.py: the paho thread bridge,
the in-flight window, the PUBACK timeout) and makes a new one, with backoff, whenever it is
lost. Each connection attempt gets a fresh paho client. When a connection drops, every publish
still waiting for its PUBACK fails with ``NotConnectedError``: the batch is still in the
outbox, which retries it (with the same batchId), so paho's own resend is not needed. A PUBACK
that does not come within ``ackTimeoutSeconds`` is handled the same way: the connection is
given up and a new one made.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.aio import wait_event
from edge_agent.backoff import Backoff
from edge_agent.config.publish import MqttConfig
from edge_agent.errors import NotConnectedError, PublishRejectedError
from edge_agent.publish.mqtt_connection import MqttConnection
from edge_agent.publish.tls import build_ssl_context

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
        self._connection: MqttConnection | None = None
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
            connection = MqttConnection(
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

    async def _hold(self, connection: MqttConnection) -> str:
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

    async def _connect(self, connection: MqttConnection) -> None:
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
