"""TLS for direct MQTT: TLS 1.2 or newer, the broker verified (CA and host name), our device
certificate presented; every file that cannot be loaded is named with its key."""

from __future__ import annotations

import socket
import ssl
import threading
from os.path import isfile
from typing import Any

from edge_agent.config.publish import TlsConfig
from edge_agent.errors import ConfigError, ConfigProblem


class TlsContext(ssl.SSLContext):
    """An SSLContext that can close the socket of a failed TLS handshake.

    paho wraps the TCP socket and runs the handshake in one step; when the handshake fails,
    the SSLSocket never reaches the client object and stays open until garbage collection
    (a leaked descriptor and a ResourceWarning per attempt). The connecting thread's last
    wrapped socket is remembered so that thread can close it.
    """

    def __init__(self, protocol: int) -> None:
        super().__init__()
        self._last = threading.local()

    def wrap_socket(self, sock: socket.socket, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        """``SSLContext.wrap_socket``, remembering the socket for ``release_socket``."""
        wrapped = super().wrap_socket(sock, *args, **kwargs)
        self._last.socket = wrapped
        return wrapped

    def release_socket(self, *, close: bool) -> None:
        """Forget this thread's last wrapped socket, closing it if its connection failed."""
        wrapped: ssl.SSLSocket | None = getattr(self._last, "socket", None)
        self._last.socket = None
        if close and wrapped is not None:
            wrapped.close()


def build_ssl_context(tls: TlsConfig) -> ssl.SSLContext:
    """A TLS 1.2+ client context verifying the broker (CA and host name) with our device cert.

    Raises ``ConfigError`` naming every file that cannot be loaded.
    """
    context = TlsContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname on
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    problems: list[ConfigProblem] = []
    try:
        context.load_verify_locations(cafile=tls.ca)
    except (OSError, ssl.SSLError) as e:
        hint = "use the CA that signed the broker's certificate (IoT Core: AmazonRootCA1.pem)"
        problems.append(ConfigProblem("publish.mqtt.tls.ca", f"cannot load {tls.ca!r}: {e}", hint))
    if tls.cert is not None and tls.key is not None:
        # load_cert_chain does not say which of the two files is missing: look first.
        files = {"publish.mqtt.tls.cert": tls.cert, "publish.mqtt.tls.key": tls.key}
        missing = [
            ConfigProblem(k, f"no such file: {p!r}") for k, p in files.items() if not isfile(p)
        ]
        problems.extend(missing)
        try:
            if not missing:
                context.load_cert_chain(tls.cert, tls.key)
        except (OSError, ssl.SSLError) as e:
            hint = "the device certificate (PEM) and its unencrypted private key"
            message = f"cannot load {tls.cert!r} with key {tls.key!r}: {e}"
            problems.append(ConfigProblem("publish.mqtt.tls.cert", message, hint))
    if problems:
        raise ConfigError(problems)
    return context
