"""What reaches the broker: a paho subscriber to ``dt/edge-agent/#`` and the tally it keeps.

paho runs its network loop in its own thread; each message is decoded there and handed to the
event loop with ``call_soon_threadsafe``, so the tally is only ever touched on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.aio import wait_event
from edge_agent.errors import EdgeAgentError

TOPIC_FILTER = "dt/edge-agent/#"
RECENT_QUARANTINE = 5
SUBSCRIBE_TIMEOUT_SECONDS = 10.0


class SubscriberError(EdgeAgentError):
    """The demo's subscriber could not connect or subscribe."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the demo subscriber failed: {reason}")
        self.reason = reason


@dataclass(slots=True)
class SourceTally:
    """What arrived from one source."""

    records: int = 0
    quarantined: int = 0
    last_path: str | None = None


@dataclass(frozen=True, slots=True)
class QuarantinedRow:
    """One quarantine entry as it arrived."""

    source: str
    path: str
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class SampleRecord:
    """A published record with the file it came from and the units of its fields."""

    dataset: str
    path: str
    record: dict[str, Any]
    units: dict[str, str]


@dataclass
class Tally:
    """Counts of everything published under ``dt/edge-agent/`` (touched on the event loop only)."""

    messages: int = 0
    records: int = 0
    quarantined: int = 0
    alerts: int = 0
    unreadable: int = 0
    sources: dict[str, SourceTally] = field(default_factory=dict)
    recent_quarantine: deque[QuarantinedRow] = field(
        default_factory=lambda: deque(maxlen=RECENT_QUARANTINE)
    )
    latest_tower: SampleRecord | None = None
    latest_alert: dict[str, Any] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, topic: str, envelope: Any) -> None:
        """Count one message (``envelope`` is its decoded JSON, or None if it was not JSON)."""
        self.messages += 1
        self.changed.set()
        if topic.endswith("/status"):
            return  # the agent's heartbeat
        if topic.endswith("/alerts") and isinstance(envelope, dict) and "event" in envelope:
            self.alerts += 1
            self.latest_alert = envelope
            return
        records = envelope.get("records") if isinstance(envelope, dict) else None
        if not isinstance(records, list):
            self.unreadable += 1
            return
        source = envelope.get("source") or {}
        name = str(source.get("name", "?"))
        path = str(source.get("path", "?"))
        tally = self.sources.setdefault(name, SourceTally())
        tally.last_path = path
        if topic.endswith("/quarantine"):
            tally.quarantined += len(records)
            self.quarantined += len(records)
            for entry in records[-RECENT_QUARANTINE:]:
                if not isinstance(entry, dict):
                    continue
                self.recent_quarantine.append(
                    QuarantinedRow(name, path, int(entry.get("line", 0)), str(entry.get("reason")))
                )
            return
        tally.records += len(records)
        self.records += len(records)
        if envelope.get("kind") == "tower" and records:
            self.latest_tower = SampleRecord(
                str(envelope.get("dataset")), path, records[-1], dict(envelope.get("units") or {})
            )

    async def wait_for_messages(self, count: int, within: float) -> bool:
        """Wait for at least ``count`` messages; False if ``within`` seconds pass first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.messages < count:
            self.changed.clear()
            if not await wait_event(self.changed, max(0.0, deadline - loop.time())):
                return self.messages >= count
        return True


class Subscriber:
    """``async with Subscriber(host, port, tally):`` counts every message into ``tally``."""

    def __init__(self, host: str, port: int, tally: Tally, *, client_id: str) -> None:
        self.host = host
        self.port = port
        self.tally = tally
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribed: asyncio.Future[bool] | None = None
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,  # amqtt speaks MQTT 3.1.1 only
            clean_session=True,
        )
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe

    # ---------------------------------------------------------------- paho's thread

    def _post(self, callback: Any, *args: Any) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the event loop is closed: nobody listens
                loop.call_soon_threadsafe(callback, *args)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            envelope = json.loads(message.payload)
        except ValueError:
            envelope = None
        self._post(self.tally.add, message.topic, envelope)

    def _on_subscribe(
        self, _c: mqtt.Client, _u: Any, _mid: int, reasons: list[ReasonCode], _p: Any
    ) -> None:
        granted = bool(reasons) and not any(r.is_failure for r in reasons)
        self._post(self._suback, granted)

    def _suback(self, granted: bool) -> None:
        if self._subscribed is not None and not self._subscribed.done():
            self._subscribed.set_result(granted)

    # ---------------------------------------------------------------- event loop

    async def __aenter__(self) -> Subscriber:
        self._loop = loop = asyncio.get_running_loop()
        self._subscribed = loop.create_future()
        try:
            await asyncio.to_thread(self._client.connect, self.host, self.port, 30)
        except OSError as e:
            raise SubscriberError(f"cannot connect to {self.host}:{self.port}: {e}") from e
        self._client.loop_start()
        try:
            await self._subscribe()
        except BaseException:
            await self._close()
            raise
        return self

    async def _subscribe(self) -> None:
        result, _mid = self._client.subscribe(TOPIC_FILTER, qos=1)
        if result != mqtt.MQTT_ERR_SUCCESS:
            raise SubscriberError(f"subscribe failed: {mqtt.error_string(result)}")
        assert self._subscribed is not None
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
                granted = await self._subscribed
        except TimeoutError:
            raise SubscriberError("no answer to SUBSCRIBE from the broker") from None
        if not granted:
            raise SubscriberError(f"the broker refused the subscription to {TOPIC_FILTER}")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        self._loop = None
