"""MqttPublisher against a real mosquitto: plain and mutual TLS, ACL refusals, outages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from edge_agent.config.publish import MqttConfig, TlsConfig
from edge_agent.errors import ConfigError, NotConnectedError, PublishRejectedError
from edge_agent.publish.mqtt import NOT_AUTHORIZED, MqttPublisher
from edge_agent.publish.tls import build_ssl_context
from tests.infra.mosquitto import Broker, BrokerFactory, Certificates

THING = "gateway-01"
TIMEOUT = 10.0


def plain_config(broker: Broker, **overrides: Any) -> MqttConfig:
    """The plain listener, with reconnect delays short enough for a test."""
    settings: dict[str, Any] = {
        "host": broker.host,
        "port": broker.port,
        "connect_timeout_seconds": 5,
        "reconnect_min_seconds": 0.05,
        "reconnect_max_seconds": 0.2,
    }
    settings.update(overrides)
    return MqttConfig(**settings)


def tls_config(broker: Broker, **overrides: Any) -> MqttConfig:
    """The mutual-TLS listener with the thing's device certificate."""
    tls = TlsConfig(ca=str(broker.ca_path), cert=str(broker.cert_path), key=str(broker.key_path))
    return plain_config(broker, port=broker.tls_port, tls=tls, **overrides)


@contextlib.asynccontextmanager
async def running(
    publisher: MqttPublisher, *, ready: bool = True
) -> AsyncIterator[asyncio.Task[None]]:
    """Run the publisher's connection loop for the block; cancel it and close afterwards."""
    task = asyncio.create_task(publisher.run())
    try:
        if ready:
            async with asyncio.timeout(TIMEOUT):
                await publisher.wait_ready()
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await publisher.aclose()


