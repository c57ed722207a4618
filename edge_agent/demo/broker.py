"""The demo's embedded MQTT broker: amqtt on a free loopback port, anonymous, MQTT 3.1.1 only."""

from __future__ import annotations

import socket
from types import TracebackType
from typing import Any

from edge_agent.errors import EdgeAgentError
from edge_agent.extras import optional_dependency

with optional_dependency("demo"):
    from amqtt.broker import Broker
    from amqtt.errors import AMQTTError

HOST = "127.0.0.1"
_LISTENER = "default"


class BrokerStartError(EdgeAgentError):
    """The embedded broker could not start."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the embedded MQTT broker could not start: {reason}")
        self.reason = reason


def broker_config() -> dict[str, Any]:
    """amqtt's configuration: one TCP listener on loopback, any free port, anonymous clients.

    Naming the plugins replaces amqtt's default set, which would also log every packet and
    publish ``$SYS`` topics.
    """
    return {
        # Port 0: the system picks a free port at bind time, so no other process can take it
        # between a probe and the bind. Always a loopback address: amqtt's default is 0.0.0.0.
        "listeners": {_LISTENER: {"type": "tcp", "bind": f"{HOST}:0"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


class EmbeddedBroker:
    """``async with EmbeddedBroker() as broker:`` runs a broker on ``broker.host:broker.port``."""

    def __init__(self) -> None:
        self.host = HOST
        self.port = 0
        self._broker: Broker | None = None

    @property
    def url(self) -> str:
        """Where clients connect."""
        return f"mqtt://{self.host}:{self.port}"

    async def __aenter__(self) -> EmbeddedBroker:
        broker = Broker(broker_config())
        try:
            await broker.start()
        except (AMQTTError, OSError) as e:
            raise BrokerStartError(str(e)) from e
        try:
            self.host, self.port = _bound_address(broker)
        except BrokerStartError:
            await broker.shutdown()
            raise
        self._broker = broker
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()


def _bound_address(broker: Broker) -> tuple[str, int]:
    """Where the listener is bound, as the socket says (amqtt keeps servers by listener name)."""
    server = getattr(broker, "_servers", {}).get(_LISTENER)
    sockets = getattr(getattr(server, "instance", None), "sockets", None) or ()
    for sock in sockets:
        if sock.family == socket.AF_INET:
            host, port = sock.getsockname()
            return str(host), int(port)
    raise BrokerStartError("cannot tell where the listener is bound (has amqtt changed?)")
