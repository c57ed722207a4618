"""The farm context in memory: cycles per tray, the site timeline, automation per tower.

The state database is the durable copy (tables ``farm_*``, written in the transaction that
advances each file); this is its in-memory index, loaded at start and updated after each
commit. One lock guards it: reading threads of several sources and the farm worker share it.
Every update bumps ``generation`` and queues the event-time range it touched, so the worker
can correct readings published before the context arrived.

Each context stream also has a *watermark*: the newest event time among its committed rows
(the site; automation and seeding per tower). A stream is complete up to its watermark: its
rows arrive in event-time order (docs/farm.md, "When a reading is final"), so a reading at or
before it will see no row it does not see now. Watermarks are derived from the committed rows
(``load``), so they are exactly as durable as the context itself.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from edge_agent.config.farm import CeaConfig
from edge_agent.farm.alerts import StationReading
from edge_agent.farm.records import AutomationState, SeedingEvent, SiteReading, iso
from edge_agent.farm.timeline import DAY, Timeline, TrayCycles
from edge_agent.state.db import StateDB

SentReading = tuple[str, str, StationReading]  # tower, station, reading


@dataclass(frozen=True, slots=True)
class Change:
    """Something changed in this event-time range: readings there may need another look.

    ``kind`` is ``site`` (context for every tower), ``automation`` (one tower), ``tray`` (one
    tray's cycles: ``key`` is the tray), ``seeding`` (one tower's seeding watermark moved:
    readings of the tower in the range) or ``file`` (readings of a file joined while context
    arrived: ``key`` is ``file_ref:version``, the range is lines).
    """

    kind: str
    tower_id: str | None
    key: str | None
    start: float
    end: float


class FarmState:
    """Cycles, site and automation history, shared by the readers and the farm worker."""

    def __init__(self, cea: CeaConfig) -> None:
        self.cea = cea
        self.lock = threading.Lock()
        self.generation = 0
        self.site = Timeline()
        self.automation: dict[str, Timeline] = {}
        self.cycles: dict[tuple[str, str], TrayCycles] = {}
        self.seeding_watermarks: dict[str, float] = {}  # by tower
        self._changes: list[Change] = []
        self._sent: list[SentReading] = []
        self._silent: set[tuple[str, str]] = set()  # (stream, tower) named as silent

    # ------------------------------------------------------------------ loading

    def load(self, db: StateDB) -> None:
        """Fill the index from the state database (at start)."""
        horizon = self._history_seconds()
        with self.lock:
            for row in db.query(
                "SELECT tower_id, tray_id, ts, event, grow_id FROM farm_cycle_events"
            ):
                self._tray(row["tower_id"], row["tray_id"]).add(
                    row["ts"], row["event"], row["grow_id"], row["tower_id"], row["tray_id"]
                )
                self._seeded_until(row["tower_id"], row["ts"])
            site = db.query(
                "SELECT ts, data FROM farm_site WHERE site_id = ? AND ts >= "
                "(SELECT COALESCE(MAX(ts), 0) FROM farm_site) - ? ORDER BY ts",
                (self.cea.site_id, horizon),
            )
            for row in site:
                reading = SiteReading(row["ts"], self.cea.site_id, orjson.loads(row["data"]))
                self.site.add(row["ts"], site_join_row(reading))
            automation = db.query(
                "SELECT tower_id, ts, data FROM farm_automation WHERE ts >= "
                "(SELECT COALESCE(MAX(ts), 0) FROM farm_automation) - ? ORDER BY ts",
                (horizon,),
            )
            for row in automation:
                data = orjson.loads(row["data"])
                state = AutomationState(row["ts"], row["tower_id"], data.pop("state"), data)
                self._automation(row["tower_id"]).add(row["ts"], automation_join_row(state))

    def _history_seconds(self) -> float:
        return self.cea.history_days * DAY

    def _tray(self, tower_id: str, tray_id: str) -> TrayCycles:
        key = (tower_id, tray_id)
        cycles = self.cycles.get(key)
        if cycles is None:
            cycles = self.cycles[key] = TrayCycles()
        return cycles

    def _seeded_until(self, tower_id: str, ts: float) -> None:
        """Move the tower's seeding watermark to ``ts`` if that is later."""
        if ts > self.seeding_watermarks.get(tower_id, -math.inf):
            self.seeding_watermarks[tower_id] = ts

    def _automation(self, tower_id: str) -> Timeline:
        timeline = self.automation.get(tower_id)
        if timeline is None:
            timeline = self.automation[tower_id] = Timeline()
        return timeline

    # ------------------------------------------------------------------ updates (after commit)

    def add_site(self, readings: Iterable[SiteReading]) -> float:
        """Site readings of this gateway's site were committed. Returns how far behind the
        watermark the latest of the new rows that came after newer data is (0: none)."""
        tolerance = self.cea.site_tolerance_minutes * 60
        behind = 0.0
        with self.lock:
            before = self.site.watermark
            for reading in readings:
                if self.site.add(reading.ts, site_join_row(reading)) and reading.ts < before:
                    behind = max(behind, before - reading.ts)
                self._changed(Change("site", None, None, reading.ts, reading.ts + tolerance))
            if self.site.watermark > before:
                # Readings up to the new watermark may have become final.
                self._changed(Change("site", None, None, before, self.site.watermark))
        return behind

    def add_automation(self, states: Iterable[AutomationState]) -> float:
        """Automation rows were committed (returns as :meth:`add_site`)."""
        behind = 0.0
        with self.lock:
            before: dict[str, float] = {}
            for state in states:
                timeline = self._automation(state.tower_id)
                old = before.setdefault(state.tower_id, timeline.watermark)
                if timeline.add(state.ts, automation_join_row(state)) and state.ts < old:
                    behind = max(behind, old - state.ts)
                # The state holds until the next row: readings up to then join it.
                following = timeline.next_after(state.ts)
                end = following if following is not None else float("inf")
                self._changed(Change("automation", state.tower_id, None, state.ts, end))
            for tower_id, old in before.items():
                new = self.automation[tower_id].watermark
                if new > old:  # readings of the tower up to it may have become final
                    self._changed(Change("automation", tower_id, None, old, new))
        return behind

    def add_cycle_events(self, events: Iterable[SeedingEvent]) -> float:
        """Seeding events were committed (returns as :meth:`add_site`)."""
        behind = 0.0
        with self.lock:
            before: dict[str, float] = {}
            for event in events:
                tray = self._tray(event.tower_id, event.tray_id)
                new = tray.add(event.ts, event.event, event.grow_id, event.tower_id, event.tray_id)
                self._changed(Change("tray", event.tower_id, event.tray_id, event.ts, float("inf")))
                old = before.setdefault(
                    event.tower_id, self.seeding_watermarks.get(event.tower_id, -math.inf)
                )
                self._seeded_until(event.tower_id, event.ts)
                if new and event.ts < old:
                    behind = max(behind, old - event.ts)
            for tower_id, old in before.items():
                if self.seeding_watermarks[tower_id] > old:
                    self._changed(
                        Change("seeding", tower_id, None, old, self.seeding_watermarks[tower_id])
                    )
        return behind

    def newly_silent(self, streams: Iterable[str], tower_id: str) -> list[str]:
        """Those of ``streams`` that have no row at all yet (the site; the tower's automation
        or seeding), each named once per tower: a stream configured but silent."""
        found = []
        with self.lock:
            for stream in streams:
                key = (stream, "" if stream == "site" else tower_id)
                if stream == "site":
                    silent = len(self.site) == 0
                elif stream == "automation":
                    silent = tower_id not in self.automation
                else:
                    silent = tower_id not in self.seeding_watermarks
                if silent and key not in self._silent:
                    self._silent.add(key)
                    found.append(stream)
        return found

    def _changed(self, change: Change) -> None:
        self.generation += 1
        self._changes.append(change)

    def readings_changed(self, changes: Iterable[Change]) -> None:
        """Readings may need another look (no context changed: the generation stays)."""
        with self.lock:
            self._changes.extend(changes)

    def readings_sent(self, readings: Iterable[SentReading]) -> None:
        """Readings were published by a reading pass (their station's alerts go on)."""
        with self.lock:
            self._sent.extend(readings)

    def take_sent(self) -> list[SentReading]:
        """The readings published since the last call (for the farm worker)."""
        with self.lock:
            sent, self._sent = self._sent, []
        return sent

    def take_changes(self) -> list[Change]:
        """The changes since the last call (for the farm worker)."""
        with self.lock:
            changes, self._changes = self._changes, []
        return changes

    def prune(self) -> None:
        """Forget context older than ``historyDays`` before the newest (memory stays bounded)."""
        horizon = self._history_seconds()
        with self.lock:
            newest = max([self.site.watermark, *(t.watermark for t in self.automation.values())])
            if newest <= 0:
                return
            self.site.prune(newest - horizon)
            for timeline in self.automation.values():
                timeline.prune(newest - horizon)
            for cycles in self.cycles.values():
                cycles.prune(newest - horizon)


def site_join_row(reading: SiteReading) -> tuple[str, bytes, bytes]:
    """What a tower record carries of a site reading, encoded once: its time, and the JSON
    before and after the ``ageSeconds`` each reading puts in (the site is ``cea.siteId``)."""
    at = iso(reading.ts)
    head = b'{"ts":"' + at.encode() + b'","ageSeconds":'
    values = orjson.dumps(reading.values)
    tail = b"," + values[1:] if len(values) > 2 else b"}"
    return at, head, tail


def automation_join_row(state: AutomationState) -> bytes:
    """What a tower record carries of the automation state in force, encoded once (JSON)."""
    values = {k: v for k, v in state.values.items() if k != "state"}
    return orjson.dumps({"ts": iso(state.ts), "state": state.state, **values})