async def eventually(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (state attributes have no event to wait on) for up to TIMEOUT s."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():  # noqa: ASYNC110 — bounded polling of plain attributes
            await asyncio.sleep(0.01)


async def publish_when_connected(publisher: MqttPublisher, topic: str, payload: bytes) -> None:
    """Retry on NotConnectedError until the publish is acknowledged, as the outbox does."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            await publisher.wait_ready()
            try:
                await publisher.publish(topic, payload)
            except NotConnectedError:
                await asyncio.sleep(0.01)  # the drop is being processed; wait_ready follows it
            else:
                return


def paho_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("paho-mqtt-client-")]


# --------------------------------------------------------------------------- happy paths


@pytest.mark.infra
@pytest.mark.parametrize("protocol", [5, "3.1.1"])
async def test_publish_returns_on_puback(
    mosquitto: Broker, topic_prefix: str, protocol: int | str
) -> None:
    publisher = MqttPublisher(plain_config(mosquitto, protocol=protocol), thing_name=THING)
    with mosquitto.subscriber(f"{topic_prefix}/#") as received:
        async with running(publisher):
            assert publisher.connected
            for i in range(3):
                await publisher.publish(f"{topic_prefix}/line1", b'{"n": %d}' % i)
            assert publisher.publishes_ok == 3
        messages = await received.wait_for_async(3)
    assert [topic for topic, _ in messages] == [f"{topic_prefix}/line1"] * 3
    assert received.payloads_json() == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert not publisher.connected


@pytest.mark.infra
async def test_no_matching_subscribers_is_success(mosquitto: Broker, topic_prefix: str) -> None:
    """MQTT 5 PUBACK reason 16 (nobody subscribed) means the broker took the message."""
    publisher = MqttPublisher(plain_config(mosquitto), thing_name=THING)
    async with running(publisher):
        await publisher.publish(f"{topic_prefix}/nobody-listens", b"{}")
    assert publisher.publishes_ok == 1


@pytest.mark.infra
async def test_wildcard_topic_is_rejected_without_breaking_the_connection(
    mosquitto: Broker, topic_prefix: str
) -> None:
    publisher = MqttPublisher(plain_config(mosquitto), thing_name=THING)
    async with running(publisher):
        with pytest.raises(PublishRejectedError, match="wildcard"):
            await publisher.publish(f"{topic_prefix}/+/x", b"{}")
        assert publisher.publishes_rejected == 1
        await publisher.publish(f"{topic_prefix}/x", b"{}")
        assert publisher.disconnects == 0


@pytest.mark.infra
async def test_many_concurrent_publishes_within_inflight_limit(
    mosquitto: Broker, topic_prefix: str
) -> None:
    publisher = MqttPublisher(plain_config(mosquitto, max_inflight=4), thing_name=THING)
    with mosquitto.subscriber(f"{topic_prefix}/#") as received:
        async with running(publisher):
            await asyncio.gather(
                *(publisher.publish(f"{topic_prefix}/x", b"%d" % i) for i in range(50))
            )
            assert publisher.inflight == 0
        messages = await received.wait_for_async(50)
    assert sorted(int(payload) for _, payload in messages) == list(range(50))


@pytest.mark.infra
async def test_broker_receive_maximum_is_respected(
    mosquitto_broker: BrokerFactory, topic_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """mosquitto's CONNACK says Receive Maximum 20: no more than 20 unacknowledged PUBLISHes."""
    broker = mosquitto_broker()
    publisher = MqttPublisher(plain_config(broker, max_inflight=50), thing_name=THING)
    caplog.set_level(logging.DEBUG, logger="edge_agent.publish.mqtt.paho")

    def sent() -> int:
        return sum("Sending PUBLISH" in r.getMessage() for r in caplog.records)

    async with running(publisher):
        broker.pause()  # let them pile up unacknowledged
        publishes = [
            asyncio.create_task(publisher.publish(f"{topic_prefix}/x", b"%d" % i))
            for i in range(30)
        ]
        await eventually(lambda: publisher.inflight == 20)
        for _ in range(10):
            await asyncio.sleep(0)  # the other 10 publishes had their chance to go out
        assert publisher.inflight == 20
        assert sent() == 20
        broker.resume()
        async with asyncio.timeout(TIMEOUT):
            await asyncio.gather(*publishes)
        assert sent() == 30
        assert publisher.disconnects == 0


def test_client_id_is_never_the_bare_thing_name() -> None:
    """The Greengrass nucleus connects as the thing name; a second such client kicks it."""
    config = MqttConfig(host="127.0.0.1", port=1883)
    assert MqttPublisher(config, thing_name=THING).client_id == "gateway-01-edge-agent"
    custom = MqttPublisher(config.model_copy(update={"client_id": "mine"}), thing_name=THING)
    assert custom.client_id == "mine"
    assert custom.name == "mqtt://127.0.0.1:1883"


# --------------------------------------------------------------------------- mutual TLS


@pytest.mark.infra
async def test_mutual_tls_allowed_topic(mosquitto: Broker, topic_prefix: str) -> None:
    publisher = MqttPublisher(tls_config(mosquitto), thing_name=THING)
    assert publisher.name.startswith("mqtts://")
    with mosquitto.subscriber(f"{topic_prefix}/#") as received:
        async with running(publisher):
            await publisher.publish(f"{topic_prefix}/line1", b'{"ok": true}')
        await received.wait_for_async(1)
    assert received.payloads_json() == [{"ok": True}]


@pytest.mark.infra
async def test_mutual_tls_denied_topic_is_rejected_with_135(
    mosquitto: Broker, topic_prefix: str
) -> None:
    publisher = MqttPublisher(tls_config(mosquitto), thing_name=THING)
    with mosquitto.subscriber(f"{topic_prefix}/#") as received:
        async with running(publisher):
            with pytest.raises(PublishRejectedError) as caught:
                await publisher.publish("dt/edge-agent/other-thing/x", b"{}")
            assert caught.value.code == NOT_AUTHORIZED == 135
            assert not caught.value.transient
            assert publisher.publishes_rejected == 1
            # mosquitto 2.0.11 closes the connection right after that PUBACK (IoT Core
            # disconnects on a policy violation too): later batches go out once run()
            # has reconnected, as the outbox would retry them.
            await publish_when_connected(publisher, f"{topic_prefix}/after", b"{}")
            assert publisher.publishes_ok == 1
        await received.wait_for_async(1)


@pytest.mark.infra
async def test_mqtt311_cannot_report_a_denied_topic(mosquitto: Broker) -> None:
    """MQTT 3.1.1 PUBACKs carry no reason: a refused message is acknowledged like any other."""
    publisher = MqttPublisher(tls_config(mosquitto, protocol="3.1.1"), thing_name=THING)
    async with running(publisher):
        await publisher.publish("dt/edge-agent/other-thing/x", b"{}")
    assert publisher.publishes_rejected == 0
    assert publisher.publishes_ok == 1


@pytest.mark.infra
async def test_wrong_ca_is_reported_and_never_connects(
    mosquitto: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    tls = TlsConfig(ca=str(other_ca), cert=str(mosquitto.cert_path), key=str(mosquitto.key_path))
    publisher = MqttPublisher(
        plain_config(mosquitto, port=mosquitto.tls_port, tls=tls), thing_name=THING
    )
    caplog.set_level(logging.WARNING, logger="edge_agent.publish.mqtt")
    async with running(publisher, ready=False):
        await eventually(lambda: publisher.last_error is not None)
        assert not publisher.connected
        with pytest.raises(NotConnectedError):
            await publisher.publish("dt/edge-agent/gateway-01/x", b"{}")
    assert publisher.last_error is not None
    assert "not trusted" in publisher.last_error
    assert "publish.mqtt.tls.ca" in publisher.last_error
    failures = [r for r in caplog.records if getattr(r, "event", None) == "mqtt.connect_failed"]
    assert failures
    assert failures[0].client_id == "gateway-01-edge-agent"  # type: ignore[attr-defined]


@pytest.mark.infra
async def test_tls_without_client_certificate_fails_the_handshake(mosquitto: Broker) -> None:
    tls = TlsConfig(ca=str(mosquitto.ca_path))
    publisher = MqttPublisher(
        plain_config(mosquitto, port=mosquitto.tls_port, tls=tls), thing_name=THING
    )
    async with running(publisher, ready=False):
        await eventually(lambda: publisher.last_error is not None)
        assert not publisher.connected
    assert publisher.last_error is not None
    assert "TLS handshake" in publisher.last_error or "before CONNACK" in publisher.last_error


def test_unreadable_tls_files_name_the_key(
    mosquitto_certificates: Certificates, tmp_path: Path
) -> None:
    cert, key = mosquitto_certificates.client(THING)
    with pytest.raises(ConfigError) as caught:
        build_ssl_context(
            TlsConfig(ca=str(tmp_path / "nope.pem"), cert=str(cert), key="/nonexistent.key")
        )
    paths = [problem.path for problem in caught.value.problems]
    assert paths == ["publish.mqtt.tls.ca", "publish.mqtt.tls.key"]
    assert "/nonexistent.key" in str(caught.value)

    not_a_cert = tmp_path / "garbage.pem"
    not_a_cert.write_text("not a certificate\n")
    with pytest.raises(ConfigError) as caught:
        build_ssl_context(
            TlsConfig(ca=str(mosquitto_certificates.ca_path), cert=str(not_a_cert), key=str(key))
        )
    assert [problem.path for problem in caught.value.problems] == ["publish.mqtt.tls.cert"]
    assert str(not_a_cert) in str(caught.value)


def test_ssl_context_is_strict(mosquitto_certificates: Certificates) -> None:
    cert, key = mosquitto_certificates.client(THING)
    context = build_ssl_context(
        TlsConfig(ca=str(mosquitto_certificates.ca_path), cert=str(cert), key=str(key))
    )
    assert context.check_hostname
    assert context.minimum_version.name == "TLSv1_2"


# --------------------------------------------------------------------------- outages


@pytest.mark.infra
async def test_broker_crash_fails_inflight_publishes_then_reconnects(
    mosquitto_broker: BrokerFactory, topic_prefix: str
) -> None:
    broker = mosquitto_broker()
    publisher = MqttPublisher(plain_config(broker), thing_name=THING)
    async with running(publisher):
        broker.pause()  # the broker receives but acknowledges nothing
        publishes = [
            asyncio.create_task(publisher.publish(f"{topic_prefix}/x", b"%d" % i)) for i in range(5)
        ]
        await eventually(lambda: publisher.inflight == 5)
        broker.kill()
        results = await asyncio.gather(*publishes, return_exceptions=True)
        assert all(isinstance(r, NotConnectedError) for r in results), results
        await eventually(lambda: not publisher.connected)
        with pytest.raises(NotConnectedError):
            await publisher.publish(f"{topic_prefix}/x", b"while down")

        broker.start()
        with broker.subscriber(f"{topic_prefix}/#") as received:
            async with asyncio.timeout(TIMEOUT):
                await publisher.wait_ready()
            await publisher.publish(f"{topic_prefix}/x", b"back")
            assert (await received.wait_for_async(1))[0][1] == b"back"
    assert publisher.disconnects == 1
    assert publisher.publishes_ok == 1


@pytest.mark.infra
async def test_broker_stop_and_start_reconnects(
    mosquitto_broker: BrokerFactory, topic_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    broker = mosquitto_broker()
    caplog.set_level(logging.INFO, logger="edge_agent.publish.mqtt")
    publisher = MqttPublisher(plain_config(broker, protocol="3.1.1"), thing_name=THING)
    async with running(publisher):
        broker.stop()
        await eventually(lambda: not publisher.connected)
        broker.start()
        async with asyncio.timeout(TIMEOUT):
            await publisher.wait_ready()
        await publisher.publish(f"{topic_prefix}/x", b"{}")
    events = [getattr(r, "event", None) for r in caplog.records]
    assert events.count("mqtt.connected") == 2
    assert "mqtt.disconnected" in events


@pytest.mark.infra
async def test_refused_connack_is_logged_with_the_fix_and_retried_slowly(
    mosquitto_broker: BrokerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # Only client ids starting with "test-" may connect: ours gets CONNACK "Not authorized".
    broker = mosquitto_broker(extra_config="clientid_prefixes test-")
    caplog.set_level(logging.INFO, logger="edge_agent.publish.mqtt")
    config = plain_config(broker, reconnect_min_seconds=0.05, reconnect_max_seconds=0.3)
    publisher = MqttPublisher(config, thing_name=THING)

    def waits() -> list[Any]:
        return [r for r in caplog.records if getattr(r, "event", None) == "mqtt.reconnect_wait"]

    async with running(publisher, ready=False):
        await eventually(lambda: len(waits()) >= 2)
        assert not publisher.connected
    assert publisher.last_error is not None
    assert "CONNACK refused: Not authorized (135)" in publisher.last_error
    assert "iot:Connect" in publisher.last_error
    failed = [r for r in caplog.records if getattr(r, "event", None) == "mqtt.connect_failed"]
    assert failed[0].levelno == logging.ERROR
    assert [r.delay_seconds for r in waits()[:2]] == [0.3, 0.3]


# --------------------------------------------------------------------------- lifecycle


@pytest.mark.infra
async def test_cancelling_run_fails_inflight_and_stops_paho(
    mosquitto_broker: BrokerFactory, topic_prefix: str
) -> None:
    broker = mosquitto_broker()
    publisher = MqttPublisher(plain_config(broker), thing_name=THING)
    task = asyncio.create_task(publisher.run())
    async with asyncio.timeout(TIMEOUT):
        await publisher.wait_ready()
    assert paho_threads()
    broker.pause()
    publish = asyncio.create_task(publisher.publish(f"{topic_prefix}/x", b"{}"))
    await eventually(lambda: publisher.inflight == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(NotConnectedError):
        await publish
    assert not publisher.connected
    assert paho_threads() == []
    await publisher.aclose()


@pytest.mark.infra
async def test_cancelling_run_while_waiting_to_reconnect(mosquitto_broker: BrokerFactory) -> None:
    broker = mosquitto_broker(start=False)  # ports reserved, nothing listening
    config = plain_config(broker, reconnect_min_seconds=30, reconnect_max_seconds=60)
    publisher = MqttPublisher(config, thing_name=THING)
    task = asyncio.create_task(publisher.run())
    await eventually(lambda: publisher.last_error is not None)
    assert "cannot reach" in (publisher.last_error or "")
    task.cancel()
    async with asyncio.timeout(2):  # not the 30 s backoff
        with pytest.raises(asyncio.CancelledError):
            await task
    assert paho_threads() == []


@pytest.mark.infra
async def test_aclose_makes_run_return(mosquitto: Broker) -> None:
    publisher = MqttPublisher(plain_config(mosquitto), thing_name=THING)
    task = asyncio.create_task(publisher.run())
    async with asyncio.timeout(TIMEOUT):
        await publisher.wait_ready()
        await publisher.aclose()
        await task  # returns on its own, without being cancelled
    assert not publisher.connected
    with pytest.raises(NotConnectedError):
        await publisher.publish("dt/edge-agent/gateway-01/x", b"{}")
