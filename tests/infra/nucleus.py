"""A Greengrass nucleus test double speaking the real eventstream RPC protocol over a Unix socket.

The real ``awsiot.greengrasscoreipc`` client (awscrt underneath) connects to it exactly as it
connects to the nucleus: connect + connect-ack with the SVCUID token, one stream per operation
(``operation`` / ``service-model-type`` headers, JSON bodies), TERMINATE_STREAM on final replies,
modeled errors as APPLICATION_ERROR, ping answered with a ping response (the protocol side is
eventstream.RpcServerConnection). The operations behave like the Java nucleus
(``MqttProxyIPCAgent``, ``ConfigStoreIPCEventStreamAgent``, ``AuthorizationHandler``).

The double runs its own asyncio loop in a thread, so tests may drive it from sync code or from
their own loop, and a blocking client call never deadlocks against it.

Fixtures: ``nucleus`` (a started NucleusDouble) and ``nucleus_env`` (the same, with its
environment variables set in ``os.environ``).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import secrets as token_source
import shutil
import tempfile
import threading
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.infra.eventstream import Handler, Message, Reply, RpcError, RpcServerConnection

COMPONENT_NAME = "io.edgeagent.EdgeAgent"
THING_NAME = "gateway-01"
REGION = "eu-central-1"
RPC_VERSION = "0.1.0"

MQTT_PROXY = "aws.greengrass.ipc.mqttproxy"
PUBSUB = "aws.greengrass.ipc.pubsub"
SECRET_MANAGER = "aws.greengrass.SecretManager"

_NS = "aws.greengrass#"
_T = TypeVar("_T")


@dataclass(frozen=True)
class IotCorePublish:
    """One PublishToIoTCore the nucleus accepted into its spooler."""

    topic: str
    qos: str
    payload: bytes
    retain: bool | None = None


@dataclass(frozen=True)
class LocalPublish:
    """One PublishToTopic on local pub/sub: ``payload`` (binary) or ``json`` is set."""

    topic: str
    payload: bytes | None
    json: Any = None


@dataclass(frozen=True)
class ValidityReport:
    """One SendConfigurationValidityReport as the component sent it."""

    status: str
    deployment_id: str | None
    message: str | None


def _error(name: str, message: str, **extra: Any) -> RpcError:
    """A modeled Greengrass error, as the nucleus serializes it."""
    return RpcError(_NS + name, {"message": message, **extra})


@dataclass(frozen=True)
class _Subscription:
    connection: RpcServerConnection
    stream_id: int
    component: str
    key_path: tuple[str, ...]


def mqtt_topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT 3.1.1 filter matching: ``+`` one level, ``#`` this level and everything below."""
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for i, level in enumerate(filter_levels):
        if level == "#":
            return i == len(filter_levels) - 1
        if i >= len(topic_levels):
            return False
        if level not in ("+", topic_levels[i]):
            return False
    return len(filter_levels) == len(topic_levels)


def _resource_matches(resource: str, wanted: str, *, mqtt: bool) -> bool:
    if resource == "*":
        return True
    return mqtt_topic_matches(resource, wanted) if mqtt else resource == wanted


