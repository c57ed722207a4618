"""Tag and fuse one tower reading: Grow ID by tray interval, site and automation as of its time.

Semantics (notes/cea-domain.md): the Grow ID is that of the cycle whose [seededAt, harvestedAt)
contains the reading's time (none: ``growId`` null, ``tagStatus`` untracked); the site reading
is the latest at or before the reading within ``siteToleranceMinutes`` (none: ``site`` null and
``siteStale`` true, never an older value); the automation state is the one in force at the
reading's time.

Completeness (docs/farm.md, "When a reading is final"): a reading waits for the context
streams of ``cea.waitFor`` that some source reads. A stream is complete for a reading at ``t``
once its watermark (the newest event time of its committed rows: the site's, the reading's
tower's automation or seeding) has reached ``t``; the site also needs a reading within the
tolerance, because a hole in the site data is more often a file still on its way than a
station that was down. The streams not complete yet are the reading's ``pending``.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from edge_agent.farm.recipes import RecipeBook, deviations
from edge_agent.farm.records import TowerReading
from edge_agent.farm.state import FarmState

STREAMS = ("site", "automation", "seeding")  # the order ``pending`` lists them in


class Joined:
    """The enrichment of one reading, the streams it still waits for, and a signature of its
    joins (what a correction compares)."""

    __slots__ = ("fields", "pending", "sig")

    def __init__(self, fields: dict[str, Any], pending: tuple[str, ...], sig: str) -> None:
        self.fields = fields
        self.pending = pending
        self.sig = sig

    @property
    def complete(self) -> bool:
        """Every stream the reading waits for is complete: its joins are final."""
        return not self.pending


class Enricher:
    """Joins readings against the farm state."""

    def __init__(
        self, state: FarmState, recipes: RecipeBook, *, wait_for: frozenset[str] = frozenset()
    ) -> None:
        """``wait_for``: the context streams readings wait for (``cea.waitFor``, less those no
        source reads: nothing would ever complete them)."""
        self.state = state
        self.recipes = recipes
        self.tolerance = state.cea.site_tolerance_minutes * 60
        self.wait_for = wait_for
        self.wait_site = "site" in wait_for
        self.wait_automation = "automation" in wait_for
        self.wait_seeding = "seeding" in wait_for

    def join(self, record: dict[str, Any], reading: TowerReading) -> Joined:
        """The enrichment fields of ``record`` as the farm state stands now."""
        state = self.state
        ts, tower_id = reading.ts, reading.tower_id
        with state.lock:
            cycles = state.cycles.get((tower_id, reading.tray_id))
            cycle = cycles.at(ts) if cycles is not None else None
            site = state.site.at_or_before(ts)
            site_mark = state.site.watermark
            timeline = state.automation.get(tower_id)
            automation = timeline.at_or_before(ts) if timeline is not None else None
            automation_mark = timeline.watermark if timeline is not None else -math.inf
            seeding_mark = state.seeding_watermarks.get(tower_id, -math.inf)
        # The joined rows are JSON encoded once, when they arrive (orjson fragments).
        site_field: orjson.Fragment | None = None
        if site is not None and ts - site[0] <= self.tolerance:
            _at, head, tail = site[1]
            site_field = orjson.Fragment(head + str(round(ts - site[0])).encode() + tail)
        automation_field = orjson.Fragment(automation[1]) if automation is not None else None
        if cycle is not None:
            day = cycle.day(ts)
            phase = self.recipes.phase(tower_id, day)
            fields: dict[str, Any] = {
                "growId": cycle.grow_id,
                "tagStatus": "tagged",
                "dayOfCycle": day,
                "phase": phase.name if phase is not None else None,
                "deviations": deviations(phase, record),
                "site": site_field,
                "siteStale": site_field is None,
                "automation": automation_field,
            }
            tag = cycle.key
        else:
            fields = {
                "growId": None,
                "tagStatus": "untracked",
                "dayOfCycle": None,
                "phase": None,
                "deviations": [],
                "site": site_field,
                "siteStale": site_field is None,
                "automation": automation_field,
            }
            tag = "|"
        site_at = f"{site[0]:.0f}" if site_field is not None and site is not None else ""
        automation_at = f"{automation[0]:.0f}" if automation is not None else ""
        pending: tuple[str, ...] = ()
        if self.wait_site and (site_field is None or site_mark < ts):
            pending += ("site",)
        if self.wait_automation and automation_mark < ts:
            pending += ("automation",)
        if self.wait_seeding and seeding_mark < ts:
            pending += ("seeding",)
        return Joined(fields, pending, f"{tag}|{site_at}|{automation_at}")
