"""A real mosquitto broker for tests, standing in for AWS IoT Core.

Each broker is a child of the test process (``mosquitto -c DIR/mosquitto.conf`` in the
foreground) on free loopback ports, with two listeners:

* ``port``: plain MQTT, anonymous, no ACL — for subscribers that check what was published;
* ``tls_port``: mutual TLS (TLS 1.2, client certificate required, the certificate's CN is the
  user name) with an ACL that lets the thing publish and subscribe under
  ``dt/edge-agent/<thing>/#`` only, as an IoT policy using
  ``${iot:Connection.Thing.ThingName}`` would. A denied publish gets PUBACK 135 (MQTT 5) or
  a plain PUBACK (3.1.1), and then mosquitto 2.0.11 closes the connection, much as IoT Core
  disconnects on a policy violation.

Fixtures:

* ``mosquitto`` — one broker for the session; do not stop it (use ``mosquitto_broker``);
* ``mosquitto_broker`` — a factory of brokers owned by one test (``stop``/``start``/``pause``/
  ``kill`` them freely); every broker it made is stopped at the end of the test;
* ``topic_prefix`` — a topic prefix unique to the test, inside the thing's ACL;
* ``unique_thing`` — a thing name unique to the test (for plain-listener tests).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import trustme
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

MOSQUITTO = os.environ.get("MOSQUITTO", "/usr/sbin/mosquitto")
HOST = "127.0.0.1"
DEFAULT_THING = "gateway-01"
START_TIMEOUT = 10.0

Message = tuple[str, bytes]


def free_port() -> int:
    """A TCP port on the loopback interface that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class Certificates:
    """A test CA, a server certificate for the loopback broker, device certificates by thing."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._ca = trustme.CA()
        self.ca_path = directory / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_path))
        server = self._ca.issue_cert("localhost", HOST)
        self.server_cert_path = directory / "server.crt"
        self.server_key_path = directory / "server.key"
        server.cert_chain_pems[0].write_to_path(str(self.server_cert_path))
        server.private_key_pem.write_to_path(str(self.server_key_path))
        self._clients: dict[str, tuple[Path, Path]] = {}
        self._lock = threading.Lock()

    def client(self, thing_name: str) -> tuple[Path, Path]:
        """(certificate, key) of a device certificate whose CN is ``thing_name``.

        mosquitto's ``use_identity_as_username`` takes the subject's CN as the user name,
        which is what the ACL's ``user`` lines match.
        """
        with self._lock:
            if thing_name not in self._clients:
                # trustme requires a SAN or a CN; it gets both so no verifier meets an empty SAN.
                leaf = self._ca.issue_cert(thing_name, common_name=thing_name)
                cert = self.directory / f"{thing_name}.crt"
                key = self.directory / f"{thing_name}.key"
                leaf.cert_chain_pems[0].write_to_path(str(cert))
                leaf.private_key_pem.write_to_path(str(key))
                self._clients[thing_name] = (cert, key)
            return self._clients[thing_name]


class Collector:
    """What a subscriber received, as (topic, payload) pairs, safe to read from any thread."""

    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._changed = threading.Condition()

    def add(self, topic: str, payload: bytes) -> None:
        """Record one message (called from paho's network thread)."""
        with self._changed:
            self._messages.append((topic, payload))
            self._changed.notify_all()

    @property
    def messages(self) -> list[Message]:
        """A copy of what was received so far, in order of arrival."""
        with self._changed:
            return list(self._messages)

    def payloads_json(self) -> list[Any]:
        """The payloads received so far, decoded as JSON."""
        return [json.loads(payload) for _, payload in self.messages]

    def wait_for(
        self,
        condition: int | Callable[[list[Message]], bool],
        timeout: float = 10.0,
    ) -> list[Message]:
        """Block until ``condition`` (a message count, or a predicate on the messages) holds.

        Returns the messages at that moment; fails the test with what arrived on timeout.
        In an async test use ``wait_for_async`` so the event loop keeps running.
        """
        predicate: Callable[[list[Message]], bool]
        if isinstance(condition, int):
            count = condition
            predicate = lambda messages: len(messages) >= count  # noqa: E731
        else:
            predicate = condition
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self._messages), timeout):
                topics = [topic for topic, _ in self._messages]
                raise AssertionError(
                    f"condition not met within {timeout} s; {len(topics)} messages: {topics}"
                )
            return list(self._messages)

    async def wait_for_async(
        self,
        condition: int | Callable[[list[Message]], bool],
        timeout: float = 10.0,
    ) -> list[Message]:
        """``wait_for`` for async tests: waits in a worker thread."""
        import asyncio  # noqa: PLC0415 — only async tests need it

        return await asyncio.to_thread(self.wait_for, condition, timeout)


