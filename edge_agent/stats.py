"""Counters and per-source state the agent keeps for status, logs and health."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class SourceStatus:
    """What one source is doing."""

    name: str
    state: str = "starting"  # starting | watching | unavailable | access-denied | paused
    detail: str = ""
    files_seen: int = 0
    files_waiting: int = 0
    current_file: str | None = None
    last_scan: float | None = None
    rows_published: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0
    errors: int = 0


@dataclass(slots=True)
class AgentStats:
    """Counters of the running agent (in memory; the ledger holds the durable truth)."""

    started: float = field(default_factory=time.time)
    sources: dict[str, SourceStatus] = field(default_factory=dict)
    batches_published: int = 0
    rows_acknowledged: int = 0
    publish_errors: dict[str, int] = field(default_factory=dict)
    publisher_state: str = "starting"
    files_disposed: int = 0

    def source(self, name: str) -> SourceStatus:
        """The status of a source (created on first use)."""
        status = self.sources.get(name)
        if status is None:
            status = self.sources[name] = SourceStatus(name)
        return status

    def publish_error(self, kind: str) -> None:
        """Count a publish error by kind."""
        self.publish_errors[kind] = self.publish_errors.get(kind, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able copy."""
        data = asdict(self)
        data["sources"] = {k: asdict(v) for k, v in self.sources.items()}
        data["updated"] = time.time()
        return data
