"""Counters and per-source state the agent keeps for status, logs and health.

Everything here lives in memory, on the event loop (reading threads report through
``call_soon_threadsafe``); the ledger in the state database holds the durable truth. Other
threads (the /metrics server) only read these plain numbers.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from edge_agent.supervise import ComponentStatus

ERROR_STATES = frozenset({"unavailable", "access-denied"})
"""Source states that mean the source cannot be read (``paused`` is back-pressure, not an error)."""


class SourceStatus:
    """What one source is doing.

    ``state``, ``files_waiting`` and ``current_file`` are set by the source's runner; setting
    them also records since when the state holds and since when the source has had work
    (files ready or being read), from which ``lag_seconds`` is derived.
    """

    __slots__ = (
        "_busy_since",
        "_current_file",
        "_files_waiting",
        "_state",
        "detail",
        "errors",
        "files_seen",
        "last_scan",
        "last_warning",
        "name",
        "rows_published",
        "rows_quarantined",
        "rows_read",
        "rows_skipped",
        "state_since",
        "warnings",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self._state = "starting"  # starting | watching | unavailable | access-denied | paused
        self.state_since = time.monotonic()
        self.detail = ""
        self.files_seen = 0
        self._files_waiting = 0
        self._current_file: str | None = None
        self._busy_since: float | None = None
        self.last_scan: float | None = None  # event-loop time of the last complete scan
        # Rows of finished passes by outcome ("published" = queued in the outbox as records).
        self.rows_published = 0
        self.rows_quarantined = 0
        self.rows_skipped = 0
        # Rows of every commit as it happens (all outcomes together), for rates.
        self.rows_read = 0
        self.errors = 0
        # Files whose layout or typing drew a warning (a mapped column the file lacks, ...).
        self.warnings = 0
        self.last_warning = ""

    @property
    def state(self) -> str:
        """starting | watching | unavailable | access-denied | paused."""
        return self._state

    @state.setter
    def state(self, value: str) -> None:
        if value != self._state:
            self._state = value
            self.state_since = time.monotonic()

    @property
    def files_waiting(self) -> int:
        """Files settled and queued for a reading pass."""
        return self._files_waiting

    @files_waiting.setter
    def files_waiting(self, value: int) -> None:
        self._files_waiting = value
        if value and self._busy_since is None:
            self._busy_since = time.monotonic()

    @property
    def current_file(self) -> str | None:
        """The file a reading pass is running on, if any."""
        return self._current_file

    @current_file.setter
    def current_file(self, value: str | None) -> None:
        self._current_file = value
        if value is not None:
            if self._busy_since is None:
                self._busy_since = time.monotonic()
        elif not self._files_waiting:
            # The runner takes the next file off its queue (waiting drops to 0) just before it
            # names it current, so only the end of a pass with nothing queued means caught up.
            self._busy_since = None

    def lag_seconds(self, now: float | None = None) -> float:
        """How long the source has continuously had files waiting or being read (0: caught up)."""
        if self._busy_since is None:
            return 0.0
        return max(0.0, (time.monotonic() if now is None else now) - self._busy_since)

    def as_dict(self, now: float | None = None) -> dict[str, Any]:
        """A JSON-able copy (``now``: ``time.monotonic()``; durations never use the wall clock,
        which may be set back)."""
        now = time.monotonic() if now is None else now
        return {
            "name": self.name,
            "state": self._state,
            "stateSeconds": round(now - self.state_since, 1),
            "detail": self.detail,
            "filesSeen": self.files_seen,
            "filesWaiting": self._files_waiting,
            "currentFile": self._current_file,
            "lagSeconds": round(self.lag_seconds(now), 1),
            "rowsQueued": self.rows_published,
            "rowsQuarantined": self.rows_quarantined,
            "rowsSkipped": self.rows_skipped,
            "rowsRead": self.rows_read,
            "errors": self.errors,
            "warnings": self.warnings,
            "lastWarning": self.last_warning,
        }


@dataclass(slots=True)
class AgentStats:
    """Counters of the running agent (in memory; the ledger holds the durable truth)."""

    started: float = field(default_factory=time.time)
    pid: int = field(default_factory=os.getpid)
    sources: dict[str, SourceStatus] = field(default_factory=dict)
    batches_published: int = 0
    rows_acknowledged: int = 0
    publish_errors: dict[str, int] = field(default_factory=dict)
    publisher_state: str = "starting"
    files_disposed: int = 0
    # Set by the health monitor: {"healthy": bool, "problems": [...]} and how often the
    # status snapshot is written (so ``edge-agent status`` can tell a live agent from a gone one).
    health: dict[str, Any] = field(default_factory=dict)
    status_interval_seconds: float | None = None
    components: dict[str, ComponentStatus] = field(default_factory=dict)

    def component(self, name: str) -> ComponentStatus:
        """The status of a supervised loop (created on first use)."""
        status = self.components.get(name)
        if status is None:
            status = self.components[name] = ComponentStatus(since=time.monotonic())
        return status

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
        """A JSON-able copy (what the status snapshot in the state database holds)."""
        now = time.time()
        elapsed = time.monotonic()
        return {
            "started": self.started,
            "pid": self.pid,
            "updated": now,
            "statusIntervalSeconds": self.status_interval_seconds,
            "publisherState": self.publisher_state,
            "health": dict(self.health),
            "batchesPublished": self.batches_published,
            "rowsAcknowledged": self.rows_acknowledged,
            "publishErrors": dict(self.publish_errors),
            "filesDisposed": self.files_disposed,
            "sources": {name: s.as_dict(elapsed) for name, s in self.sources.items()},
            "components": {
                name: c.as_dict(elapsed)
                for name, c in self.components.items()
                if c.state != "running" or c.failures
            },
        }
