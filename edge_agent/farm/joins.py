"""The joins of one reading pass, with what consecutive readings share worked out once.

A tower file holds thousands of readings in time order; most of them fall in the same site
reading's span, the same automation state's span and the same growth cycle as the reading
before. :class:`PassJoins` keeps each of those spans (and the stream's watermark) from the last
lookup, so a reading costs a few comparisons, the recipe check and one concatenation of
pre-encoded JSON instead of three locked lookups and a dictionary to encode. It produces the
same bytes and the same completeness as :meth:`Enricher.join` (tests/farm/test_joins.py
compares them), which the farm worker still uses for held readings and corrections.

The spans are a snapshot of the farm state at one ``generation``: a commit of context bumps
it and the next reading starts from an empty cache. A span and its stream's watermark are
always taken together, under the state's lock, so a reading judged final never pairs a new
watermark with an old row.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import orjson

from edge_agent.datasets.generic import RowError
from edge_agent.farm.enrich import Enricher
from edge_agent.farm.recipes import deviations
from edge_agent.farm.timeline import DAY, Cycle

_UNTRACKED = b'"growId":null,"tagStatus":"untracked","dayOfCycle":null,"phase":null,"deviations":'
# A span: [from, until) of event time in which one row is in force, that row (encoded), the
# stream's watermark, and the row's time as the signature writes it ("" for no row).
_Span = tuple[float, float, Any, float, str]
_NO_SPAN: _Span = (math.inf, -math.inf, None, -math.inf, "")
_NO_CYCLE: tuple[float, float, Cycle | None] = (-math.inf, math.inf, None)

_MAX_AGE = 3_600
_AGES = [str(age).encode() for age in range(_MAX_AGE)]  # ageSeconds, encoded once
_NO_SITE = b',"site":null'
_SITE_FRESH = b',"siteStale":false,"automation":'
_SITE_STALE = b',"siteStale":true,"automation":'
# (the record's fields after "{" up to its "late" field, pending streams, signature,
# deviations or None)
PassJoin = tuple[bytes, tuple[str, ...], str, list[dict[str, Any]] | None]


class PassJoins:
    """Joins for the readings of one pass (one thread: not shared)."""

    def __init__(self, enricher: Enricher) -> None:
        self._state = enricher.state
        self._recipes = enricher.recipes
        self._tolerance = enricher.tolerance
        self._wait_site = enricher.wait_site
        self._wait_automation = enricher.wait_automation
        self._wait_seeding = enricher.wait_seeding
        self._generation = -1
        self._site: _Span = _NO_SPAN
        self._automation: dict[str, _Span] = {}
        self._cycles: dict[str, dict[str, list[Any]]] = {}  # by tower, tray
        self._seeding: dict[str, float] = {}
        self._stamp = ""
        self._seconds = 0.0

    def seconds(self, record: dict[str, Any]) -> float:
        """The reading's time (seconds since the epoch); readings of one time come together,
        so the last one is kept."""
        stamp = record.get("ts")
        if stamp != self._stamp:
            if not isinstance(stamp, str):
                raise RowError(
                    "tower row without a timestamp: set csv.timestampColumn of the dataset"
                )
            self._seconds = datetime.fromisoformat(stamp).timestamp()
            self._stamp = stamp
        return self._seconds

    def _renew(self) -> None:
        """Caller holds the state's lock: start from the state as it is now."""
        self._generation = self._state.generation
        self._site = _NO_SPAN
        self._automation.clear()
        self._cycles.clear()
        self._seeding.clear()

    def _site_span(self, ts: float) -> _Span:
        state = self._state
        with state.lock:
            if state.generation != self._generation:
                self._renew()
            low, high, row = state.site.segment(ts)
            if row is None:
                self._site = (low, high, None, state.site.watermark, "")
            else:
                # The record's JSON around its ageSeconds, from "site" to "automation".
                _at, head, tail = row[1]
                around = (b',"site":' + head, tail + _SITE_FRESH)
                self._site = (low, high, around, state.site.watermark, f"{low:.0f}")
        return self._site

    def _automation_span(self, ts: float, tower_id: str) -> _Span:
        state = self._state
        with state.lock:
            if state.generation != self._generation:
                self._renew()
            timeline = state.automation.get(tower_id)
            if timeline is None:
                span: _Span = (-math.inf, math.inf, None, -math.inf, "")
            else:
                low, high, row = timeline.segment(ts)
                if row is None:
                    span = (low, high, None, timeline.watermark, "")
                else:
                    span = (low, high, row[1], timeline.watermark, f"{low:.0f}")
            self._automation[tower_id] = span
        return span

    def _cycle_span(self, ts: float, tower_id: str, tray_id: str) -> list[Any]:
        state = self._state
        with state.lock:
            if state.generation != self._generation:
                self._renew()
            trays = state.cycles.get((tower_id, tray_id))
            low, high, cycle = trays.segment(ts) if trays is not None else _NO_CYCLE
            self._seeding[tower_id] = state.seeding_watermarks.get(tower_id, -math.inf)
        # [from, until, cycle, the day's start and end, its JSON, its recipe phase]
        span: list[Any] = [low, high, cycle, math.inf, -math.inf, _UNTRACKED, None]
        self._cycles.setdefault(tower_id, {})[tray_id] = span
        return span

    def _day(self, span: list[Any], ts: float, tower_id: str) -> None:
        """Fill ``span`` with the day of cycle at ``ts``: its bounds, JSON and phase."""
        cycle: Cycle = span[2]
        day = math.floor((ts - cycle.seeded_at) / DAY)
        phase = self._recipes.phase(tower_id, day)
        span[3] = cycle.seeded_at + day * DAY
        span[4] = span[3] + DAY
        span[5] = (
            b'"growId":'
            + orjson.dumps(cycle.grow_id)
            + b',"tagStatus":"tagged","dayOfCycle":'
            + str(day).encode()
            + b',"phase":'
            + orjson.dumps(phase.name if phase is not None else None)
            + b',"deviations":'
        )
        span[6] = phase

    def join(self, record: dict[str, Any], ts: float, tower_id: str, tray_id: str) -> PassJoin:
        """The reading's joins as :meth:`Enricher.join` would give them, encoded."""
        if self._state.generation != self._generation:
            with self._state.lock:
                self._renew()
        site = self._site
        if not site[0] <= ts < site[1]:
            site = self._site_span(ts)
        automation = self._automation.get(tower_id)
        if automation is None or not automation[0] <= ts < automation[1]:
            automation = self._automation_span(ts, tower_id)
        trays = self._cycles.get(tower_id)
        cycles = trays.get(tray_id) if trays is not None else None
        if cycles is None or not cycles[0] <= ts < cycles[1]:
            cycles = self._cycle_span(ts, tower_id, tray_id)

        found = None
        if cycles[2] is None:
            tag = "|"
        else:
            if not cycles[3] <= ts < cycles[4]:
                self._day(cycles, ts, tower_id)
            tag = cycles[2].key
            phase = cycles[6]
            if phase is not None:
                try:
                    in_band = phase.in_band(phase.values(record))
                except (KeyError, TypeError):  # a value missing, or not a number
                    in_band = False
                if not in_band:
                    found = deviations(phase, record) or None
        site_at = site[4]
        if site_at and ts - site[0] <= self._tolerance:
            age = round(ts - site[0])
            before, after = site[2]
            site_age = _AGES[age] if age < _MAX_AGE else str(age).encode()
        else:
            before, site_age, after, site_at = _NO_SITE, b"", _SITE_STALE, ""
        pending: tuple[str, ...] = ()
        if self._wait_site and (not site_at or site[3] < ts):
            pending = ("site",)
        if self._wait_automation and automation[3] < ts:
            pending += ("automation",)
        if self._wait_seeding and self._seeding[tower_id] < ts:
            pending += ("seeding",)
        body = b"".join(
            (
                cycles[5],
                orjson.dumps(found) if found else b"[]",
                before,
                site_age,
                after,
                automation[2] or b"null",
            )
        )
        return body, pending, f"{tag}|{site_at}|{automation[4]}", found
