"""Publishing: where batches go (MQTT or Greengrass IPC), how fast, and the outbox bounds."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from edge_agent.config.base import Model, PositiveSeconds, problem, report
from edge_agent.config.paths import LocalPath

# IoT Core's limits (notes/iot-core-limits.md); the defaults, and the ceilings we accept.
IOT_MAX_PAYLOAD = 131_072
IOT_MAX_PUBLISHES_PER_SECOND = 100
IOT_MAX_BYTES_PER_SECOND = 524_288

# An AWS IoT Core data endpoint (xxx-ats.iot.eu-central-1.amazonaws.com, China: .com.cn).
_IOT_CORE_HOST = re.compile(r".+\.iot\.[a-z0-9-]+\.amazonaws\.com(\.cn)?", re.IGNORECASE)


class TlsConfig(Model):
    """Mutual TLS files for a direct MQTT connection (AWS IoT Core or a local broker)."""

    ca: Annotated[str, LocalPath()]
    """PEM file of the CA that signed the broker's certificate (IoT Core: AmazonRootCA1.pem)."""
    cert: Annotated[str | None, LocalPath()] = None
    """PEM file of the device certificate (mutual TLS)."""
    key: Annotated[str | None, LocalPath()] = None
    """PEM file of the device certificate's unencrypted private key."""

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert is None) != (self.key is None):
            report(
                TlsConfig,
                [
                    problem(
                        (),
                        "cert and key go together (the device certificate and its private key)",
                        "give both, or neither for server-only TLS",
                    )
                ],
            )
        return self


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (nothing crosses the network)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_iot_core(host: str) -> bool:
    """Whether ``host`` is an AWS IoT Core endpoint (which accepts TLS connections only)."""
    return _IOT_CORE_HOST.fullmatch(host) is not None


class MqttConfig(Model):
    """A direct MQTT connection with paho-mqtt."""

    host: str = "localhost"
    """Broker host: your AWS IoT Core endpoint (`aws iot describe-endpoint`) or a broker."""
    port: int = Field(default=8883, ge=1, le=65535)
    """Broker port (8883: MQTT over TLS; 1883: plain MQTT, loopback brokers)."""
    client_id: str | None = Field(default=None, max_length=128)
    """MQTT client id; null: `<thingName>-edge-agent` (never the bare thing name)."""
    protocol: Literal[5, "3.1.1"] = 5
    """MQTT protocol version."""
    tls: TlsConfig | None = None
    """TLS files; null: plain MQTT (only sensible for a broker on this machine)."""
    username: str | None = None
    """User name for brokers that want one (IoT Core authenticates by certificate)."""
    password: str | None = Field(default=None, repr=False)
    """Password for brokers that want one; without TLS only to a broker on this machine."""
    keep_alive_seconds: int = Field(default=60, ge=30, le=1200)
    """MQTT keep-alive interval."""
    connect_timeout_seconds: PositiveSeconds = 10
    """How long a connection attempt (TCP, TLS, CONNACK) may take."""
    max_inflight: int = Field(default=16, ge=1, le=1000)
    """Batches published and not yet acknowledged, at most."""
    # Long enough for a full window (maxInflight x maxPayloadBytes) to cross a slow uplink;
    # a dead link is found sooner by the keep-alive, this catches a PUBACK that never comes.
    ack_timeout_seconds: PositiveSeconds = 60
    """Seconds to wait for a PUBACK before the connection is dropped, made again and the batch
    re-sent with its batchId."""
    reconnect_min_seconds: PositiveSeconds = 1
    """First wait before reconnecting after a lost connection."""
    reconnect_max_seconds: PositiveSeconds = 60
    """Longest wait between reconnection attempts (the wait doubles up to it)."""

    @model_validator(mode="after")
    def _no_clear_text_password(self) -> MqttConfig:
        if self.password is not None and self.tls is None and not is_loopback(self.host):
            report(
                MqttConfig,
                [
                    problem(
                        ("password",),
                        f"it would cross the network to {self.host} in clear text",
                        "add a tls section (ca, and cert/key for mutual TLS), or reach the "
                        "broker on localhost",
                    )
                ],
            )
        return self

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol(cls, v: Any) -> Any:
        if v in (5, 5.0, "5", "5.0"):
            return 5
        if v in ("3.1.1", 311, "311", 4, "4"):
            return "3.1.1"
        return v

    def client_id_for(self, thing_name: str) -> str:
        """The client id the agent connects with."""
        # Never the bare thing name: the Greengrass nucleus connects with it, and IoT Core
        # drops the older of two connections that share a client id.
        return self.client_id or f"{thing_name}-edge-agent"


