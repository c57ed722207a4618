"""Publishing: where batches go (MQTT or Greengrass IPC), how fast, and the outbox bounds."""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from edge_agent.config.base import Model, PositiveSeconds

# IoT Core's limits (notes/iot-core-limits.md); the defaults, and the ceilings we accept.
IOT_MAX_PAYLOAD = 131_072
IOT_MAX_PUBLISHES_PER_SECOND = 100
IOT_MAX_BYTES_PER_SECOND = 524_288


class TlsConfig(Model):
    """Mutual TLS files for a direct MQTT connection (AWS IoT Core or a local broker)."""

    ca: str
    cert: str | None = None
    key: str | None = None

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert is None) != (self.key is None):
            raise ValueError(
                "cert and key go together (the device certificate and its private key)"
            )
        return self


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MqttConfig(Model):
    """A direct MQTT connection with paho-mqtt."""

    host: str = "localhost"
    port: int = Field(default=8883, ge=1, le=65535)
    client_id: str | None = Field(default=None, max_length=128)
    protocol: Literal[5, "3.1.1"] = 5
    tls: TlsConfig | None = None
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    keep_alive_seconds: int = Field(default=60, ge=30, le=1200)
    connect_timeout_seconds: PositiveSeconds = 10
    max_inflight: int = Field(default=16, ge=1, le=1000)
    # Long enough for a full window (maxInflight x maxPayloadBytes) to cross a slow uplink;
    # a dead link is found sooner by the keep-alive, this catches a PUBACK that never comes.
    ack_timeout_seconds: PositiveSeconds = Field(
        default=60,
        description="Seconds to wait for a PUBACK before the connection is dropped, made again "
        "and the batch re-sent with its batchId.",
    )
    reconnect_min_seconds: PositiveSeconds = 1
    reconnect_max_seconds: PositiveSeconds = 60

    @model_validator(mode="after")
    def _no_clear_text_password(self) -> MqttConfig:
        if self.password is not None and self.tls is None and not _is_loopback(self.host):
            raise ValueError(
                f"password: it would cross the network to {self.host} in clear text — add a "
                "tls section (ca, and cert/key for mutual TLS), or reach the broker on localhost"
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


class GreengrassConfig(Model):
    """Publishing through the Greengrass nucleus (IPC)."""

    connect_timeout_seconds: PositiveSeconds = 30
    max_inflight: int = Field(default=8, ge=1, le=100)
    ack_timeout_seconds: PositiveSeconds = Field(
        default=60,
        description="Seconds to wait for the nucleus to answer a publish before the IPC "
        "connection is dropped, made again and the batch re-sent with its batchId.",
    )
    local_alerts_topic: str = "edge-agent/alerts"


class PublishConfig(Model):
    """Where batches go and how fast."""

    target: Literal["mqtt", "greengrass"] = "mqtt"
    mqtt: MqttConfig = MqttConfig()
    greengrass: GreengrassConfig = GreengrassConfig()
    qos: Literal[1] = 1
    max_payload_bytes: int = Field(default=IOT_MAX_PAYLOAD, ge=2048, le=IOT_MAX_PAYLOAD)
    max_publishes_per_second: float | None = Field(default=IOT_MAX_PUBLISHES_PER_SECOND, gt=0)
    max_bytes_per_second: float | None = Field(default=IOT_MAX_BYTES_PER_SECOND, gt=0)
    retry_rejected_seconds: PositiveSeconds = 300

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
    min_free_disk_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
