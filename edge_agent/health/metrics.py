"""The Prometheus metrics of one agent, built at every scrape from what it already counts.

A custom collector on the agent's own ``CollectorRegistry`` (never the global one: several
agents may run in one process): the in-memory counters (``AgentStats``) since the agent started,
and the ledger and outbox read from the state database (read-only, in the scraping thread).
No configuration value is exported, so no password or key can leak through here.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from edge_agent.health.monitor import Verdict
from edge_agent.stats import AgentStats, SourceStatus

log = logging.getLogger("edge_agent.health")

SOURCE_STATES = ("starting", "watching", "paused", "unavailable", "access-denied")
LEDGER_STATES = ("new", "reading", "read", "duplicate", "failed", "disposed")

# name, help, counter (else gauge), value: the per-source metrics kept in memory.
_PER_SOURCE: tuple[tuple[str, str, bool, Callable[[SourceStatus, float], float]], ...] = (
    (
        "edge_agent_rows_queued",
        "Valid rows committed to the outbox by finished reading passes",
        True,
        lambda s, now: s.rows_published,
    ),
    (
        "edge_agent_rows_quarantined",
        "Rows quarantined with a reason by finished reading passes",
        True,
        lambda s, now: s.rows_quarantined,
    ),
    (
        "edge_agent_rows_skipped",
        "Rows skipped by an explicit rule by finished reading passes",
        True,
        lambda s, now: s.rows_skipped,
    ),
    (
        "edge_agent_rows_read",
        "Rows committed as reading goes, all outcomes (for rates)",
        True,
        lambda s, now: s.rows_read,
    ),
    (
        "edge_agent_source_errors",
        "Reading passes that failed (retried later)",
        True,
        lambda s, now: s.errors,
    ),
    (
        "edge_agent_file_warnings",
        "Passes over files whose layout or typing drew a warning (e.g. a mapped column missing)",
        True,
        lambda s, now: s.warnings,
    ),
    (
        "edge_agent_files_seen",
        "Files matching the source's patterns at its last scan",
        False,
        lambda s, now: s.files_seen,
    ),
    (
        "edge_agent_files_waiting",
        "Files settled and waiting for a reading pass",
        False,
        lambda s, now: s.files_waiting,
    ),
    (
        "edge_agent_source_lag_seconds",
        "How long the source has continuously had files waiting or being read (0: caught up)",
        False,
        lambda s, now: round(s.lag_seconds(now), 3),
    ),
)


class AgentCollector(Collector):
    """Yields every ``edge_agent_*`` metric of one agent."""

    def __init__(
        self,
        stats: AgentStats,
        state_dir: Path,
        verdict: Callable[[], Verdict],
        connected: Callable[[], bool],
        outbox_limit_bytes: int,
    ) -> None:
        self.stats = stats
        self.state_dir = state_dir
        self.verdict = verdict
        self.connected = connected
        self.outbox_limit_bytes = outbox_limit_bytes

    def collect(self) -> Iterator[Metric]:
        """The metrics now (called by the registry at each scrape)."""
        yield from self._memory()
        yield from self._ledger()

    def _memory(self) -> Iterator[Metric]:
        stats, now = self.stats, time.monotonic()
        verdict = self.verdict()
        yield GaugeMetricFamily(
            "edge_agent_healthy", "1 if /healthz answers 200, else 0", value=int(verdict.healthy)
        )
        yield GaugeMetricFamily(
            "edge_agent_start_time_seconds", "When the agent started (Unix time)", stats.started
        )
        yield GaugeMetricFamily(
            "edge_agent_publisher_connected",
            "1 while the publisher is connected (MQTT broker or Greengrass nucleus)",
            value=int(self.connected()),
        )
        yield CounterMetricFamily(
            "edge_agent_batches_published",
            "Batches acknowledged by the broker since the agent started",
            value=stats.batches_published,
        )
        yield CounterMetricFamily(
            "edge_agent_rows_published",
            "Rows (records and quarantine entries) in batches acknowledged and removed from "
            "the outbox since the agent started",
            value=stats.rows_acknowledged,
        )
        errors = CounterMetricFamily(
            "edge_agent_publish_errors",
            "Failed publish attempts since the agent started, by kind (not-connected, "
            "transient, rejected:<reason code>)",
            labels=["kind"],
        )
        for kind, count in sorted(stats.publish_errors.items()):
            errors.add_metric([kind], count)
        yield errors
        yield CounterMetricFamily(
            "edge_agent_files_disposed",
            "Files moved or deleted after all their batches were acknowledged",
            value=stats.files_disposed,
        )
        for metric, doc, counter, value in _PER_SOURCE:
            family: CounterMetricFamily | GaugeMetricFamily = (
                CounterMetricFamily(metric, doc, labels=["source"])
                if counter
                else GaugeMetricFamily(metric, doc, labels=["source"])
            )
            for name, s in sorted(stats.sources.items()):
                family.add_metric([name], value(s, now))
            yield family
        state = GaugeMetricFamily(
            "edge_agent_source_state",
            "1 for the state the source is in, 0 for the others",
            labels=["source", "state"],
        )
        for name, s in sorted(stats.sources.items()):
            for known in sorted({*SOURCE_STATES, s.state}):
                state.add_metric([name, known], int(known == s.state))
        yield state

    def _ledger(self) -> Iterator[Metric]:
        from edge_agent.status import collect  # noqa: PLC0415 - status imports the CLI side

        try:
            data = collect(self.state_dir)
        except (OSError, sqlite3.Error) as e:
            log.warning("metrics: cannot read the state database", extra={"error": str(e)})
            return
        outbox = data["outbox"]
        yield GaugeMetricFamily(
            "edge_agent_outbox_batches", "Batches waiting in the outbox", outbox["batches"]
        )
        yield GaugeMetricFamily(
            "edge_agent_outbox_rows", "Rows in batches waiting in the outbox", outbox["rows"]
        )
        yield GaugeMetricFamily(
            "edge_agent_outbox_bytes", "Payload bytes waiting in the outbox", outbox["bytes"]
        )
        yield GaugeMetricFamily(
            "edge_agent_outbox_limit_bytes",
            "outbox.maxBytes: reading pauses at this size",
            self.outbox_limit_bytes,
        )
        yield GaugeMetricFamily(
            "edge_agent_outbox_oldest_age_seconds",
            "Age of the oldest batch waiting in the outbox (0 when empty)",
            outbox["oldestAgeSeconds"] or 0.0,
        )
        yield GaugeMetricFamily(
            "edge_agent_outbox_refused_batches",
            "Batches in the outbox the broker refused at least once",
            outbox["failing"],
        )
        waiting = GaugeMetricFamily(
            "edge_agent_source_outbox_batches",
            "Batches waiting in the outbox, by the source they were read from",
            labels=["source"],
        )
        files = GaugeMetricFamily(
            "edge_agent_files",
            "Files in the ledger by state (new, reading, read, duplicate, failed, disposed)",
            labels=["source", "state"],
        )
        for name, entry in sorted(data["sources"].items()):
            waiting.add_metric([name], entry["outboxBatches"])
            for state in sorted({*LEDGER_STATES, *entry["files"]}):
                files.add_metric([name, state], entry["files"].get(state, 0))
        yield waiting
        yield files
        acknowledged = data["acknowledged"]
        yield CounterMetricFamily(
            "edge_agent_ledger_rows_acknowledged",
            "Rows acknowledged since the state directory was created (survives restarts)",
            value=acknowledged["rows"],
        )


def make_registry(collector: AgentCollector) -> CollectorRegistry:
    """A registry of its own for one agent."""
    registry = CollectorRegistry()
    registry.register(collector)
    return registry