class GreengrassConfig(Model):
    """Publishing through the Greengrass nucleus (IPC)."""

    connect_timeout_seconds: PositiveSeconds = 30
    """How long connecting to the nucleus may take."""
    max_inflight: int = Field(default=8, ge=1, le=100)
    """Batches handed to the nucleus and not yet accepted, at most."""
    ack_timeout_seconds: PositiveSeconds = 60
    """Seconds to wait for the nucleus to answer a publish before the IPC connection is
    dropped, made again and the batch re-sent with its batchId."""
    local_alerts_topic: str = "edge-agent/alerts"
    """Local (Greengrass pub/sub) topic alerts are also published on, for other components."""


class PublishConfig(Model):
    """Where batches go and how fast."""

    target: Literal["mqtt", "greengrass"] = "mqtt"
    """mqtt: a direct connection (publish.mqtt); greengrass: through the nucleus (IPC)."""
    mqtt: MqttConfig = MqttConfig()
    """The direct MQTT connection (target mqtt)."""
    greengrass: GreengrassConfig = GreengrassConfig()
    """Publishing through the nucleus (target greengrass)."""
    qos: Literal[1] = 1
    """MQTT QoS; only 1 (acknowledged), so no row can be lost."""
    max_payload_bytes: int = Field(default=IOT_MAX_PAYLOAD, ge=2048, le=IOT_MAX_PAYLOAD)
    """Largest message, envelope included (IoT Core: 128 KiB)."""
    max_publishes_per_second: float | None = Field(default=IOT_MAX_PUBLISHES_PER_SECOND, gt=0)
    """Publish rate limit; null: unlimited (local brokers)."""
    max_bytes_per_second: float | None = Field(default=IOT_MAX_BYTES_PER_SECOND, gt=0)
    """Throughput limit in payload bytes per second; null: unlimited."""
    retry_rejected_seconds: PositiveSeconds = 300
    """A batch the broker refused (e.g. not authorized) is tried again after this long."""

    @model_validator(mode="after")
    def _iot_core_needs_tls(self) -> PublishConfig:
        mqtt = self.mqtt
        if self.target == "mqtt" and mqtt.tls is None and is_iot_core(mqtt.host):
            report(
                PublishConfig,
                [
                    problem(
                        ("mqtt", "tls"),
                        f"missing: {mqtt.host} is AWS IoT Core, which accepts TLS connections only",
                        "add tls: {ca: AmazonRootCA1.pem, cert: device.pem.crt, key: "
                        "private.pem.key}",
                    )
                ],
            )
        return self

    @field_validator("qos", mode="before")
    @classmethod
    def _qos(cls, v: Any) -> Any:
        if v in (0, 0.0, "0"):
            raise ValueError("QoS 0 has no acknowledgement, so rows could be lost; use qos: 1")
        if v in (1.0, "1"):
            return 1
        return v


class OutboxConfig(Model):
    """Bounds of the durable outbox in the state database."""

    max_bytes: int = Field(default=512 * 1024 * 1024, ge=1024 * 1024)
    """Largest outbox; when full, reading pauses (nothing unsent is dropped)."""
    min_free_disk_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    """Reading pauses while the disk of stateDir has less free space than this."""
