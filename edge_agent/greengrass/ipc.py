"""A small typed asyncio wrapper around awsiot's ``GreengrassCoreIPCClientV2``.

Every request goes through the client's ``*_async`` method, which returns a
``concurrent.futures.Future`` completed on the awscrt event-loop thread; ``asyncio.wrap_future``
brings the outcome back to our loop with ``call_soon_threadsafe``. So no call blocks the loop and
no thread is parked per request. Stream and connection events take the same road (events.py).
Library errors become the agent's own at this boundary (errors.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from edge_agent.errors import ConfigError, ConfigProblem, EdgeAgentError, NotConnectedError
from edge_agent.extras import optional_dependency
from edge_agent.greengrass.errors import (
    CONNECTION_ERRORS,
    MQTT_PROXY_POLICY,
    PROTOCOL_ERRORS,
    PUBSUB_POLICY,
    IpcRequestError,
    error_text,
    publish_error,
    request_error,
)
from edge_agent.greengrass.events import (
    ConfigurationProposal,
    ConfigurationUpdate,
    ConnectionEvents,
    Subscription,
    deliver,
    settle,
)

with optional_dependency("greengrass"):
    from awscrt.io import ClientBootstrap, SocketDomain, SocketOptions
    from awsiot.eventstreamrpc import AccessDeniedError, Connection, MessageAmendment
    from awsiot.greengrasscoreipc import model
    from awsiot.greengrasscoreipc.client import GreengrassCoreIPCClient
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

ENV_SOCKET_PATH = "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"
ENV_AUTH_TOKEN = "SVCUID"
ENV_THING_NAME = "AWS_IOT_THING_NAME"

LifecycleState = Literal["RUNNING", "ERRORED"]
_Start = Callable[[Any], "concurrent.futures.Future[Any]"]


class GreengrassIpc:
    """One IPC connection to the Greengrass nucleus, usable from asyncio.

    ``connect()`` opens it; after it drops (``wait_closed()`` returns) call ``connect()`` again.
    Requests made while it is down raise NotConnectedError. Whoever calls ``connect()`` owns the
    connection; others (a publisher sharing it) follow it with ``wait_connected()`` and
    ``wait_closed()``.
    """

    def __init__(
        self,
        *,
        socket_path: str,
        auth_token: str,
        connect_timeout_seconds: float = 10.0,
        request_timeout_seconds: float = 60.0,
    ) -> None:
        self.socket_path = socket_path
        self._auth_token = auth_token
        self.connect_timeout_seconds = connect_timeout_seconds
        self.request_timeout_seconds = request_timeout_seconds
        self._client: Any = None
        self._closed: asyncio.Future[BaseException | None] | None = None
        self._up = asyncio.Event()  # set while a connection is open

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        connect_timeout_seconds: float = 10.0,
        request_timeout_seconds: float = 60.0,
    ) -> GreengrassIpc:
        """The connection the nucleus set up for this component (its socket and SVCUID token)."""
        env = os.environ if environ is None else environ
        missing = [name for name in (ENV_SOCKET_PATH, ENV_AUTH_TOKEN) if not env.get(name)]
        if missing:
            raise ConfigError(
                [
                    ConfigProblem(
                        "publish.target",
                        "greengrass needs the environment the nucleus gives its components; "
                        f"missing: {', '.join(missing)}",
                        "run edge-agent as the Greengrass component (the recipe's Lifecycle Run), "
                        "or use publish.target: mqtt",
                    )
                ]
            )
        return cls(
            socket_path=env[ENV_SOCKET_PATH],
            auth_token=env[ENV_AUTH_TOKEN],
            connect_timeout_seconds=connect_timeout_seconds,
            request_timeout_seconds=request_timeout_seconds,
        )

    # ------------------------------------------------------------------ connection

    @property
    def is_connected(self) -> bool:
        """Whether a connection is open."""
        return self._client is not None and self._closed is not None and not self._closed.done()

    async def connect(self) -> None:
        """Open the connection (handshake with the SVCUID token); raise NotConnectedError."""
        if self.is_connected:
            return
        await self.close()
        loop = asyncio.get_running_loop()
        closed: asyncio.Future[BaseException | None] = loop.create_future()
        options = SocketOptions()
        options.domain = SocketDomain.Local
        options.connect_timeout_ms = max(1, int(self.connect_timeout_seconds * 1000))
        connection = Connection(
            host_name=self.socket_path,
            port=0,  # unused for a Unix socket
            bootstrap=ClientBootstrap.get_or_create_static_default(),
            socket_options=options,
            connect_message_amender=MessageAmendment.create_static_authtoken_amender(
                self._auth_token
            ),
        )
        where = f"the Greengrass nucleus at {self.socket_path}"
        try:
            # awscrt raises RuntimeError at once for a path it cannot use (e.g. missing).
            started = connection.connect(ConnectionEvents(loop, closed))
        except RuntimeError as e:
            raise NotConnectedError(f"cannot connect to {where}: {e}") from e
        try:
            async with asyncio.timeout(self.connect_timeout_seconds):
                await asyncio.wrap_future(started)
        except TimeoutError:
            connection.close()
            raise NotConnectedError(
                f"no answer from {where} within {self.connect_timeout_seconds} s"
            ) from None
        except AccessDeniedError as e:
            raise NotConnectedError(
                f"{where} refused the SVCUID token "
                "(edge-agent must be started by Greengrass, from the recipe's Lifecycle)"
            ) from e
        except CONNECTION_ERRORS as e:
            connection.close()
            raise NotConnectedError(f"cannot connect to {where}: {error_text(e)}") from e
        except asyncio.CancelledError:
            connection.close()
            raise
        # executor=None: our stream callbacks only call call_soon_threadsafe, so they can run
        # on the awscrt thread and keep their order.
        self._client = GreengrassCoreIPCClientV2(
            client=GreengrassCoreIPCClient(connection), executor=None
        )
        self._closed = closed
        closed.add_done_callback(self._on_closed)
        self._up.set()

    def _on_closed(self, closed: asyncio.Future[BaseException | None]) -> None:
        if closed is self._closed:  # not an older connection ending late
            self._up.clear()

    async def wait_connected(self) -> None:
        """Return once a connection is open (at once when one is)."""
        await self._up.wait()

    async def wait_closed(self) -> BaseException | None:
        """Return when the connection ends, with the reason (None when closed by us)."""
        if self._closed is None:
            return None
        return await asyncio.shield(self._closed)

    async def close(self) -> None:
        """Close the connection (no effect when none is open)."""
        client, self._client = self._client, None
        self._up.clear()
        if client is not None:
            await settle(client.close(), "closing the Greengrass IPC connection")

    # ------------------------------------------------------------------ requests

    async def _call(
        self,
        operation: str,
        start: _Start,
        map_error: Callable[[BaseException], EdgeAgentError],
        timeout_seconds: float | None = None,
        *,
        drop_on_timeout: bool = False,
    ) -> Any:
        """Start a request on the client and await its response, mapping its errors.

        ``drop_on_timeout``: no answer in time means the connection is no good; it is closed
        (whoever owns it connects again: ``wait_closed()`` returns) and NotConnectedError
        raised, as for a connection that dropped under the request.
        """
        if not self.is_connected:
            raise NotConnectedError(f"{operation}: not connected to the Greengrass nucleus")
        limit = self.request_timeout_seconds if timeout_seconds is None else timeout_seconds
        client = self._client
        try:
            async with asyncio.timeout(limit):
                return await asyncio.wrap_future(start(client))
        except TimeoutError:
            reason = f"no answer from the nucleus within {limit:g} s"
            if not drop_on_timeout:
                raise map_error(TimeoutError(reason)) from None
            if self._client is client:  # not a newer connection, made meanwhile
                await self.close()
            raise NotConnectedError(
                f"{operation}: {reason}; connection closed to make a new one"
            ) from None
        except model.GreengrassCoreIPCError as e:
            raise map_error(e) from e
        except PROTOCOL_ERRORS as e:
            raise map_error(e) from e
        except CONNECTION_ERRORS as e:
            raise NotConnectedError(
                f"{operation}: connection to the Greengrass nucleus lost ({error_text(e)})"
            ) from e

    async def publish_to_iot_core(
        self, topic: str, payload: bytes, *, timeout_seconds: float | None = None
    ) -> None:
        """PublishToIoTCore with QoS 1; returns once the nucleus accepted it into its spooler.

        No answer within ``timeout_seconds``: the connection is closed and NotConnectedError
        raised (the publish may have been spooled: sent again, it keeps its batchId)."""
        await self._call(
            "PublishToIoTCore",
            lambda client: client.publish_to_iot_core_async(
                topic_name=topic, qos=model.QOS.AT_LEAST_ONCE, payload=payload
            ),
            lambda e: publish_error("PublishToIoTCore", MQTT_PROXY_POLICY, topic, e),
            timeout_seconds,
            drop_on_timeout=True,
        )

    async def publish_to_topic(
        self, topic: str, payload: bytes, *, timeout_seconds: float | None = None
    ) -> None:
        """PublishToTopic on the nucleus' local pub/sub, as a binary message (a timeout is
        handled as for ``publish_to_iot_core``)."""
        message = model.PublishMessage(binary_message=model.BinaryMessage(message=payload))
        await self._call(
            "PublishToTopic",
            lambda client: client.publish_to_topic_async(topic=topic, publish_message=message),
            lambda e: publish_error("PublishToTopic", PUBSUB_POLICY, topic, e),
            timeout_seconds,
            drop_on_timeout=True,
        )

    async def get_configuration(
        self, key_path: Sequence[str] = (), *, component_name: str | None = None
    ) -> dict[str, Any]:
        """The configuration at ``key_path`` (a leaf comes back as ``{leafName: value}``)."""
        response = await self._call(
            "GetConfiguration",
            lambda client: client.get_configuration_async(
                component_name=component_name, key_path=list(key_path)
            ),
            lambda e: request_error("GetConfiguration", e),
        )
        value = response.value
        if not isinstance(value, dict):
            reason = f"expected a mapping, got {type(value).__name__}"
            raise IpcRequestError("GetConfiguration", reason, transient=False)
        return value

    async def subscribe_to_configuration_update(
        self,
        on_update: Callable[[ConfigurationUpdate], object],
        *,
        key_path: Sequence[str] = (),
    ) -> Subscription:
        """Call ``on_update`` (on the loop) when the configuration under ``key_path`` changes."""
        loop = asyncio.get_running_loop()

        def on_event(event: Any) -> None:
            update = event.configuration_update_event
            if update is not None:
                key = tuple(update.key_path or ())
                deliver(loop, on_update, ConfigurationUpdate(str(update.component_name), key))

        subscription = Subscription("SubscribeToConfigurationUpdate", loop)
        return await self._subscribe(
            subscription,
            lambda client: client.subscribe_to_configuration_update_async(
                key_path=list(key_path), **subscription.handlers(on_event)
            ),
        )

    async def subscribe_to_validate_configuration_updates(
        self, on_proposal: Callable[[ConfigurationProposal], object]
    ) -> Subscription:
        """Call ``on_proposal`` (on the loop) for every configuration a deployment proposes."""
        loop = asyncio.get_running_loop()

        def on_event(event: Any) -> None:
            proposal = event.validate_configuration_update_event
            if proposal is not None:
                configuration = dict(proposal.configuration or {})
                deployment = str(proposal.deployment_id or "")
                deliver(loop, on_proposal, ConfigurationProposal(deployment, configuration))

        subscription = Subscription("SubscribeToValidateConfigurationUpdates", loop)
        return await self._subscribe(
            subscription,
            lambda client: client.subscribe_to_validate_configuration_updates_async(
                **subscription.handlers(on_event)
            ),
        )

    async def _subscribe(
        self, subscription: Subscription, open_stream: Callable[[Any], tuple[Any, Any]]
    ) -> Subscription:
        def start(client: Any) -> Any:
            response, stream = open_stream(client)
            subscription.attach(stream)
            return response

        operation = subscription.operation
        await self._call(operation, start, lambda e: request_error(operation, e))
        return subscription

    async def send_configuration_validity_report(
        self, deployment_id: str, *, accepted: bool, message: str = ""
    ) -> None:
        """Answer a ConfigurationProposal: ACCEPTED, or REJECTED with a message naming why."""
        status = model.ConfigurationValidityStatus
        report = model.ConfigurationValidityReport(
            status=status.ACCEPTED if accepted else status.REJECTED,
            deployment_id=deployment_id,
            message=message or None,
        )
        await self._call(
            "SendConfigurationValidityReport",
            lambda client: client.send_configuration_validity_report_async(
                configuration_validity_report=report
            ),
            lambda e: request_error("SendConfigurationValidityReport", e),
        )

    async def update_state(self, state: LifecycleState) -> None:
        """Report the component's state to the nucleus (RUNNING or ERRORED)."""
        await self._call(
            "UpdateState",
            lambda client: client.update_state_async(state=state),
            lambda e: request_error("UpdateState", e),
        )

    async def get_secret_value(
        self, secret_id: str, *, version_id: str | None = None, version_stage: str | None = None
    ) -> str | bytes:
        """A secret from the secret manager component: its string, or its bytes."""
        response = await self._call(
            "GetSecretValue",
            lambda client: client.get_secret_value_async(
                secret_id=secret_id, version_id=version_id, version_stage=version_stage
            ),
            lambda e: request_error("GetSecretValue", e, resource=secret_id),
        )
        secret = response.secret_value
        if secret is not None and secret.secret_string is not None:
            return str(secret.secret_string)
        if secret is not None and secret.secret_binary is not None:
            return bytes(secret.secret_binary)
        raise IpcRequestError(
            "GetSecretValue", f"secret {secret_id!r} has no value", transient=False
        )
