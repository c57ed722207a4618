"""``edge-agent check --probe``: connect as ``run`` would, then leave cleanly.

MQTT: CONNECT with the configured TLS files, client id and credentials, wait for the CONNACK
(at most ``publish.mqtt.connectTimeoutSeconds``), then DISCONNECT. SMB: log on, connect the
share and list the folder with the agent's own source code (``SmbSource``, imported only here,
as SMB support may not be installed). Each failure is a problem at the key to fix.

Note: the probe connects with the agent's client id; a running agent with the same one is
disconnected once by brokers that allow one connection per client id (AWS IoT Core), and
reconnects by itself (what is not acknowledged stays in its outbox).
"""

from __future__ import annotations

import os
import ssl
import threading
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.config.environment import Findings
from edge_agent.config.publish import MqttConfig
from edge_agent.config.sections import Sections
from edge_agent.config.sources import SourceConfig
from edge_agent.errors import ConfigError, SourceAccessError, SourceUnavailableError
from edge_agent.publish.tls import TlsContext, build_ssl_context

# CONNACK reason codes a setting can fix: the key to look at and how.
_REFUSALS: dict[int, tuple[str, str]] = {
    133: ("publish.mqtt.clientId", "the broker refused this client id; set another one"),
    134: ("publish.mqtt.username", "check publish.mqtt.username and publish.mqtt.password"),
    135: (
        "publish.mqtt.tls.cert",
        "AWS IoT Core: the certificate must be ACTIVE, attached to the thing, and its policy "
        "must allow iot:Connect for this client id; other brokers: check their ACL",
    ),
    138: ("publish.mqtt.clientId", "this client is banned by the broker"),
}


def probe_findings(sections: Sections, *, skip: frozenset[str] = frozenset()) -> Findings:
    """Connect to the broker and the shares of the valid ``sections``.

    ``skip``: key paths with a problem already (e.g. a TLS file that does not load); a
    section under one of them is not probed.
    """
    found = Findings()
    publish = sections.publish
    if (
        publish is not None
        and publish.target == "mqtt"
        and sections.thing_name is not None
        and not _under(skip, "publish")
    ):
        probe_mqtt(found, publish.mqtt, publish.mqtt.client_id_for(sections.thing_name))
    for i, entry in enumerate(sections.sources):
        key = f"sources[{i}]"
        if entry.config is not None and entry.config.type == "smb" and not _under(skip, key):
            probe_smb(found, key, entry.config)
    return found


def _under(keys: frozenset[str], section: str) -> bool:
    return any(k == section or k.startswith((section + ".", section + "[")) for k in keys)


# --------------------------------------------------------------------------- MQTT