class Broker:
    """One mosquitto process, its configuration, certificates and ports.

    ``stop()`` then ``start()`` brings the same broker back on the same ports (retained
    messages and sessions are not kept: persistence is off, as after a broker crash).
    """

    def __init__(
        self,
        directory: Path,
        certificates: Certificates,
        thing_name: str,
        extra_config: str = "",
    ) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.host = HOST
        self.port = free_port()
        self.tls_port = free_port()
        self.thing_name = thing_name
        self.ca_path = certificates.ca_path
        self.cert_path, self.key_path = certificates.client(thing_name)
        self.config_path = directory / "mosquitto.conf"
        self.log_path = directory / "mosquitto.log"
        self._certificates = certificates
        self._process: subprocess.Popen[bytes] | None = None
        self._paused = False
        self._write_config(extra_config)

    def _write_config(self, extra_config: str) -> None:
        acl = self.directory / "acl"
        acl.write_text(
            f"user {self.thing_name}\n"
            f"topic write dt/edge-agent/{self.thing_name}/#\n"
            f"topic read dt/edge-agent/{self.thing_name}/#\n"
        )
        certs = self._certificates
        self.config_path.write_text(
            "per_listener_settings true\n"
            # 0 = no limit: a test subscriber must see every message, however slow it reads.
            "max_queued_messages 0\n"
            # As root, mosquitto would drop to user mosquitto before reading the keys.
            "user root\n"
            "persistence false\n"
            "log_dest stdout\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            "connection_messages true\n"
            f"{extra_config}\n"
            f"\nlistener {self.port} {HOST}\n"
            "allow_anonymous true\n"
            f"\nlistener {self.tls_port} {HOST}\n"
            f"cafile {certs.ca_path}\n"
            f"certfile {certs.server_cert_path}\n"
            f"keyfile {certs.server_key_path}\n"
            "tls_version tlsv1.2\n"
            "require_certificate true\n"
            "use_identity_as_username true\n"
            "allow_anonymous false\n"
            f"acl_file {acl}\n"
        )

    @property
    def running(self) -> bool:
        """Whether the process is alive (it may be paused)."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start mosquitto and return once both listeners accept connections."""
        if self.running:
            raise RuntimeError("broker already running")
        log = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()  # the child has its own descriptor
        self._paused = False
        deadline = time.monotonic() + START_TIMEOUT
        for port in (self.port, self.tls_port):
            self._wait_listening(port, deadline)

    def _wait_listening(self, port: int, deadline: float) -> None:
        assert self._process is not None
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited with {self._process.returncode}:\n{self.log_text()}"
                )
            try:
                with socket.create_connection((HOST, port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"mosquitto not listening on {port} after {START_TIMEOUT} s:\n"
                        + self.log_text()
                    ) from None
                time.sleep(0.02)  # bounded by the deadline above

    def stop(self) -> None:
        """Stop mosquitto gracefully (SIGTERM) and reap it; idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            if self._paused:
                # A stopped process only acts on SIGTERM once continued.
                process.send_signal(signal.SIGCONT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._paused = False

    def kill(self) -> None:
        """Kill mosquitto (SIGKILL), as a crash or power loss would; it answers nothing more."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait()
        self._paused = False

    def pause(self) -> None:
        """Freeze mosquitto (SIGSTOP): connections stay open but nothing is acknowledged."""
        if self._process is None or not self.running:
            raise RuntimeError("broker not running")
        self._process.send_signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Undo ``pause``."""
        if self._process is None or not self.running:
            raise RuntimeError("broker not running")
        self._process.send_signal(signal.SIGCONT)
        self._paused = False

    def log_text(self) -> str:
        """The broker's log so far (for failure messages)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @contextlib.contextmanager
    def subscriber(self, topic_filter: str, *, timeout: float = 10.0) -> Iterator[Collector]:
        """Subscribe on the plain listener (MQTT 5, QoS 1) and collect what arrives.

        The subscription is acknowledged (SUBACK) before the block runs, so nothing published
        inside the block is missed. It does not survive a broker restart.
        """
        collector = Collector()
        connected = threading.Event()
        subscribed = threading.Event()
        failures: list[str] = []
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-sub-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=False,
        )

        def on_connect(client: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
            if reason.is_failure:
                failures.append(f"CONNACK {reason}")
            connected.set()

        def on_subscribe(
            client: mqtt.Client, _u: Any, _mid: int, reasons: list[ReasonCode], _p: Any
        ) -> None:
            failures.extend(f"SUBACK {r}" for r in reasons if r.is_failure)
            subscribed.set()

        def on_message(client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
            collector.add(message.topic, bytes(message.payload))

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        client.connect(self.host, self.port, keepalive=60)
        client.loop_start()
        try:
            if not connected.wait(timeout) or failures:
                raise RuntimeError(f"subscriber could not connect: {failures or 'timeout'}")
            client.subscribe(topic_filter, qos=1)
            if not subscribed.wait(timeout) or failures:
                raise RuntimeError(
                    f"subscription to {topic_filter!r} failed: {failures or 'timeout'}"
                )
            yield collector
        finally:
            client.disconnect()
            client.loop_stop()


BrokerFactory = Callable[..., Broker]


@pytest.fixture(scope="session")
def mosquitto_certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """The test CA, the broker's server certificate and device certificates."""
    return Certificates(tmp_path_factory.mktemp("mosquitto-certs"))


@pytest.fixture(scope="session")
def mosquitto(
    tmp_path_factory: pytest.TempPathFactory, mosquitto_certificates: Certificates
) -> Iterator[Broker]:
    """A broker shared by the whole session. Do not stop it; use ``mosquitto_broker`` for that."""
    broker = Broker(tmp_path_factory.mktemp("mosquitto"), mosquitto_certificates, DEFAULT_THING)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def mosquitto_broker(
    tmp_path_factory: pytest.TempPathFactory, mosquitto_certificates: Certificates
) -> Iterator[BrokerFactory]:
    """A factory of brokers owned by this test.

    ``mosquitto_broker(thing_name="gateway-01", start=True, extra_config="")``; extra_config
    holds global mosquitto.conf lines (e.g. ``clientid_prefixes test-``).
    """
    brokers: list[Broker] = []

    def make(
        *, thing_name: str = DEFAULT_THING, start: bool = True, extra_config: str = ""
    ) -> Broker:
        directory = tmp_path_factory.mktemp("mosquitto")
        broker = Broker(directory, mosquitto_certificates, thing_name, extra_config)
        brokers.append(broker)
        if start:
            broker.start()
        return broker

    try:
        yield make
    finally:
        for broker in brokers:
            broker.stop()


@pytest.fixture
def topic_prefix() -> str:
    """``dt/edge-agent/gateway-01/t<hex>``: unique to the test, inside the TLS listener's ACL."""
    return f"dt/edge-agent/{DEFAULT_THING}/t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def unique_thing() -> str:
    """A thing name unique to the test, so topics built from it do not collide between tests."""
    return f"gw-{uuid.uuid4().hex[:10]}"
