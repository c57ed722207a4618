"""Operations: logging, and what the agent tells operators (health endpoint, heartbeat)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from edge_agent.config.base import Model, PositiveSeconds
from edge_agent.config.publish import is_loopback
from edge_agent.config.topics import TopicTemplate, check_topic


class LoggingConfig(Model):
    """Log level and shape."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Least severe level logged (any case)."""
    format: Literal["json", "text"] = "json"
    """json: one JSON object per line (for log shippers); text: lines for people."""

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


# --------------------------------------------------------------------------- health


class HealthConfig(Model):
    """What the agent tells operators: /healthz and /metrics, the heartbeat, progress lines."""

    host: str = "127.0.0.1"
    """Address /healthz and /metrics listen on; loopback only (they have no password)."""
    port: int | None = Field(default=9108, ge=0, le=65535)
    """Port of /healthz and /metrics; null: no HTTP endpoint; 0: any free port (logged)."""
    heartbeat_seconds: PositiveSeconds | None = 60.0
    """How often a status message goes to statusTopic; null: never."""
    status_topic: str = "dt/edge-agent/{thingName}/status"
    """Topic of the heartbeat; only {thingName} may be used in it."""
    progress_seconds: PositiveSeconds = 10.0
    """How often a long file's reading progress is logged."""
    unhealthy_after_seconds: PositiveSeconds = 120.0
    """/healthz answers 503 once the publisher stays disconnected, a source unreadable, or a
    non-empty outbox unacknowledged this long."""

    @field_validator("host")
    @classmethod
    def _loopback(cls, v: str) -> str:
        if not is_loopback(v):
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
