"""The boundary between the outbox and the cloud: MQTT (paho), Greengrass IPC, or a fake."""

from __future__ import annotations

from typing import Final, Protocol

LOCAL_TOPIC_PREFIX: Final = "local:"
"""An outbox topic starting with this goes to the Greengrass local pub/sub, not to the cloud
(alerts for control components on the gateway); only queued when the target is greengrass."""


class Publisher(Protocol):
    """Delivers one payload to one topic with QoS 1.

    ``publish`` returns only once the payload is acknowledged (PUBACK with a success reason
    code, or the nucleus accepted it into its spooler) and raises a PublishError otherwise:
    NotConnectedError / transient errors keep the batch in the outbox for a retry,
    PublishRejectedError marks it as refused (it stays in the outbox and is reported).

    The publisher is the one place that limits how many publishes await their acknowledgement:
    at most ``max_inflight`` at once (an MQTT 5 connection: fewer if the broker's Receive
    Maximum says so); a ``publish`` beyond that waits for a slot before it is sent. Callers
    (the dispatcher, the heartbeat) run publishes concurrently and need no limit of their own.
    An acknowledgement that does not come in time counts as a lost connection: the publish
    raises NotConnectedError and the connection is replaced, so no slot is held forever.
    """

    @property
    def name(self) -> str:
        """What the publisher talks to, for logs and status."""
        ...

    @property
    def connected(self) -> bool:
        """Whether a publish may succeed now (for status and health)."""
        ...

    @property
    def max_inflight(self) -> int:
        """The most publishes awaiting acknowledgement at once (the configured ceiling)."""
        ...

    async def run(self) -> None:
        """Keep the connection up (reconnecting with backoff) until cancelled."""
        ...

    async def wait_ready(self) -> None:
        """Return when a publish may succeed (connected)."""
        ...

    async def publish(self, topic: str, payload: bytes) -> None:
        """Publish with QoS 1 and wait for the acknowledgement."""
        ...

    async def aclose(self) -> None:
        """Disconnect cleanly."""
        ...
