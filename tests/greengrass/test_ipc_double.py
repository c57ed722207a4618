"""The nucleus double answers the real awsiot client (GreengrassCoreIPCClientV2) for every operation
the agent uses, and edge_agent.greengrass.ipc maps what the client raises to our errors."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import queue
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator

import awsiot.greengrasscoreipc
import pytest
from awscrt.exceptions import AwsCrtError
from awsiot.eventstreamrpc import AccessDeniedError, StreamClosedError
from awsiot.greengrasscoreipc import model
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

from edge_agent.errors import ConfigError, NotConnectedError
from edge_agent.greengrass import (
    ConfigurationProposal,
    ConfigurationUpdate,
    GreengrassIpc,
    IpcNotFoundError,
    IpcRequestError,
)
from tests.infra.eventstream import (
    FrameError,
    Header,
    HeaderType,
    Message,
    MessageBuffer,
    MessageFlag,
    MessageType,
    decode_message,
    encode_message,
    rpc_message,
)
from tests.infra.nucleus import NucleusDouble, mqtt_topic_matches

CONFIG = {
    "stateDir": "state",
    "publish": {"target": "greengrass", "greengrass": {"maxInflight": 4}},
    "datasets": {"line1": {"kind": "generic"}},
}


# --------------------------------------------------------------------------- framing (no server)


def test_every_header_type_survives_a_round_trip() -> None:
    headers = (
        Header("t", HeaderType.BOOL_TRUE, True),
        Header("f", HeaderType.BOOL_FALSE, False),
        Header("b", HeaderType.BYTE, -3),
        Header("s16", HeaderType.INT16, -300),
        Header("s32", HeaderType.INT32, 70_000),
        Header("s64", HeaderType.INT64, 2**40),
        Header("raw", HeaderType.BYTES, b"\x00\xff"),
        Header("str", HeaderType.STRING, "grüße"),
        Header("ts", HeaderType.TIMESTAMP, 1_700_000_000_000),
        Header("id", HeaderType.UUID, uuid.UUID(int=7)),
    )
    data = encode_message(headers, b"payload")

    assert decode_message(data) == Message(headers, b"payload")


def test_a_corrupted_message_is_refused() -> None:
    data = bytearray(encode_message((Header.string("a", "b"),), b"xyz"))
    data[-6] ^= 0xFF  # a payload byte

    with pytest.raises(FrameError, match="message CRC"):
        decode_message(bytes(data))


def test_mqtt_filters_match_like_a_broker() -> None:
    assert mqtt_topic_matches("dt/edge-agent/gw/#", "dt/edge-agent/gw")
    assert mqtt_topic_matches("dt/edge-agent/gw/#", "dt/edge-agent/gw/line1/quarantine")
    assert mqtt_topic_matches("dt/+/gw/line1", "dt/edge-agent/gw/line1")
    assert not mqtt_topic_matches("dt/edge-agent/gw/#", "dt/edge-agent/other/line1")
    assert not mqtt_topic_matches("dt/+/gw", "dt/edge-agent/gw/line1")


# --------------------------------------------------------------------------- the real client


@pytest.fixture
def client(nucleus_env: NucleusDouble) -> Iterator[GreengrassCoreIPCClientV2]:
    """The real V2 client, built the way a component builds it: from the environment."""
    ipc = GreengrassCoreIPCClientV2()
    try:
        yield ipc
    finally:
        ipc.close().result(5)


@pytest.mark.infra
def test_the_client_connects_with_the_component_environment(
    client: GreengrassCoreIPCClientV2, nucleus: NucleusDouble
) -> None:
    assert nucleus.connects == 1
    assert nucleus.env["AWS_IOT_THING_NAME"] == "gateway-01"
    assert nucleus.env["SVCUID"] == nucleus.auth_token


@pytest.mark.infra
def test_a_wrong_token_is_refused(nucleus: NucleusDouble) -> None:
    with pytest.raises(AccessDeniedError):
        awsiot.greengrasscoreipc.connect(
            ipc_socket=nucleus.socket_path, authtoken="not-the-token", timeout=5
        )
    assert nucleus.connects == 0


@pytest.mark.infra
def test_publish_to_iot_core_is_recorded(
    client: GreengrassCoreIPCClientV2, nucleus: NucleusDouble
) -> None:
    response = client.publish_to_iot_core(
        topic_name="dt/edge-agent/gateway-01/line1",
        qos=model.QOS.AT_LEAST_ONCE,
        payload=b'{"v":1}',
    )

    assert isinstance(response, model.PublishToIoTCoreResponse)
    [publish] = nucleus.published
    assert (publish.topic, publish.qos, publish.payload) == (
        "dt/edge-agent/gateway-01/line1",
        "1",
        b'{"v":1}',
    )


@pytest.mark.infra
def test_scripted_service_errors_reach_the_client_as_service_error(
    client: GreengrassCoreIPCClientV2, nucleus: NucleusDouble
) -> None:
    nucleus.fail_next_publishes(2)

    for _ in range(2):
        with pytest.raises(model.ServiceError) as raised:
            client.publish_to_iot_core(topic_name="dt/x", qos="1", payload=b"a")
        assert raised.value.is_retryable()
    client.publish_to_iot_core(topic_name="dt/x", qos="1", payload=b"b")

    assert [p.payload for p in nucleus.published] == [b"b"]
    assert nucleus.publish_requests == 3


@pytest.mark.infra
def test_a_scripted_unauthorized_error_reaches_the_client_as_unauthorized_error(
    client: GreengrassCoreIPCClientV2, nucleus: NucleusDouble
) -> None:
    nucleus.fail_next_publishes(1, error="UnauthorizedError")

    with pytest.raises(model.UnauthorizedError) as raised:
        client.publish_to_iot_core(topic_name="dt/x", qos="1", payload=b"a")

    assert "not authorized" in raised.value.message
    assert nucleus.published == []


@pytest.mark.infra
def test_access_control_is_enforced_like_the_nucleus(
    client: GreengrassCoreIPCClientV2, nucleus: NucleusDouble
) -> None:
    nucleus.access_control = {
        "aws.greengrass.ipc.mqttproxy": {
            "p:1": {
                "operations": ["aws.greengrass#PublishToIoTCore"],
                "resources": ["dt/edge-agent/{iot:thingName}/#"],
            }
        }
    }

    client.publish_to_iot_core(topic_name="dt/edge-agent/gateway-01/a", qos="1", payload=b"1")
    with pytest.raises(model.UnauthorizedError):
        client.publish_to_iot_core(topic_name="dt/edge-agent/other/a", qos="1", payload=b"2")
    with pytest.raises(model.UnauthorizedError):
        client.get_secret_value(secret_id="any")

    assert [p.payload for p in nucleus.published] == [b"1"]


@pytest.mark.infra
def test_publish_to_topic_records_binary_and_json_messages(
    client: GreengrassCoreIPCClientV2, nucleus: NucleusDouble
) -> None:
    client.publish_to_topic(
        topic="edge-agent/alerts",
        publish_message=model.PublishMessage(binary_message=model.BinaryMessage(message=b"hot")),
    )
    client.publish_to_topic(
        topic="edge-agent/alerts",
        publish_message=model.PublishMessage(json_message=model.JsonMessage(message={"a": 1})),
    )

    binary, as_json = nucleus.local_published
    assert (binary.topic, binary.payload) == ("edge-agent/alerts", b"hot")
    assert as_json.json == {"a": 1}


@pytest.mark.infra
def test_get_configuration_serves_the_whole_tree_a_subtree_and_a_leaf(
    client: GreengrassCoreIPCClientV2, nucleus: NucleusDouble
) -> None:
    nucleus.configuration = CONFIG

    whole = client.get_configuration()
    subtree = client.get_configuration(key_path=["publish", "greengrass"])
    leaf = client.get_configuration(key_path=["stateDir"])

    assert whole.component_name == "io.edgeagent.EdgeAgent"
    assert whole.value == CONFIG
    assert subtree.value == {"maxInflight": 4}
    assert leaf.value == {"stateDir": "state"}
    with pytest.raises(model.ResourceNotFoundError):
        client.get_configuration(key_path=["nope"])
    with pytest.raises(model.ResourceNotFoundError):
        client.get_configuration(component_name="other.Component")


@pytest.mark.infra
def test_configuration_updates_stream_until_closed(
    client: GreengrassCoreIPCClientV2, nucleus: NucleusDouble
) -> None:
    nucleus.configuration = CONFIG
    events: queue.Queue[model.ConfigurationUpdateEvents] = queue.Queue()
    _, operation = client.subscribe_to_configuration_update(
        key_path=["publish"], on_stream_event=events.put
    )
    changed = {**CONFIG, "stateDir": "other", "publish": {"target": "greengrass"}}

    paths = nucleus.push_configuration(changed)
    event = events.get(timeout=5).configuration_update_event

    assert paths == [("publish", "greengrass"), ("stateDir",)]
    assert (event.component_name, event.key_path) == (
        "io.edgeagent.EdgeAgent",
        ["publish", "greengrass"],
    )
    assert client.get_configuration().value == changed
    assert events.empty()  # stateDir is outside the subscribed key path
    operation.close().result(5)


@pytest.mark.infra
def test_a_proposed_configuration_gets_the_components_validity_report(
    client: GreengrassCoreIPCClientV2, nucleus: NucleusDouble
) -> None:
    seen: list[model.ValidateConfigurationUpdateEvent] = []

    def validate(events: model.ValidateConfigurationUpdateEvents) -> None:
        event = events.validate_configuration_update_event
        seen.append(event)
        client.send_configuration_validity_report(
            configuration_validity_report=model.ConfigurationValidityReport(
                status=model.ConfigurationValidityStatus.REJECTED,
                deployment_id=event.deployment_id,
                message="publish.qos: QoS 0 has no acknowledgement",
            )
        )

    client.subscribe_to_validate_configuration_updates(on_stream_event=validate)
    status, message = nucleus.propose_configuration_sync({"publish": {"qos": 0}})

    assert (status, message) == ("REJECTED", "publish.qos: QoS 0 has no acknowledgement")
    assert seen[0].configuration == {"publish": {"qos": 0}}
    [report] = nucleus.validity_reports
    assert report.deployment_id == seen[0].deployment_id


@pytest.mark.infra
def test_a_validity_report_nobody_asked_for_is_an_invalid_argument(
    client: GreengrassCoreIPCClientV2,
) -> None:
    report = model.ConfigurationValidityReport(status="ACCEPTED", deployment_id="d-1")

    with pytest.raises(model.InvalidArgumentsError):
        client.send_configuration_validity_report(configuration_validity_report=report)


@pytest.mark.infra
def test_propose_configuration_times_out_without_a_validator(nucleus: NucleusDouble) -> None:
    with pytest.raises(TimeoutError, match="no component subscribed"):
        nucleus.propose_configuration_sync({}, timeout=0.2)


@pytest.mark.infra
def test_update_state_is_recorded(
    client: GreengrassCoreIPCClientV2, nucleus: NucleusDouble
) -> None:
    client.update_state(state=model.ReportedLifecycleState.RUNNING)
    client.update_state(state=model.ReportedLifecycleState.ERRORED)

    assert nucleus.states == ["RUNNING", "ERRORED"]


@pytest.mark.infra
def test_secrets_are_served_by_id(
    client: GreengrassCoreIPCClientV2, nucleus: NucleusDouble
) -> None:
    nucleus.secrets["smb-password"] = "s3cret"
    nucleus.secrets["blob"] = b"\x00\x01"

    text = client.get_secret_value(secret_id="smb-password")
    blob = client.get_secret_value(secret_id="blob")

    assert (text.secret_id, text.version_stage) == ("smb-password", ["AWSCURRENT"])
    assert text.secret_value.secret_string == "s3cret"
    assert blob.secret_value.secret_binary == b"\x00\x01"
    with pytest.raises(model.ResourceNotFoundError):
        client.get_secret_value(secret_id="missing")


@pytest.mark.infra
def test_ping_gets_a_ping_response(
    client: GreengrassCoreIPCClientV2, nucleus: NucleusDouble
) -> None:
    client.client._connection.send_ping().result(5)

    nucleus.wait_until_sync(lambda: nucleus.pings == 1)


@pytest.mark.infra
def test_an_unsupported_operation_ends_the_stream_like_the_nucleus(
    client: GreengrassCoreIPCClientV2,
) -> None:
    with pytest.raises(StreamClosedError):
        client.list_components()


# --------------------------------------------------------------------------- raw protocol


def _raw_exchange(socket_path: str, *messages: Message, expect: int) -> list[Message]:
    """Send messages on a fresh connection; return the first ``expect`` messages that come back
    (fewer if the server closes the connection first)."""
    received: list[Message] = []
    buffer = MessageBuffer()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
        raw.settimeout(5.0)
        raw.connect(socket_path)
        for message in messages:
            raw.sendall(message.encode())
        while len(received) < expect and (chunk := raw.recv(65536)):
            received += buffer.feed(chunk)
    return received


def _connect(token: str, version: str = "0.1.0") -> Message:
    return rpc_message(
        MessageType.CONNECT,
        headers=(Header.string(":version", version),),
        payload=json.dumps({"authToken": token}).encode(),
    )


@pytest.mark.infra
def test_a_wrong_protocol_version_is_refused(nucleus: NucleusDouble) -> None:
    [ack] = _raw_exchange(nucleus.socket_path, _connect(nucleus.auth_token, "9.9.9"), expect=1)

    assert ack.message_type == MessageType.CONNECT_ACK
    assert ack.flags == MessageFlag.NONE


@pytest.mark.infra
def test_anything_before_connect_is_a_protocol_error(nucleus: NucleusDouble) -> None:
    [error] = _raw_exchange(nucleus.socket_path, rpc_message(MessageType.PING), expect=2)

    assert error.message_type == MessageType.PROTOCOL_ERROR


@pytest.mark.infra
def test_a_ping_response_echoes_application_headers(nucleus: NucleusDouble) -> None:
    ping = rpc_message(MessageType.PING, headers=(Header.string("x-probe", "1"),), payload=b"p")

    ack, pong = _raw_exchange(nucleus.socket_path, _connect(nucleus.auth_token), ping, expect=2)

    assert ack.flags == MessageFlag.CONNECTION_ACCEPTED
    assert pong.message_type == MessageType.PING_RESPONSE
    assert (pong.get("x-probe"), pong.payload) == ("1", b"p")


@pytest.mark.infra
def test_stop_closes_the_socket_and_joins_the_thread_with_a_client_attached() -> None:
    class Lifecycle:
        disconnected = threading.Event()

        def on_connect(self) -> None:
            pass

        def on_disconnect(self, reason: object) -> None:
            self.disconnected.set()

    double = NucleusDouble().start()
    ipc = awsiot.greengrasscoreipc.connect(
        ipc_socket=double.socket_path,
        authtoken=double.auth_token,
        lifecycle_handler=Lifecycle(),
        timeout=5,
    )
    client = GreengrassCoreIPCClientV2(client=ipc)
    client.subscribe_to_validate_configuration_updates(on_stream_event=lambda _: None)
    try:
        double.stop()
        assert Lifecycle.disconnected.wait(5)
    finally:
        closed = client.close()
    concurrent.futures.wait([closed], timeout=5)

    assert isinstance(closed.exception(), AwsCrtError)  # the nucleus went away first
    assert not double._thread.is_alive()
    with pytest.raises(FileNotFoundError), socket.socket(socket.AF_UNIX) as probe:
        probe.connect(double.socket_path)


# --------------------------------------------------------------------------- our wrapper


@pytest.fixture
async def ipc(nucleus: NucleusDouble) -> AsyncIterator[GreengrassIpc]:
    connection = GreengrassIpc.from_environment(nucleus.env, connect_timeout_seconds=5)
    await connection.connect()
    yield connection
    await connection.close()


@pytest.mark.infra
async def test_wrapper_reads_configuration_and_maps_not_found(
    ipc: GreengrassIpc, nucleus: NucleusDouble
) -> None:
    nucleus.configuration = CONFIG

    assert await ipc.get_configuration() == CONFIG
    assert await ipc.get_configuration(["publish", "greengrass", "maxInflight"]) == {
        "maxInflight": 4
    }
    with pytest.raises(IpcNotFoundError):
        await ipc.get_configuration(["nope"])


@pytest.mark.infra
async def test_wrapper_delivers_configuration_updates_on_the_event_loop(
    ipc: GreengrassIpc, nucleus: NucleusDouble
) -> None:
    nucleus.configuration = CONFIG
    updates: asyncio.Queue[tuple[ConfigurationUpdate, int]] = asyncio.Queue()
    subscription = await ipc.subscribe_to_configuration_update(
        lambda u: updates.put_nowait((u, threading.get_ident()))
    )

    await asyncio.to_thread(nucleus.push_configuration, {**CONFIG, "stateDir": "elsewhere"})
    update, thread = await asyncio.wait_for(updates.get(), 5)

    assert update == ConfigurationUpdate("io.edgeagent.EdgeAgent", ("stateDir",))
    assert thread == threading.get_ident()  # came back through call_soon_threadsafe
    await subscription.close()
    assert subscription.closed


@pytest.mark.infra
async def test_wrapper_answers_a_proposed_configuration(
    ipc: GreengrassIpc, nucleus: NucleusDouble
) -> None:
    proposals: asyncio.Queue[ConfigurationProposal] = asyncio.Queue()
    await ipc.subscribe_to_validate_configuration_updates(proposals.put_nowait)

    async def answer() -> None:
        proposal = await proposals.get()
        await ipc.send_configuration_validity_report(proposal.deployment_id, accepted=True)

    answering = asyncio.create_task(answer())
    status, message = await nucleus.propose_configuration({"stateDir": "x"})
    await answering

    assert (status, message) == ("ACCEPTED", None)


@pytest.mark.infra
async def test_wrapper_updates_state_and_reads_secrets(
    ipc: GreengrassIpc, nucleus: NucleusDouble
) -> None:
    nucleus.secrets["pw"] = "hunter2"

    await ipc.update_state("RUNNING")

    assert nucleus.states == ["RUNNING"]
    assert await ipc.get_secret_value("pw") == "hunter2"
    with pytest.raises(IpcNotFoundError):
        await ipc.get_secret_value("missing")


@pytest.mark.infra
async def test_wrapper_names_the_secret_manager_policy_when_unauthorized(
    ipc: GreengrassIpc, nucleus: NucleusDouble
) -> None:
    nucleus.access_control = {}
    nucleus.secrets["pw"] = "hunter2"

    with pytest.raises(IpcRequestError) as raised:
        await ipc.get_secret_value("pw")

    assert not raised.value.transient
    assert "accessControl.aws.greengrass.SecretManager" in raised.value.hint


@pytest.mark.infra
async def test_wrapper_refuses_a_wrong_token(nucleus: NucleusDouble) -> None:
    ipc = GreengrassIpc(socket_path=nucleus.socket_path, auth_token="wrong")

    with pytest.raises(NotConnectedError, match="SVCUID"):
        await ipc.connect()
    assert not ipc.is_connected


@pytest.mark.infra
async def test_wrapper_reports_a_missing_socket_as_not_connected() -> None:
    ipc = GreengrassIpc(socket_path="/nonexistent/ipc.socket", auth_token="t")

    with pytest.raises(NotConnectedError, match="cannot connect"):
        await ipc.connect()
    with pytest.raises(NotConnectedError):
        await ipc.update_state("RUNNING")


def test_wrapper_needs_the_component_environment() -> None:
    with pytest.raises(ConfigError) as raised:
        GreengrassIpc.from_environment({})

    [problem] = raised.value.problems
    assert problem.path == "publish.target"
    assert "SVCUID" in problem.message