def probe_mqtt(found: Findings, mqtt: MqttConfig, client_id: str) -> None:
    """MQTT CONNECT, CONNACK, DISCONNECT; what failed goes to ``found``."""
    where = f"{mqtt.host}:{mqtt.port}"
    try:
        context = build_ssl_context(mqtt.tls) if mqtt.tls is not None else None
    except ConfigError as e:
        found.problems.extend(e.problems)
        return
    mqtt5 = mqtt.protocol == 5
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv5 if mqtt5 else paho.MQTTv311,
        clean_session=None if mqtt5 else True,
        reconnect_on_failure=False,
    )
    client.connect_timeout = mqtt.connect_timeout_seconds
    if context is not None:
        client.tls_set_context(context)
    if mqtt.username is not None:
        client.username_pw_set(mqtt.username, mqtt.password)
    answered = threading.Event()
    connack: list[ReasonCode] = []

    def on_connect(_c: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        connack.append(reason)
        answered.set()

    def on_disconnect(_c: paho.Client, _u: Any, _f: Any, _r: ReasonCode, _p: Any) -> None:
        answered.set()  # closed by the broker, with or without a CONNACK before

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        if mqtt5:
            client.connect(mqtt.host, mqtt.port, mqtt.keep_alive_seconds, clean_start=True)
        else:
            client.connect(mqtt.host, mqtt.port, mqtt.keep_alive_seconds)
    except OSError as e:
        if isinstance(context, TlsContext):
            context.release_socket(close=True)  # the socket of a failed handshake
        _connect_failed(found, mqtt, e)
        return
    if isinstance(context, TlsContext):
        context.release_socket(close=False)
    client.loop_start()
    try:
        if not answered.wait(mqtt.connect_timeout_seconds):
            found.problem(
                "publish.mqtt.port",
                f"no CONNACK from {where} within {mqtt.connect_timeout_seconds:g} s",
                "check that this port is the broker's MQTT port (TLS or not, as configured)",
            )
        elif not connack:
            found.problem(
                "publish.mqtt.tls.cert" if mqtt.tls is not None else "publish.mqtt.host",
                f"{where} closed the connection before CONNACK",
                "with TLS: check that the device certificate is registered and ACTIVE",
            )
        elif connack[0].is_failure:
            code = connack[0].value
            key, hint = _REFUSALS.get(code, ("publish.mqtt", "see the broker's log"))
            found.problem(key, f"{where} refused the connection: {connack[0]} ({code})", hint)
        else:
            found.passed.append(f"MQTT CONNECT to {where} as client id {client_id!r}: accepted")
    finally:
        client.disconnect()
        client.loop_stop()


def _connect_failed(found: Findings, mqtt: MqttConfig, error: OSError) -> None:
    where = f"{mqtt.host}:{mqtt.port}"
    if isinstance(error, ssl.SSLCertVerificationError):
        found.problem(
            "publish.mqtt.tls.ca",
            f"the certificate of {where} is not trusted ({error.verify_message})",
            "tls.ca must be the CA that signed the broker's certificate, and host a name "
            "in that certificate",
        )
    elif isinstance(error, ssl.SSLError):
        found.problem(
            "publish.mqtt.tls",
            f"TLS handshake with {where} failed ({error.reason or error})",
            "check that the port speaks TLS and that tls.cert/key are a device certificate "
            "the broker trusts",
        )
    else:
        found.problem(
            "publish.mqtt.host",
            f"cannot reach {where}: {error.strerror or error}",
            "check host and port, that the broker runs, and that no firewall blocks the port",
        )


# --------------------------------------------------------------------------- SMB


def probe_smb(found: Findings, key: str, source: SourceConfig) -> None:
    """Log on, connect the share and list the source's folder; what failed goes to ``found``."""
    smb = source.smb
    assert smb is not None  # an smb source has its settings (SourceConfig)
    if smb.password_secret_id is not None:
        found.warning(
            f"{key}.smb.passwordSecretId",
            "not probed: the password is a Greengrass secret",
            "probe with passwordEnv, or watch the source's state in edge-agent status",
        )
        return
    password = smb.password if smb.password is not None else os.environ.get(smb.password_env or "")
    if password is None:
        return  # the variable is not set: a problem of the local checks already
    try:
        from edge_agent.sources.smb import SmbSource  # noqa: PLC0415 - SMB support is optional
    except ImportError as e:
        found.problem(
            f"{key}.type",
            f"SMB support is not installed ({e.name or e})",
            "install it: pip install 'edge-agent[smb]'",
        )
        return
    share = rf"\\{smb.server}\{smb.share}" + (f"\\{smb.folder}" if smb.folder else "")
    reader = SmbSource(source, password)
    try:
        files = reader.scan()
    except SourceAccessError as e:
        found.problem(f"{key}.smb", e.reason, e.hint)
    except SourceUnavailableError as e:
        found.problem(
            f"{key}.smb.server",
            e.reason,
            "check server and port, and that this machine may reach it (firewall: TCP 445)",
        )
    else:
        found.passed.append(f"SMB logon to {share} as {smb.username}: {len(files)} file(s) match")
    finally:
        reader.close()
