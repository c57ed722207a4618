"""The farm worker: releases held readings, corrects published ones, keeps alerts current.

One task of the agent's TaskGroup; each step runs in a thread on its own database connection:
1. held readings whose context streams became complete, or whose grace period is over
   (``late: true`` with the ``pending`` streams), are published;
2. readings published before context they lacked arrived (a late site file, a seeding file
   read after the tower file), and late readings whose pending streams completed, are
   published again as corrections: the same source path and line, ``revision`` counting up,
   the full joins;
3. the alerts of every station whose readings changed are evaluated again.
Each step is one transaction (outbox rows in, held rows out, kept readings updated), so a
crash repeats nothing and loses nothing: a held reading stays held until a step commits its
release.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import orjson

from edge_agent.aio import wait_event
from edge_agent.batcher import Envelope, encode, utc_millis
from edge_agent.config.models import AgentConfig
from edge_agent.config.topics import TopicTemplate
from edge_agent.errors import StorageFullError
from edge_agent.farm import chunks, outgoing
from edge_agent.farm.alerts import StationReading
from edge_agent.farm.chunks import Chunk, Entry
from edge_agent.farm.enrich import Enricher
from edge_agent.farm.outgoing import Out
from edge_agent.farm.records import TowerReading
from edge_agent.farm.state import Change, FarmState
from edge_agent.farm.station_alerts import StationAlerts
from edge_agent.publish.base import LOCAL_TOPIC_PREFIX
from edge_agent.state.ledger import Batch, make_batch_id
from edge_agent.state.writer import OutboxWriter, Queued

log = logging.getLogger("edge_agent.farm")

STEP_SECONDS = 1.0
GATHER_SECONDS = 0.1
HELD_PER_STEP = 5_000
PRUNE_EVERY = 30.0  # seconds; a backlog fills the store fast
# Published readings kept for corrections, at most (besides correctionWindowHours): about a
# week of a 10-tower farm; a backlog of millions of readings keeps only its newest.
MAX_CHUNK_BYTES = 64 * 1024 * 1024
FULL_RETRY_SECONDS = 5.0  # a full disk: look again soon, space may be back
Key = tuple[str, str]


@dataclass(slots=True)
class _Step:
    out: list[Out] = field(default_factory=list)
    released: dict[Key, list[StationReading]] = field(default_factory=dict)
    corrected: set[Key] = field(default_factory=set)


class FarmWorker:
    """Held readings, corrections and alerts (see the module docstring)."""

    def __init__(
        self,
        config: AgentConfig,
        state: FarmState,
        enricher: Enricher,
        writer: OutboxWriter,
        *,
        executor: Executor | None = None,
    ) -> None:
        """``writer`` has the worker's own database connection; ``executor`` runs its steps
        (None: the loop's default executor)."""
        assert config.cea is not None
        self.config = config
        self.cea = config.cea
        self.state = state
        self.enricher = enricher
        self.writer = writer
        self.db = writer.db
        self.gauge = writer.gauge
        self._executor = executor
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
        self.alerts = StationAlerts(self.db, enricher.recipes, config.thing_name)

    # ------------------------------------------------------------------ async side

    def wake(self) -> None:
        """Something changed: step soon (event loop thread)."""
        self.wake_event.set()

    async def run(self, stop: threading.Event) -> None:
        """Step every second, or sooner when woken, until ``stop`` is set (then wake it).

        A full disk pauses the worker (held readings stay held, nothing is lost) and it goes on
        by itself once there is room again."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.restart_grace)
        warned = -math.inf
        while not stop.is_set():
            try:
                done = await loop.run_in_executor(self._executor, self.step)
            except StorageFullError as e:
                if loop.time() - warned >= 60.0:
                    warned = loop.time()
                    log.error(
                        "farm worker paused: %s — free space under stateDir; it goes on by "
                        "itself, held readings stay held",
                        e.reason,
                    )
                self.idle.clear()
                await wait_event(self.wake_event, FULL_RETRY_SECONDS)
                self.wake_event.clear()
                continue
            if done or self.wake_event.is_set():
                self.idle.clear()
            else:
                self.idle.set()
            await wait_event(self.wake_event, STEP_SECONDS)
            # The commits of a file being read gather into one step rather than one each.
            await asyncio.sleep(GATHER_SECONDS)
            self.wake_event.clear()

    def restart_grace(self) -> None:
        """After a restart, held readings get a fresh grace period: their context may be in
        files the sources have not read again yet."""
        until = time.time() + self.cea.grace_seconds
        with self.db.transaction() as conn:
            conn.execute("UPDATE farm_held SET hold_until = ? WHERE hold_until < ?", (until, until))

    # ------------------------------------------------------------------ one step

    def step(self, now: float | None = None) -> int:
        """Release, correct and evaluate alerts once; returns how much happened.

        A step that fails (a full disk) commits nothing; what it had taken from memory (changes
        to look at, readings for alerts) is looked at again from the store by the next one."""
        with self._lock:
            try:
                return self._step(now)
            except BaseException:
                self._recheck_all = True
                raise

    def _step(self, now: float | None) -> int:
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
                for stream in self.state.newly_silent(joined.pending, reading.tower_id):
                    log.warning(
                        "tower readings go out late: cea.waitFor waits for %s data (of %s) "
                        "and none has arrived yet; without such a stream, leave it out",
                        stream,
                        reading.tower_id,
                    )
                key = (row["file_ref"], row["version"], row["line"])
                work.out.append(Out(*key, reading, record, joined, late, 0))

    def _correct(self, work: _Step, changes: Iterable[Change]) -> None:
        selections = outgoing.selections(changes)
        if self._recheck_all:
            # At start: changes noted in memory before a crash are gone; look at everything.
            self._recheck_all = False
            selections.append(("1", (), lambda e: True))
            everything = True
        else:
            everything = False
        seen: set[tuple[int, int, int]] = {(o.file_ref, o.version, o.line) for o in work.out}
        # Only chunks with a correction are kept (the corrections point into them, and a
        # second selection of the same chunk must see the same object); the rest are
        # dropped as the selection streams past them.
        loaded: dict[int, Chunk] = {}
        for where, params, wanted in selections:
            for found in chunks.iterate(self.db, where, params):
                chunk = loaded.get(found.id, found)
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
                    # A final record stays final; a late one is corrected when its joins or
                    # the streams it waits for changed (and so once they are all complete).
                    late = entry.late and not joined.complete
                    pending = list(joined.pending) if late else None
                    same = joined.sig == entry.sig and late == entry.late
                    if same and (not late or entry.pending in (None, pending)):
                        continue  # (pending None: not recorded, by an older agent)
                    seen.add(key)
                    work.out.append(
                        Out(*key, reading, record, joined, late, entry.revision + 1, chunk, entry)
                    )
                    work.corrected.add((chunk.tower_id, entry.station_id))
                    loaded[chunk.id] = chunk

    # ------------------------------------------------------------------ publishing

    def _publish(self, work: _Step, now: float) -> None:
        ingested_at = utc_millis(now)
        groups: dict[tuple[int, int], list[Out]] = {}
        for item in work.out:
            groups.setdefault((item.file_ref, item.version), []).append(item)
        batches: list[Queued] = []
        new_chunks: list[tuple[int, int, str, list[Entry]]] = []
        released: list[tuple[int, int, int]] = []
        rewritten: dict[int, Chunk] = {}
        for (file_ref, version), items in groups.items():
            envelope = self._envelope(file_ref, version)
            items.sort(key=lambda o: o.line)
            texts = outgoing.texts(items)
            max_bytes = self.config.publish.max_payload_bytes
            built = outgoing.batches(envelope, items, texts, max_bytes, ingested_at)
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
                    list(item.joined.pending) if item.late else None,
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

        def writes(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "DELETE FROM farm_held WHERE file_ref = ? AND version = ? AND line = ?", released
            )
            for file_ref, version, tower, entries in new_chunks:
                chunks.insert(conn, (file_ref, version, tower), chunks.pack(entries), now)
            for chunk in rewritten.values():
                chunks.rewrite(conn, chunk, now)

        self.writer.commit(batches, writes=writes)

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
        batches: list[Queued] = []
        for message in messages:
            payload = encode(message)
            # Deterministic: the same alert message (recomputed after a restart, say) keeps
            # its batchId, and a consumer drops the repeat; a different one gets a new id.
            content = hashlib.blake2b(payload, digest_size=8).hexdigest()
            for topic in self._alert_topics:
                batch_id = make_batch_id(
                    message["alertId"], 0, 0, 0, f"alert:{message['event']}:{topic}:{content}"
                )
                batches.append((Batch(batch_id, topic, payload, 1), None))

        def store(conn: sqlite3.Connection) -> None:
            for sql, params in writes:
                conn.execute(sql, params)

        self.writer.commit(batches, writes=store)
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
