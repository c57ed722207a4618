"""Operations: logging, and what the agent tells operators (health endpoint, heartbeat)."""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import Field, field_validator

from edge_agent.config.base import Model, PositiveSeconds
from edge_agent.config.topics import TopicTemplate, check_topic


class LoggingConfig(Model):
    """Log level and shape."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


# --------------------------------------------------------------------------- health


class HealthConfig(Model):
    """What the agent tells operators: /healthz and /metrics, the heartbeat, progress lines.

    ``port``: 9108 by default; ``null`` turns the HTTP endpoint off, ``0`` takes any free port
    (logged at start). ``unhealthyAfterSeconds``: how long the publisher may stay disconnected,
    a source may stay unreadable, or a non-empty outbox may go without an acknowledgement
    before /healthz answers 503.
    """

    host: str = "127.0.0.1"
    port: int | None = Field(default=9108, ge=0, le=65535)
    heartbeat_seconds: PositiveSeconds | None = 60.0
    status_topic: str = "dt/edge-agent/{thingName}/status"
    progress_seconds: PositiveSeconds = 10.0
    unhealthy_after_seconds: PositiveSeconds = 120.0

    @field_validator("host")
    @classmethod
    def _loopback(cls, v: str) -> str:
        if v == "localhost":
            return v
        try:
            loopback = ipaddress.ip_address(v).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(
                f"{v!r} is not a loopback address: /metrics and /healthz answer anyone who can "
                "connect, without a password or TLS, and a gateway sits on the plant network — "
                "use 127.0.0.1 (or ::1), and scrape from elsewhere through an authenticated "
                "proxy or an SSH tunnel"
            )
        return v

    @field_validator("status_topic")
    @classmethod
    def _status_topic(cls, v: str) -> str:
        template = TopicTemplate(v)  # raises ValueError naming the bad placeholder
        if template.fields - {"thingName"}:
            raise ValueError("the status topic can only use {thingName}")
        problem = check_topic(template.render(thingName="thing"))
        if problem:
            raise ValueError(f"{v!r}: {problem}")
        return v
