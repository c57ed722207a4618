"""The farm worker: releases held readings, corrects published ones, keeps alerts current.

One task of the agent's TaskGroup; each step runs in a thread on its own database connection:
1. held readings whose joins became final, or whose grace period is over (``late: true``),
   are published;
2. readings published before context they lacked arrived (a late site file, a seeding file
   read after the tower file) are published again as corrections: the same source path and
   line, ``revision`` counting up, the full joins;
3. the alerts of every station whose readings changed are evaluated again.
Each step is one transaction (outbox rows in, held rows out, kept readings updated), so a
crash repeats nothing and loses nothing: a held reading stays held until a step commits its
release.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from edge_agent.aio import wait_event
from edge_agent.batcher import BatchBuilder, Envelope, encode, utc_millis
from edge_agent.config.models import AgentConfig
from edge_agent.config.topics import TopicTemplate
from edge_agent.farm import chunks
from edge_agent.farm.alerts import StationReading
from edge_agent.farm.chunks import Chunk, Entry
from edge_agent.farm.enrich import Enricher, Joined
from edge_agent.farm.records import TowerReading
from edge_agent.farm.state import Change, FarmState
from edge_agent.farm.station_alerts import StationAlerts
from edge_agent.publish.base import LOCAL_TOPIC_PREFIX
from edge_agent.state.db import StateDB
from edge_agent.state.ledger import Batch, make_batch_id
from edge_agent.state.outbox import OutboxGauge

log = logging.getLogger("edge_agent.farm")

STEP_SECONDS = 1.0
HELD_PER_STEP = 5_000
PRUNE_EVERY = 30.0  # seconds; a backlog fills the store fast
# Published readings kept for corrections, at most (besides correctionWindowHours): about a
# week of a 10-tower farm; a backlog of millions of readings keeps only its newest.
MAX_CHUNK_BYTES = 64 * 1024 * 1024
Key = tuple[str, str]


@dataclass(slots=True)
class _Out:
    """A reading to publish in this step: released (``chunk`` None) or corrected."""

    file_ref: int
    version: int
    line: int
    reading: TowerReading
    record: dict[str, Any]
    joined: Joined
    late: bool
    revision: int
    chunk: Chunk | None = None
    entry: Entry | None = None


@dataclass(slots=True)
class _Step:
    out: list[_Out] = field(default_factory=list)
    released: dict[Key, list[StationReading]] = field(default_factory=dict)
    corrected: set[Key] = field(default_factory=set)


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
        self.alerts = StationAlerts(db, enricher.recipes, config.thing_name)

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
            conn.execute("UPDATE farm_held SET hold_until = ? WHERE hold_until < ?", (until, until))

    # ------------------------------------------------------------------ one step

    def step(self, now: float | None = None) -> int:
        """Release, correct and evaluate alerts once; returns how much happened."""
        with self._lock:
            now = time.time() if now is None else now
            work = _Step()
            changes = self.state.take_changes()
            sent = self.state.take_sent()
            for tower_id, station_id, reading in sent:
                self.alerts.add((tower_id, station_id), [reading])
            if not self.gauge.full:
                self._release(work, now)
            self._correct(work, changes)
            if work.out:
                self._publish(work, now)
            for key, readings in work.released.items():
                self.alerts.add(key, readings)
            for key in work.corrected:
                self.alerts.forget(key)
            alerts = self._alerts()
            if now - self._last_prune > PRUNE_EVERY:
                self._prune(now)
            return len(work.out) + alerts + len(changes) + len(sent)

    def _release(self, work: _Step, now: float) -> None:
        rows = self.db.query(
            "SELECT file_ref, version, line, tower_id, station_id, tray_id, ts, record, "
            "hold_until FROM farm_held ORDER BY ts LIMIT ?",
            (HELD_PER_STEP,),
        )
        grace = self.cea.grace_seconds
        for row in rows:
            reading = TowerReading(row["ts"], row["tower_id"], row["station_id"], row["tray_id"])
            record = orjson.loads(row["record"])
            joined = self.enricher.join(record, reading)
            hold_until = row["hold_until"]
            # A wall clock set back (an hour, say) must not hold readings for that long.
            expired = now >= hold_until or now < hold_until - grace - 60
            if joined.complete or expired:
                late = not joined.complete
                key = (row["file_ref"], row["version"], row["line"])
                work.out.append(_Out(*key, reading, record, joined, late, 0))

    def _correct(self, work: _Step, changes: Iterable[Change]) -> None:
        selections = self._selections(changes)
        if self._recheck_all:
            # At start: changes noted in memory before a crash are gone; look at everything.
            self._recheck_all = False
            selections.append(("1", (), lambda e: True))
            everything = True
        else:
            everything = False
        seen: set[tuple[int, int, int]] = {(o.file_ref, o.version, o.line) for o in work.out}
        loaded: dict[int, Chunk] = {}
        for where, params, wanted in selections:
            for found in chunks.load(self.db, where, params):
                chunk = loaded.setdefault(found.id, found)
                for entry in chunk.entries:
                    if everything:  # every station's alerts are evaluated again too
                        work.corrected.add((chunk.tower_id, entry.station_id))
                    key = (chunk.file_ref, chunk.version, entry.line)
                    if key in seen or not wanted(entry):
                        continue
                    reading = TowerReading(
                        entry.ts, chunk.tower_id, entry.station_id, entry.tray_id
                    )
                    record = entry.record
                    joined = self.enricher.join(record, reading)
                    if joined.sig == entry.sig:
                        continue
                    seen.add(key)
                    late = entry.late and not joined.complete
                    work.out.append(
                        _Out(*key, reading, record, joined, late, entry.revision + 1, chunk, entry)
                    )
                    work.corrected.add((chunk.tower_id, entry.station_id))

    def _selections(
        self, changes: Iterable[Change]
    ) -> list[tuple[str, tuple[Any, ...], Callable[[Entry], bool]]]:
        """Which kept chunks, and which of their readings, a set of changes may affect."""
        spans: dict[tuple[str, str | None, str | None], list[float]] = {}
        for change in changes:
            key = (change.kind, change.tower_id, change.key)
            span = spans.get(key)
            if span is None:
                spans[key] = [change.start, change.end]
            else:
                span[0], span[1] = min(span[0], change.start), max(span[1], change.end)
        found: list[tuple[str, tuple[Any, ...], Callable[[Entry], bool]]] = []
        for (kind, tower_id, target), (start, end) in spans.items():

            def within(e: Entry, start: float = start, end: float = end) -> bool:
                return start <= e.ts <= end

            if kind == "site":
                found.append(("ts_max >= ? AND ts_min <= ?", (start, end), within))
            elif kind == "automation":
                found.append(
                    ("tower_id = ? AND ts_max >= ? AND ts_min <= ?", (tower_id, start, end), within)
                )
            elif kind == "tray":

                def on_tray(e: Entry, start: float = start, tray: str | None = target) -> bool:
                    return e.tray_id == tray and e.ts >= start

                found.append(("tower_id = ? AND ts_max >= ?", (tower_id, start), on_tray))
            elif kind == "file" and target is not None:
                file_ref, version = (int(part) for part in target.split(":"))

                def in_lines(e: Entry, first: int = int(start), last: int = int(end)) -> bool:
                    return first <= e.line <= last

                found.append(
                    (
                        "file_ref = ? AND version = ? AND last_line >= ? AND first_line <= ?",
                        (file_ref, version, int(start), int(end)),
                        in_lines,
                    )
                )
        return found

    # ------------------------------------------------------------------ publishing

    def _publish(self, work: _Step, now: float) -> None:
        ingested_at = utc_millis(now)
        groups: dict[tuple[int, int], list[_Out]] = {}
        for item in work.out:
            groups.setdefault((item.file_ref, item.version), []).append(item)
        batches: list[tuple[Batch, int]] = []
        new_chunks: list[tuple[int, int, str, list[Entry]]] = []
        released: list[tuple[int, int, int]] = []
        rewritten: dict[int, Chunk] = {}
        for (file_ref, version), items in groups.items():
            envelope = self._envelope(file_ref, version)
            items.sort(key=lambda o: o.line)
            texts = _texts(items)
            max_bytes = self.config.publish.max_payload_bytes
            built = _batches(envelope, items, texts, max_bytes, ingested_at)
            batches += [(batch, file_ref) for batch in built]
            by_tower: dict[str, list[Entry]] = {}
            for item in items:
                fields = item.joined.fields
                entry = Entry(
                    item.line,
                    item.reading.ts,
                    item.reading.station_id,
                    item.reading.tray_id,
                    item.joined.sig,
                    fields["deviations"] or None,
                    item.revision,
                    item.late,
                    item.record,  # as read: corrections join it again
                )
                if item.chunk is None:
                    by_tower.setdefault(item.reading.tower_id, []).append(entry)
                    released.append((file_ref, version, item.line))
                    work.released.setdefault(
                        (item.reading.tower_id, item.reading.station_id), []
                    ).append(
                        StationReading(
                            entry.ts, entry.tray_id, entry.grow_id(), entry.deviations or []
                        )
                    )
                else:
                    assert item.entry is not None
                    position = item.chunk.entries.index(item.entry)
                    item.chunk.entries[position] = entry
                    rewritten[item.chunk.id] = item.chunk
            new_chunks += [(file_ref, version, tower, e) for tower, e in by_tower.items()]
        added = 0
        with self.db.transaction() as conn:
            for batch, file_ref in batches:
                added += _insert(conn, batch, file_ref, now)
            conn.executemany(
                "DELETE FROM farm_held WHERE file_ref = ? AND version = ? AND line = ?", released
            )
            for file_ref, version, tower, entries in new_chunks:
                chunks.insert(conn, (file_ref, version, tower), chunks.pack(entries), now)
            for chunk in rewritten.values():
                chunks.rewrite(conn, chunk, now)
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

    def _alerts(self) -> int:
        messages: list[dict[str, Any]] = []
        writes: list[tuple[str, tuple[Any, ...]]] = []
        self.alerts.begin()
        for key in self.alerts.stations():
            found, changes = self.alerts.evaluate(key)
            messages += found
            writes += changes
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

    # ------------------------------------------------------------------ housekeeping

    def _prune(self, now: float) -> None:
        self._last_prune = now
        self.state.prune()
        window = self.cea.correction_window_hours * 3600
        history = self.cea.history_days * 86_400
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM farm_chunks WHERE updated < ?", (now - window,))
            conn.execute(
                "DELETE FROM farm_chunks WHERE id IN (SELECT id FROM (SELECT id, SUM(LENGTH(data)) "
                "OVER (ORDER BY id DESC) AS kept FROM farm_chunks) WHERE kept > ?)",
                (MAX_CHUNK_BYTES,),
            )
            for table in ("farm_site", "farm_automation"):
                conn.execute(
                    f"DELETE FROM {table} WHERE ts < (SELECT MAX(ts) FROM {table}) - ?",
                    (history,),
                )
            conn.execute(
                "DELETE FROM farm_alerts WHERE state = 'closed' AND until < "
                "(SELECT COALESCE(MAX(ts_max), 0) FROM farm_chunks) - ?",
                (history,),
            )


def _texts(items: list[_Out]) -> list[bytes]:
    """Each reading's record as published: as read, its joins now, late, revision."""
    texts = []
    for item in items:
        record = dict(item.record)
        record.pop("revision", None)
        record.update(item.joined.fields)
        record["late"] = item.late
        if item.revision:
            record["revision"] = item.revision
        texts.append(encode(record))
    return texts


def _batches(
    envelope: Envelope, items: list[_Out], texts: list[bytes], max_bytes: int, ingested_at: str
) -> list[Batch]:
    """Payload-sized batches of one file's readings; each batch id is unique: a reading is
    released once, and each correction of it has a higher revision."""
    done: list[Batch] = []
    builder: BatchBuilder | None = None
    for item, text in zip(items, texts, strict=True):
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