def _changed_paths(old: Any, new: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Key paths of the nodes that differ, as the nucleus reports them (deepest changed node)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if key not in old or key not in new:
                yield (*path, key)
            else:
                yield from _changed_paths(old[key], new[key], (*path, key))
    elif old != new:
        yield path


def _is_within(path: tuple[str, ...], root: tuple[str, ...]) -> bool:
    return path[: len(root)] == root or root[: len(path)] == path


class NucleusDouble:
    """The nucleus side of Greengrass IPC, for tests.

    Attributes a test reads or sets (thread-safe): ``published``, ``local_published``,
    ``states``, ``validity_reports``, ``configuration`` (settable), ``secrets`` (a dict of
    secret id -> str | bytes), ``access_control`` (None = allow everything, else a recipe's
    ``accessControl`` mapping, checked like the nucleus does, ``{iot:thingName}`` interpolated).
    """

    def __init__(
        self,
        *,
        component_name: str = COMPONENT_NAME,
        thing_name: str = THING_NAME,
        region: str = REGION,
        auth_token: str | None = None,
    ) -> None:
        self.component_name = component_name
        self.thing_name = thing_name
        self.region = region
        self.auth_token = auth_token or token_source.token_hex(16)
        self.secrets: dict[str, str | bytes] = {}
        self.access_control: dict[str, Any] | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="gg-nucleus-"))  # short: sun_path is 108 bytes
        self.socket_path = str(self._dir / "ipc.socket")
        self._lock = threading.Lock()
        self._configuration: dict[str, Any] = {}
        self._published: list[IotCorePublish] = []
        self._local_published: list[LocalPublish] = []
        self._states: list[str] = []
        self._reports: list[ValidityReport] = []
        self._counters = dict.fromkeys(
            ("connects", "pings", "publish_requests", "publish_inflight_max"), 0
        )
        self._inflight = 0
        self._failures: deque[str] = deque()
        self._config_subscribers: list[_Subscription] = []
        self._validators: list[_Subscription] = []
        self._pending_validation: tuple[str, asyncio.Future[dict[str, Any]]] | None = None
        self._connections: set[RpcServerConnection] = set()
        self._serving: set[asyncio.Task[Any]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="nucleus-double", daemon=True
        )
        self._server: asyncio.Server | None = None
        self._changed: asyncio.Event | None = None
        self._publish_gate: asyncio.Event | None = None
        self._handlers: dict[str, Handler] = {
            _NS + "PublishToIoTCore": self._publish_to_iot_core,
            _NS + "PublishToTopic": self._publish_to_topic,
            _NS + "GetConfiguration": self._get_configuration,
            _NS + "SubscribeToConfigurationUpdate": self._subscribe_to_configuration_update,
            _NS + "SubscribeToValidateConfigurationUpdates": self._subscribe_to_validate,
            _NS + "SendConfigurationValidityReport": self._send_validity_report,
            _NS + "UpdateState": self._update_state,
            _NS + "GetSecretValue": self._get_secret_value,
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> NucleusDouble:
        """Listen on the socket; return self."""
        self._thread.start()
        self._call(self._start())
        return self

    async def _start(self) -> None:
        self._changed = asyncio.Event()
        self._publish_gate = asyncio.Event()
        self._publish_gate.set()
        self._server = await asyncio.start_unix_server(self._accept, path=self.socket_path)

    def stop(self) -> None:
        """Close the socket and every connection, stop the thread, remove the temp dir."""
        if self._thread.is_alive():
            self._call(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_closed() and not self._thread.is_alive():
            self._loop.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        # Aborted connections end their serve() on their own (cancelling a stream server's
        # callback task makes asyncio log an error); everything else is cancelled.
        for connection in list(self._connections):
            connection.abort()
        serving = set(self._serving)
        me = asyncio.current_task()
        others = [t for t in asyncio.all_tasks() if t not in serving and t is not me]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        if serving:
            await asyncio.wait(serving, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()

    def __enter__(self) -> NucleusDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, _T], timeout: float = 10.0) -> _T:
        """Run a coroutine on the double's loop from any other thread and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _acall(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run a coroutine on the double's loop from another event loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = RpcServerConnection(self, reader, writer)
        self._connections.add(connection)
        task = asyncio.current_task()
        assert task is not None
        self._serving.add(task)
        try:
            await connection.serve()
        finally:
            self._serving.discard(task)

    # ------------------------------------------------------------------ RpcService

    def authenticate(self, connect: Message) -> bool:
        """Accept a CONNECT with protocol version 0.1.0 and this double's SVCUID token."""
        if connect.get(":version") != RPC_VERSION:
            return False
        try:
            token = json.loads(connect.payload or b"{}").get("authToken")
        except (json.JSONDecodeError, AttributeError):
            return False
        return bool(token == self.auth_token)

    def handler(self, operation: str) -> Handler | None:
        """The handler of a served operation."""
        return self._handlers.get(operation)

    def bad_request(self, reason: str) -> RpcError:
        """InvalidArgumentsError, as the nucleus answers a malformed request."""
        return _error("InvalidArgumentsError", reason)

    def on_event(self, name: str) -> None:
        """Count connects and pings."""
        self._record(lambda: self._count({"connect": "connects", "ping": "pings"}[name]))

    def stream_closed(self, connection: RpcServerConnection, stream_id: int) -> None:
        """The component closed a subscription stream."""

        def other(s: _Subscription) -> bool:
            return not (s.connection is connection and s.stream_id == stream_id)

        self._config_subscribers = [s for s in self._config_subscribers if other(s)]
        self._validators = [s for s in self._validators if other(s)]
        self._pulse()

    def connection_closed(self, connection: RpcServerConnection) -> None:
        """Forget a connection and its subscriptions."""
        self._connections.discard(connection)
        self._config_subscribers = [
            s for s in self._config_subscribers if s.connection is not connection
        ]
        self._validators = [s for s in self._validators if s.connection is not connection]

    # ------------------------------------------------------------------ recorded state

    @property
    def env(self) -> dict[str, str]:
        """The environment variables the nucleus gives a component's lifecycle scripts."""
        return {
            "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": self.socket_path,
            "SVCUID": self.auth_token,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": self.auth_token,
            "AWS_IOT_THING_NAME": self.thing_name,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    @property
    def published(self) -> list[IotCorePublish]:
        """Every PublishToIoTCore accepted (answered with success), in order."""
        with self._lock:
            return list(self._published)

    @property
    def local_published(self) -> list[LocalPublish]:
        """Every PublishToTopic accepted, in order."""
        with self._lock:
            return list(self._local_published)

    @property
    def states(self) -> list[str]:
        """Every UpdateState, in order."""
        with self._lock:
            return list(self._states)

    @property
    def validity_reports(self) -> list[ValidityReport]:
        """Every SendConfigurationValidityReport, in order."""
        with self._lock:
            return list(self._reports)

    @property
    def connects(self) -> int:
        """Accepted CONNECTs so far (reconnects count again)."""
        return self._counters["connects"]

    @property
    def pings(self) -> int:
        """PINGs answered so far."""
        return self._counters["pings"]

    @property
    def publish_requests(self) -> int:
        """PublishToIoTCore requests received, accepted or not."""
        return self._counters["publish_requests"]

    @property
    def max_inflight_publishes(self) -> int:
        """The most PublishToIoTCore requests received and not yet answered at one time."""
        return self._counters["publish_inflight_max"]

    @property
    def configuration(self) -> dict[str, Any]:
        """The component's configuration (a copy); assign to replace it without events."""
        with self._lock:
            return copy.deepcopy(self._configuration)

    @configuration.setter
    def configuration(self, value: dict[str, Any]) -> None:
        with self._lock:
            self._configuration = copy.deepcopy(value)

    def _record(self, change: Callable[[], None]) -> None:
        with self._lock:
            change()
        self._pulse()

    def _count(self, name: str) -> None:
        self._counters[name] += 1

    def _pulse(self) -> None:
        # Wake every waiter; each re-checks its own predicate. Runs on the double's loop.
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    # ------------------------------------------------------------------ scripting

    def fail_next_publishes(self, n: int, error: str = "ServiceError") -> None:
        """Answer the next ``n`` PublishToIoTCore with ``error`` (ServiceError, UnauthorizedError,
        InvalidArgumentsError); nothing is recorded for them."""
        if error not in ("ServiceError", "UnauthorizedError", "InvalidArgumentsError"):
            raise ValueError(f"unsupported error {error!r}")
        with self._lock:
            self._failures.extend([error] * n)

    def hold_publishes(self) -> None:
        """Receive PublishToIoTCore requests but answer none until release_publishes()."""
        self._loop.call_soon_threadsafe(self._gate().clear)

    def release_publishes(self) -> None:
        """Answer the held PublishToIoTCore requests and every later one."""
        self._loop.call_soon_threadsafe(self._gate().set)

    def _gate(self) -> asyncio.Event:
        if self._publish_gate is None:
            raise RuntimeError("the nucleus double is not started")
        return self._publish_gate

    def drop_connections(self) -> None:
        """Close every client connection at once, as a nucleus restart does."""

        async def drop() -> None:
            for connection in list(self._connections):
                connection.abort()

        self._call(drop())

    def push_configuration(self, configuration: dict[str, Any]) -> list[tuple[str, ...]]:
        """Replace the configuration and send a ConfigurationUpdateEvents per changed key path to
        every subscriber whose key path covers it; return the changed key paths."""
        return self._call(self._push(copy.deepcopy(configuration)))

    async def _push(self, configuration: dict[str, Any]) -> list[tuple[str, ...]]:
        with self._lock:
            changed = list(_changed_paths(self._configuration, configuration))
            self._configuration = configuration
        for subscriber in list(self._config_subscribers):
            if subscriber.component != self.component_name:
                continue
            for path in changed:
                if _is_within(path, subscriber.key_path):
                    event = {"componentName": self.component_name, "keyPath": list(path)}
                    subscriber.connection.send_reply(
                        subscriber.stream_id,
                        _NS + "ConfigurationUpdateEvents",
                        {"configurationUpdateEvent": event},
                        final=False,
                    )
        return changed

    async def propose_configuration(
        self,
        configuration: dict[str, Any],
        timeout: float = 5.0,
    ) -> tuple[str, str | None]:
        """Send a ValidateConfigurationUpdateEvents to the subscribed component and return the
        (status, message) of its SendConfigurationValidityReport."""
        return await self._acall(self._propose(copy.deepcopy(configuration), timeout))

    def propose_configuration_sync(
        self, configuration: dict[str, Any], timeout: float = 5.0
    ) -> tuple[str, str | None]:
        """propose_configuration() for sync code (not from the loop the component runs on)."""
        return self._call(self._propose(copy.deepcopy(configuration), timeout), timeout + 5)

    async def _propose(self, configuration: dict[str, Any], limit: float) -> tuple[str, str | None]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        try:
            await self._wait(lambda: bool(self._validators), limit)
        except TimeoutError:
            raise TimeoutError(
                f"no component subscribed to validate configuration updates within {limit} s"
            ) from None
        validator = self._validators[-1]
        deployment_id = str(uuid.uuid4())
        answer: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending_validation = (deployment_id, answer)
        event = {"configuration": configuration, "deploymentId": deployment_id}
        validator.connection.send_reply(
            validator.stream_id,
            _NS + "ValidateConfigurationUpdateEvents",
            {"validateConfigurationUpdateEvent": event},
            final=False,
        )
        try:
            async with asyncio.timeout(max(0.0, deadline - loop.time())):
                report = await answer
        except TimeoutError:
            raise TimeoutError(
                f"the component sent no configuration validity report within {limit} s"
            ) from None
        finally:
            self._pending_validation = None
        return str(report.get("status")), report.get("message")

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,
    ) -> None:
        """Return once ``predicate()`` is true (checked after every recorded event)."""
        await self._acall(self._wait(predicate, timeout))

    def wait_until_sync(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """wait_until() for sync code."""
        self._call(self._wait(predicate, timeout), timeout + 5)

    async def wait_for_published(
        self,
        n: int,
        timeout: float = 5.0,
    ) -> list[IotCorePublish]:
        """Wait until at least ``n`` IoT Core publishes were accepted; return them all."""
        await self.wait_until(lambda: len(self._published) >= n, timeout)
        return self.published

    def wait_for_published_sync(self, n: int, timeout: float = 5.0) -> list[IotCorePublish]:
        """wait_for_published() for sync code."""
        self.wait_until_sync(lambda: len(self._published) >= n, timeout)
        return self.published

    async def _wait(self, predicate: Callable[[], bool], limit: float) -> None:
        async with asyncio.timeout(limit):
            while not predicate():
                assert self._changed is not None
                await self._changed.wait()

    # ------------------------------------------------------------------ operations

    def _authorize(self, service: str, operation: str, resource: str) -> None:
        if self.access_control is None:
            return
        policies = self.access_control.get(service) or {}
        for policy in policies.values():
            operations = policy.get("operations") or []
            resources = [
                str(r).replace("{iot:thingName}", self.thing_name)
                for r in policy.get("resources") or []
            ]
            if (_NS + operation in operations or "*" in operations) and any(
                _resource_matches(r, resource, mqtt=service != SECRET_MANAGER) for r in resources
            ):
                return
        raise _error(
            "UnauthorizedError",
            f"Principal {self.component_name} is not authorized to perform "
            f"{service}:{_NS}{operation} on resource {resource}",
        )

    async def _publish_to_iot_core(
        self, connection: RpcServerConnection, stream_id: int, request: dict[str, Any]
    ) -> Reply:
        self._record(lambda: self._count("publish_requests"))
        topic = request.get("topicName")
        qos = request.get("qos")
        if not isinstance(topic, str) or not topic:
            raise _error("InvalidArgumentsError", "topicName is required")
        if qos not in ("0", "1"):
            raise _error("InvalidArgumentsError", f"qos must be '0' or '1', not {qos!r}")
        try:
            payload = base64.b64decode(request.get("payload") or "", validate=True)
        except ValueError as e:
            raise _error("InvalidArgumentsError", f"payload is not base64: {e}") from None
        self._authorize(MQTT_PROXY, "PublishToIoTCore", topic)
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure == "ServiceError":
            raise _error("ServiceError", "Failed to publish message: spooler queue is full")
        if failure == "UnauthorizedError":
            raise _error(
                "UnauthorizedError",
                f"Principal {self.component_name} is not authorized to perform "
                f"{MQTT_PROXY}:{_NS}PublishToIoTCore on resource {topic}",
            )
        if failure is not None:
            raise _error(failure, "scripted failure")

        def enter() -> None:
            self._inflight += 1
            self._counters["publish_inflight_max"] = max(
                self._counters["publish_inflight_max"], self._inflight
            )

        def leave() -> None:
            self._inflight -= 1
            self._published.append(IotCorePublish(topic, qos, payload, request.get("retain")))

        self._record(enter)
        try:
            await self._gate().wait()
        finally:
            self._record(leave)
        return Reply({})

    async def _publish_to_topic(
        self, connection: RpcServerConnection, stream_id: int, request: dict[str, Any]
    ) -> Reply:
        topic = request.get("topic")
        message = request.get("publishMessage") or {}
        if not isinstance(topic, str) or not topic:
            raise _error("InvalidArgumentsError", "topic is required")
        self._authorize(PUBSUB, "PublishToTopic", topic)
        if "binaryMessage" in message:
            raw = base64.b64decode(message["binaryMessage"].get("message") or "")
            record = LocalPublish(topic, raw)
        elif "jsonMessage" in message:
            record = LocalPublish(topic, None, message["jsonMessage"].get("message"))
        else:
            raise _error("InvalidArgumentsError", "publishMessage needs a binary or json message")
        self._record(lambda: self._local_published.append(record))
        return Reply({})

    def _config_node(self, component: str | None, key_path: list[str] | None) -> tuple[str, Any]:
        name = component or self.component_name
        if name != self.component_name:
            raise _error("ResourceNotFoundError", "Key not found")
        with self._lock:
            node: Any = copy.deepcopy(self._configuration)
        for key in key_path or []:
            if not isinstance(node, dict) or key not in node:
                raise _error("ResourceNotFoundError", "Key not found")
            node = node[key]
        return name, node

    async def _get_configuration(
        self, connection: RpcServerConnection, stream_id: int, request: dict[str, Any]
    ) -> Reply:
        key_path = request.get("keyPath")
        name, node = self._config_node(request.get("componentName"), key_path)
        # A leaf comes back as {leafName: value}, as ConfigStoreIPCEventStreamAgent does.
        value = node if isinstance(node, dict) else {key_path[-1]: node} if key_path else node
        return Reply({"componentName": name, "value": value})

    async def _subscribe_to_configuration_update(
        self, connection: RpcServerConnection, stream_id: int, request: dict[str, Any]
    ) -> Reply:
        key_path = request.get("keyPath") or []
        name, _ = self._config_node(request.get("componentName"), key_path)
        subscription = _Subscription(connection, stream_id, name, tuple(key_path))
        self._config_subscribers.append(subscription)
        self._pulse()
        return Reply({}, keep_open=True)

    async def _subscribe_to_validate(
        self, connection: RpcServerConnection, stream_id: int, request: dict[str, Any]
    ) -> Reply:
        self._validators.append(_Subscription(connection, stream_id, self.component_name, ()))
        self._pulse()
        return Reply({}, keep_open=True)

    async def _send_validity_report(
        self, connection: RpcServerConnection, stream_id: int, request: dict[str, Any]
    ) -> Reply:
        report = request.get("configurationValidityReport") or {}
        status = report.get("status")
        if status not in ("ACCEPTED", "REJECTED"):
            raise _error("InvalidArgumentsError", f"status {status!r}: ACCEPTED or REJECTED")
        record = ValidityReport(status, report.get("deploymentId"), report.get("message"))
        self._record(lambda: self._reports.append(record))
        pending = self._pending_validation
        if pending is None or pending[1].done():
            raise _error(
                "InvalidArgumentsError", "Validation request either timed out or was never made"
            )
        deployment_id, answer = pending
        if record.deployment_id not in (None, deployment_id):
            raise _error(
                "InvalidArgumentsError", f"no validation pending for {record.deployment_id}"
            )
        answer.set_result(report)
        return Reply({})

    async def _update_state(
        self, connection: RpcServerConnection, stream_id: int, request: dict[str, Any]
    ) -> Reply:
        state = request.get("state")
        if state not in ("RUNNING", "ERRORED"):
            raise _error("InvalidArgumentsError", f"state {state!r}: RUNNING or ERRORED")
        self._record(lambda: self._states.append(state))
        return Reply({})

    async def _get_secret_value(
        self, connection: RpcServerConnection, stream_id: int, request: dict[str, Any]
    ) -> Reply:
        secret_id = request.get("secretId")
        if not isinstance(secret_id, str) or not secret_id:
            raise _error("InvalidArgumentsError", "secretId is required")
        self._authorize(SECRET_MANAGER, "GetSecretValue", secret_id)
        value = self.secrets.get(secret_id)
        stage = request.get("versionStage")
        if value is None or stage not in (None, "AWSCURRENT"):
            raise _error(
                "ResourceNotFoundError",
                f"Secret not found: {secret_id}",
                resourceType="secret",
                resourceName=secret_id,
            )
        secret_value = (
            {"secretBinary": base64.b64encode(value).decode()}
            if isinstance(value, bytes)
            else {"secretString": value}
        )
        version_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{secret_id}/{value!r}"))
        return Reply(
            {
                "secretId": secret_id,
                "versionId": version_id,
                "versionStage": ["AWSCURRENT"],
                "secretValue": secret_value,
            }
        )


@pytest.fixture
def nucleus() -> Iterator[NucleusDouble]:
    """A started nucleus double for one test; stopped (socket closed, thread joined) after it."""
    double = NucleusDouble().start()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture
def nucleus_env(nucleus: NucleusDouble, monkeypatch: pytest.MonkeyPatch) -> NucleusDouble:
    """The ``nucleus`` double with its component environment set in ``os.environ``."""
    for name, value in nucleus.env.items():
        monkeypatch.setenv(name, value)
    return nucleus


__all__ = [
    "COMPONENT_NAME",
    "THING_NAME",
    "IotCorePublish",
    "LocalPublish",
    "NucleusDouble",
    "ValidityReport",
    "mqtt_topic_matches",
]
