"""The farm worker: releases held readings, corrects published ones, keeps alerts current.

One task of the agent's TaskGroup; each step runs in a thread on its own database connection:
1. held readings whose joins became final, or whose grace period is over (``late: true``),
   are published;
2. readings published before context they lacked arrived (a late site file, a seeding file
   read after the tower file) are published again as corrections: the same source path and
   line, ``revision`` counting up, the full joins;
3. the alerts of every station whose readings changed are evaluated again.
Each step is one transaction (outbox rows in, reading states updated), so a crash repeats
nothing and loses nothing: a held reading stays held until a step commits its release.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from edge_agent.aio import wait_event
from edge_agent.batcher import BatchBuilder, Envelope, encode
from edge_agent.config.models import AgentConfig
from edge_agent.config.topics import TopicTemplate
from edge_agent.farm.alerts import (
    Run,
    StationReading,
    alert_message,
    restored,
    runs,
    stored,
)
from edge_agent.farm.enrich import Enricher, Joined
from edge_agent.farm.records import TowerReading
from edge_agent.farm.state import Change, FarmState
from edge_agent.publish.base import LOCAL_TOPIC_PREFIX
from edge_agent.state.db import StateDB
from edge_agent.state.ledger import Batch, make_batch_id
from edge_agent.state.outbox import OutboxGauge

log = logging.getLogger("edge_agent.farm")

STEP_SECONDS = 1.0
HELD_PER_STEP = 5_000
ALERT_LOOKBACK = 24 * 3600.0
PRUNE_EVERY = 600.0
MAX_READINGS_KEPT = 250_000  # published readings kept for corrections and alerts, at most
_COLUMNS = "file_ref, version, line, tower_id, station_id, tray_id, ts, record, sig, revision, late"


@dataclass(slots=True)
class _Out:
    """A reading to publish in this step."""

    file_ref: int
    version: int
    line: int
    reading: TowerReading
    record: dict[str, Any]
    joined: Joined
    late: bool
    revision: int


@dataclass(slots=True)
class _Step:
    out: list[_Out] = field(default_factory=list)
    stations: dict[tuple[str, str], float] = field(default_factory=dict)

    def touch(self, tower_id: str, station_id: str, ts: float) -> None:
        key = (tower_id, station_id)
        self.stations[key] = min(ts, self.stations.get(key, ts))


class FarmWorker:
    """Held readings, corrections and alerts (see the module docstring)."""

    def __init__(
        self,
        config: AgentConfig,
        state: FarmState,
        enricher: Enricher,
        db: StateDB,
        gauge: OutboxGauge,
        *,
        on_commit: Callable[[], None],
    ) -> None:
        assert config.cea is not None
        self.config = config
        self.cea = config.cea
        self.state = state
        self.enricher = enricher
        self.db = db
        self.gauge = gauge
        self.on_commit = on_commit
        self.wake_event = asyncio.Event()
        self.idle = asyncio.Event()  # set after a step that found nothing to do
        self._lock = threading.Lock()
        self._recheck_all = True
        self._last_prune = 0.0
        self._targets: dict[str, tuple[str, str]] = {}
        for source in config.sources:
            dataset = config.datasets[source.dataset]
            topic = TopicTemplate(dataset.topic).render(
                thingName=config.thing_name,
                dataset=source.dataset,
                kind=dataset.kind,
                source=source.name,
            )
            self._targets[source.name] = (source.dataset, topic)
        alerts = TopicTemplate(self.cea.alerts_topic).render(
            thingName=config.thing_name, dataset="alerts", kind="alert"
        )
        self._alert_topics = [alerts]
        if config.publish.target == "greengrass":
            local = config.publish.greengrass.local_alerts_topic
            self._alert_topics.append(LOCAL_TOPIC_PREFIX + local)
        self.stats = {"released": 0, "late": 0, "corrections": 0, "alerts": 0}

    # ------------------------------------------------------------------ async side

    def wake(self) -> None:
        """Something changed: step soon (event loop thread)."""
        self.wake_event.set()

    async def run(self, stop: threading.Event) -> None:
        """Step every second, or sooner when woken, until ``stop`` is set (then wake it)."""
        await asyncio.to_thread(self.restart_grace)
        while not stop.is_set():
            done = await asyncio.to_thread(self.step)
            if done or self.wake_event.is_set():
                self.idle.clear()
            else:
                self.idle.set()
            await wait_event(self.wake_event, STEP_SECONDS)
            self.wake_event.clear()

    def restart_grace(self) -> None:
        """After a restart, held readings get a fresh grace period: their context may be in
        files the sources have not read again yet."""
        until = time.time() + self.cea.grace_seconds
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE farm_readings SET hold_until = ? WHERE state = 'held' AND hold_until < ?",
                (until, until),
            )

    # ------------------------------------------------------------------ one step

    def step(self, now: float | None = None) -> int:
        """Release, correct and evaluate alerts once; returns how many messages went out."""
        with self._lock:
            now = time.time() if now is None else now
            work = _Step()
            changes = self.state.take_changes()
            if not self.gauge.full:
                self._release(work, now)
            self._correct(work, changes, now)
            for change in changes:
                if change.kind == "station" and change.tower_id and change.key:
                    work.touch(change.tower_id, change.key, change.start)
            if work.out:
                self._publish(work.out, now)
            alerts = self._alerts(work.stations) if work.stations else 0
            if now - self._last_prune > PRUNE_EVERY:
                self._prune(now)
            return len(work.out) + alerts + len(changes)

    def _release(self, work: _Step, now: float) -> None:
        rows = self.db.query(
            f"SELECT {_COLUMNS}, hold_until FROM farm_readings WHERE state = 'held' "
            "ORDER BY ts LIMIT ?",
            (HELD_PER_STEP,),
        )
        grace = self.cea.grace_seconds
        for row in rows:
            reading, record = _reading(row)
            joined = self.enricher.join(record, reading)
            hold_until = row["hold_until"] or 0.0
            # A wall clock set back (an hour, say) must not hold readings for that long.
            expired = now >= hold_until or now < hold_until - grace - 60
            if joined.complete or expired:
                late = not joined.complete
                work.out.append(
                    _Out(
                        row["file_ref"],
                        row["version"],
                        row["line"],
                        reading,
                        record,
                        joined,
                        late,
                        0,
                    )
                )
                work.touch(reading.tower_id, reading.station_id, reading.ts)
                self.stats["late" if late else "released"] += 1

    def _correct(self, work: _Step, changes: Iterable[Change], now: float) -> None:
        queries = self._correction_queries(changes)
        if self._recheck_all:
            # At start: changes noted in memory before a crash are gone; look at everything.
            self._recheck_all = False
            queries.append(("state = 'sent'", ()))
            for row in self.db.query(
                "SELECT tower_id, station_id, MIN(ts) AS ts FROM farm_readings "
                "WHERE state = 'sent' GROUP BY tower_id, station_id"
            ):
                work.touch(row["tower_id"], row["station_id"], row["ts"] + ALERT_LOOKBACK)
        seen = {(o.file_ref, o.version, o.line) for o in work.out}
        for where, params in queries:
            rows = self.db.query(f"SELECT {_COLUMNS} FROM farm_readings WHERE {where}", params)
            for row in rows:
                key = (row["file_ref"], row["version"], row["line"])
                if key in seen:
                    continue
                reading, record = _reading(row)
                joined = self.enricher.join(record, reading)
                if joined.sig == row["sig"]:
                    continue
                seen.add(key)
                late = bool(row["late"]) and not joined.complete
                work.out.append(_Out(*key, reading, record, joined, late, int(row["revision"]) + 1))
                work.touch(reading.tower_id, reading.station_id, reading.ts)
                self.stats["corrections"] += 1

    def _correction_queries(self, changes: Iterable[Change]) -> list[tuple[str, tuple[Any, ...]]]:
        spans: dict[tuple[str, str | None, str | None], list[float]] = {}
        for change in changes:
            if change.kind == "station":
                continue
            key = (change.kind, change.tower_id, change.key)
            span = spans.get(key)
            if span is None:
                spans[key] = [change.start, change.end]
            else:
                span[0], span[1] = min(span[0], change.start), max(span[1], change.end)
        queries: list[tuple[str, tuple[Any, ...]]] = []
        sent = "state = 'sent' AND "
        for (kind, tower_id, target), (start, end) in spans.items():
            if kind == "site":
                queries.append((sent + "ts BETWEEN ? AND ?", (start, end)))
            elif kind == "automation":
                queries.append(
                    (sent + "tower_id = ? AND ts BETWEEN ? AND ?", (tower_id, start, end))
                )
            elif kind == "tray":
                queries.append(
                    (sent + "tower_id = ? AND tray_id = ? AND ts >= ?", (tower_id, target, start))
                )
            elif kind == "file" and target is not None:
                file_ref, version = (int(part) for part in target.split(":"))
                queries.append(
                    (
                        sent + "file_ref = ? AND version = ? AND line BETWEEN ? AND ?",
                        (file_ref, version, int(start), int(end)),
                    )
                )
        return queries

    # ------------------------------------------------------------------ publishing

    def _publish(self, out: list[_Out], now: float) -> None:
        ingested_at = _iso_now(now)
        groups: dict[tuple[int, int], list[_Out]] = {}
        for item in out:
            groups.setdefault((item.file_ref, item.version), []).append(item)
        batches: list[tuple[Batch, int]] = []
        updates: list[tuple[Any, ...]] = []
        for (file_ref, version), items in groups.items():
            envelope = self._envelope(file_ref, version)
            items.sort(key=lambda o: o.line)
            for batch in _batches(
                envelope, items, self.config.publish.max_payload_bytes, ingested_at
            ):
                batches.append((batch, file_ref))
            for item in items:
                fields = item.joined.fields
                updates.append(
                    (
                        item.joined.sig,
                        orjson.dumps(fields["deviations"]) if fields["deviations"] else None,
                        int(item.late),
                        item.revision,
                        now,
                        file_ref,
                        version,
                        item.line,
                    )
                )
        added = 0
        with self.db.transaction() as conn:
            for batch, file_ref in batches:
                added += _insert(conn, batch, file_ref, now)
            conn.executemany(
                "UPDATE farm_readings SET state = 'sent', sig = ?, deviations = ?, late = ?, "
                "revision = ?, hold_until = NULL, updated = ? "
                "WHERE file_ref = ? AND version = ? AND line = ?",
                updates,
            )
        self.gauge.add(added)
        self.on_commit()

    def _envelope(self, file_ref: int, version: int) -> Envelope:
        rows = self.db.query(
            "SELECT f.source, f.path, f.file_id, ff.units FROM files f "
            "LEFT JOIN farm_files ff ON ff.file_ref = f.id AND ff.version = ? WHERE f.id = ?",
            (version, file_ref),
        )
        row = rows[0]
        dataset, topic = self._targets.get(row["source"], ("tower", ""))
        units = orjson.loads(row["units"]) if row["units"] else {}
        return Envelope(
            thing_name=self.config.thing_name,
            dataset=dataset,
            kind="tower",
            source=row["source"],
            path=row["path"],
            file_id=row["file_id"],
            version=version,
            topic=topic,
            units=units,
        )

    # ------------------------------------------------------------------ alerts

    def _alerts(self, stations: dict[tuple[str, str], float]) -> int:
        messages: list[dict[str, Any]] = []
        writes: list[tuple[str, tuple[Any, ...]]] = []
        for (tower_id, station_id), start in stations.items():
            self._station_alerts(tower_id, station_id, start - ALERT_LOOKBACK, messages, writes)
        if not messages and not writes:
            return 0
        now = time.time()
        added = 0
        with self.db.transaction() as conn:
            for sql, params in writes:
                conn.execute(sql, params)
            for message in messages:
                payload = encode(message)
                for topic in self._alert_topics:
                    batch_id = make_batch_id(
                        message["alertId"], 0, 0, 0, f"alert:{message['event']}:{topic}:{now}"
                    )
                    added += _insert(conn, Batch(batch_id, topic, payload, 1), None, now)
        self.stats["alerts"] += len(messages)
        self.gauge.add(added)
        self.on_commit()
        for message in messages:
            log.info(
                "recipe alert %s",
                message["event"],
                extra={
                    k: message.get(k)
                    for k in ("alertId", "growId", "variable", "value", "min", "max", "since")
                },
            )
        return len(messages)

    def _station_alerts(
        self,
        tower_id: str,
        station_id: str,
        window: float,
        messages: list[dict[str, Any]],
        writes: list[tuple[str, tuple[Any, ...]]],
    ) -> None:
        rows = self.db.query(
            "SELECT ts, tray_id, sig, deviations FROM farm_readings WHERE tower_id = ? AND "
            "station_id = ? AND state = 'sent' AND ts >= ? ORDER BY ts, file_ref, line",
            (tower_id, station_id, window),
        )
        held = self.db.query(
            "SELECT MIN(ts) AS ts FROM farm_readings WHERE tower_id = ? AND station_id = ? "
            "AND state = 'held'",
            (tower_id, station_id),
        )[0]["ts"]
        if held is not None:
            # Readings from the first held one on wait for it: runs are judged on the readings
            # in order, not on those that happen to be out first (a release re-evaluates).
            rows = [r for r in rows if r["ts"] < held]
        if not rows:
            return
        earlier = self.db.query(
            "SELECT 1 FROM farm_readings WHERE tower_id = ? AND station_id = ? AND state = 'sent' "
            "AND ts < ? LIMIT 1",
            (tower_id, station_id, window),
        )
        readings = [
            StationReading(
                r["ts"],
                r["tray_id"],
                (r["sig"] or "").split("|", 1)[0] or None,
                orjson.loads(r["deviations"]) if r["deviations"] else [],
            )
            for r in rows
        ]
        first_ts = readings[0].ts
        minimum = self.enricher.recipes.min_deviation_seconds(tower_id)
        computed = {
            (run.variable, run.since): run
            for run in runs(readings, truncated_start=bool(earlier))
            if run.seconds >= minimum or run.truncated
        }
        known = {
            (r["variable"], r["since"]): (r["state"], restored(r["data"]))
            for r in self.db.query(
                "SELECT variable, since, state, data FROM farm_alerts WHERE tower_id = ? AND "
                "station_id = ? AND (since >= ? OR state = 'open')",
                (tower_id, station_id, first_ts),
            )
        }

        def emit(run: Run, event: str, reason: str = "") -> None:
            messages.append(
                alert_message(
                    run,
                    event,
                    thing_name=self.config.thing_name,
                    tower_id=tower_id,
                    station_id=station_id,
                    reason=reason,
                )
            )

        def keep(run: Run, state: str) -> None:
            writes.append(
                (
                    "INSERT OR REPLACE INTO farm_alerts (tower_id, station_id, variable, since, "
                    "until, state, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (tower_id, station_id, run.variable, run.since, run.last, state, stored(run)),
                )
            )

        for key, run in computed.items():
            if run.truncated:
                # Started before the window: continue the open alert it belongs to, if any.
                older = [
                    (k, r)
                    for k, (s, r) in known.items()
                    if k[0] == run.variable and s == "open" and k[1] < first_ts
                ]
                if older and run.ended:
                    (_old_key, old), *_ = older
                    old.last, old.readings = run.last, old.readings + run.readings
                    old.latest, old.grow_id, old.tray_id = run.latest, run.grow_id, run.tray_id
                    emit(old, "close")
                    keep(old, "closed")
                continue
            state = "closed" if run.ended else "open"
            previous = known.get(key)
            if previous is None:
                emit(run, "open")
                if run.ended:
                    emit(run, "close")
            elif previous[0] == "open" and run.ended:
                emit(run, "close")
            elif previous[0] == "closed" and not run.ended:
                emit(run, "open", "reopened: readings that ended it were corrected")
            elif previous[0] == "closed" and previous[1].last != run.last:
                emit(run, "close", "revised: corrected readings moved its end")
            if previous is None or previous[0] != state or stored(previous[1]) != stored(run):
                keep(run, state)
        for key, (_state, run) in known.items():
            if key[1] < first_ts or key in computed:
                continue
            emit(run, "withdraw", "the readings it was based on were corrected")
            writes.append(
                (
                    "DELETE FROM farm_alerts WHERE tower_id = ? AND station_id = ? AND "
                    "variable = ? AND since = ?",
                    (tower_id, station_id, key[0], key[1]),
                )
            )

    # ------------------------------------------------------------------ housekeeping

    def _prune(self, now: float) -> None:
        self._last_prune = now
        self.state.prune()
        window = self.cea.correction_window_hours * 3600
        history = self.cea.history_days * 86_400
        with self.db.transaction() as conn:
            conn.execute(
                "DELETE FROM farm_readings WHERE state = 'sent' AND updated < ?", (now - window,)
            )
            conn.execute(
                "DELETE FROM farm_readings WHERE state = 'sent' AND ts < (SELECT ts FROM "
                "farm_readings WHERE state = 'sent' ORDER BY ts DESC LIMIT 1 OFFSET ?)",
                (MAX_READINGS_KEPT,),
            )
            for table in ("farm_site", "farm_automation"):
                conn.execute(
                    f"DELETE FROM {table} WHERE ts < (SELECT MAX(ts) FROM {table}) - ?",
                    (history,),
                )
            conn.execute(
                "DELETE FROM farm_alerts WHERE state = 'closed' AND until < "
                "(SELECT COALESCE(MAX(ts), 0) FROM farm_readings) - ?",
                (history,),
            )


def _reading(row: Any) -> tuple[TowerReading, dict[str, Any]]:
    record = orjson.loads(row["record"])
    return TowerReading(row["ts"], row["tower_id"], row["station_id"], row["tray_id"]), record


def _batches(
    envelope: Envelope, items: list[_Out], max_bytes: int, ingested_at: str
) -> list[Batch]:
    """Payload-sized batches of one file's readings; each batch id is unique: a reading is
    released once, and each correction of it has a higher revision."""
    done: list[Batch] = []
    builder: BatchBuilder | None = None
    for item in items:
        record = dict(item.record)
        record.update(item.joined.fields)
        record["late"] = item.late
        if item.revision:
            record["revision"] = item.revision
        text = encode(record)
        if builder is not None and not builder.fits(text):
            batch = builder.take()
            assert batch is not None
            done.append(batch)
            builder = None
        if builder is None:
            kind = f"correction:{item.revision}" if item.revision else "held"
            builder = BatchBuilder(envelope, kind, max_bytes, ingested_at)
        builder.add(text, item.line)
    if builder is not None:
        batch = builder.take()
        if batch is not None:
            done.append(batch)
    return done


def _insert(conn: Any, batch: Batch, file_ref: int | None, now: float) -> int:
    cursor = conn.execute(
        "INSERT OR IGNORE INTO outbox (batch_id, file_ref, topic, payload, rows, created) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (batch.batch_id, file_ref, batch.topic, batch.payload, batch.rows, now),
    )
    return len(batch.payload) if cursor.rowcount else 0


def _iso_now(now: float) -> str:
    stamp = datetime.fromtimestamp(now, UTC).replace(tzinfo=None)
    return stamp.isoformat(timespec="milliseconds") + "Z"
