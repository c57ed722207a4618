"""The MQTT TLS context: TLS 1.2 or newer only, the broker's certificate and name checked.

Each refusal has a control: the same server accepts a permissive client, so a refusal is ours
and not a server that cannot speak at all.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from edge_agent.config.publish import MqttConfig, TlsConfig
from edge_agent.publish.mqtt import MqttPublisher
from edge_agent.publish.tls import build_ssl_context
from tests.publish.test_mqtt import eventually, running

HOST = "127.0.0.1"
OLD = "DEFAULT:@SECLEVEL=0"  # OpenSSL 3 speaks TLS 1.0/1.1 only at security level 0


@contextlib.contextmanager
def tls_server(
    server_cert: trustme.LeafCert, *, versions: tuple[str, str] | None = None
) -> Iterator[tuple[int, list[str]]]:
    """A TLS server on a loopback port that handshakes with each client until closed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert.configure_cert(context)
    if versions is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 are deprecated
            context.minimum_version = ssl.TLSVersion[versions[0]]
            context.maximum_version = ssl.TLSVersion[versions[1]]
        context.set_ciphers(OLD)
    listener = socket.create_server((HOST, 0))
    listener.settimeout(0.05)
    outcomes: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _addr = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    with context.wrap_socket(conn, server_side=True) as tls:
                        outcomes.append(f"ok {tls.version()}")
                except (ssl.SSLError, OSError) as e:
                    outcomes.append(f"refused {e}")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], outcomes
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def handshake(context: ssl.SSLContext, port: int, hostname: str = "localhost") -> str:
    """The TLS version agreed, or raises the handshake's error."""
    with (
        socket.create_connection((HOST, port), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname=hostname) as tls,
    ):
        version = tls.version()
        assert version is not None
        return version


def permissive(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(context)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers(OLD)
    return context


def ours(tmp_path: Path, ca: trustme.CA) -> ssl.SSLContext:
    path = tmp_path / f"ca-{id(ca)}.pem"
    ca.cert_pem.write_to_path(str(path))
    return build_ssl_context(TlsConfig(ca=str(path)))


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_tls_older_than_1_2_is_refused(tmp_path: Path, version: str) -> None:
    ca = trustme.CA()
    with tls_server(ca.issue_cert("localhost", HOST), versions=(version, version)) as (port, _):
        assert handshake(permissive(ca), port) == version.replace("_", ".")  # the control
        with pytest.raises(ssl.SSLError, match=r"(?i)protocol|version"):
            handshake(ours(tmp_path, ca), port)


def test_tls_1_2_and_1_3_are_accepted(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", HOST)
    with tls_server(cert, versions=("TLSv1_2", "TLSv1_2")) as (port, _):
        assert handshake(ours(tmp_path, ca), port) == "TLSv1.2"
    with tls_server(cert) as (port, _):
        assert handshake(ours(tmp_path, ca), port) == "TLSv1.3"


def test_a_certificate_from_another_ca_is_refused(tmp_path: Path) -> None:
    ca, other = trustme.CA(), trustme.CA()
    with tls_server(other.issue_cert("localhost", HOST)) as (port, _):
        assert handshake(permissive(other), port)  # the control
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            handshake(ours(tmp_path, ca), port)


def test_a_certificate_for_another_host_is_refused(tmp_path: Path) -> None:
    ca = trustme.CA()
    with tls_server(ca.issue_cert("broker.example.com")) as (port, _):
        assert handshake(ours(tmp_path, ca), port, "broker.example.com")  # the control
        with pytest.raises(ssl.SSLCertVerificationError, match=r"Hostname mismatch"):
            handshake(ours(tmp_path, ca), port, "localhost")


def test_the_context_cannot_be_loosened_by_configuration() -> None:
    # Nothing in TlsConfig turns verification off: its only keys are the three files.
    assert set(TlsConfig.model_fields) == {"ca", "cert", "key"}


async def test_the_publisher_never_connects_to_a_tls_1_1_broker(tmp_path: Path) -> None:
    ca = trustme.CA()
    with tls_server(ca.issue_cert("localhost", HOST), versions=("TLSv1_1", "TLSv1_1")) as (
        port,
        outcomes,
    ):
        assert handshake(permissive(ca), port) == "TLSv1.1"  # the control
        ca_path = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        config = MqttConfig(
            host="localhost",
            port=port,
            tls=TlsConfig(ca=str(ca_path)),
            connect_timeout_seconds=5,
            reconnect_min_seconds=0.05,
            reconnect_max_seconds=0.2,
        )
        publisher = MqttPublisher(config, thing_name="gateway-01")
        async with running(publisher, ready=False):
            await eventually(lambda: publisher.last_error is not None)
            assert not publisher.connected
        assert len(outcomes) >= 2 and all(o.startswith("refused") for o in outcomes[1:])
    assert publisher.last_error is not None
    assert "TLS" in publisher.last_error
