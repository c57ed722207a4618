"""Tag and fuse one tower reading: Grow ID by tray interval, site and automation as of its time.

Semantics (notes/cea-domain.md): the Grow ID is that of the cycle whose [seededAt, harvestedAt)
contains the reading's time (none: ``growId`` null, ``tagStatus`` untracked); the site reading
is the latest at or before the reading within ``siteToleranceMinutes`` (none: ``site`` null and
``siteStale`` true, never an older value); the automation state is the one in force at the
reading's time. The joins are *final* when the site has reported up to the reading's time with
a reading within the tolerance, and a state of the tower is known at that time (a state holds
until the next row, so the latest known one is used; a row that arrives later and changes it
corrects the reading). Until then the reading waits (the farm worker's grace period).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from edge_agent.farm.recipes import RecipeBook, deviations
from edge_agent.farm.records import TowerReading
from edge_agent.farm.state import FarmState


@dataclass(frozen=True, slots=True)
class Joined:
    """The enrichment of one reading, whether its joins are final, and a signature of them."""

    fields: dict[str, Any]
    complete: bool
    sig: str


class Enricher:
    """Joins readings against the farm state."""

    def __init__(
        self,
        state: FarmState,
        recipes: RecipeBook,
        *,
        wait_for_site: bool = True,
        wait_for_automation: bool = True,
    ) -> None:
        """``wait_for_site``/``wait_for_automation``: whether that context is read at all (a
        source has such a dataset); without it readings are final at once, never held."""
        self.state = state
        self.recipes = recipes
        self.tolerance = state.cea.site_tolerance_minutes * 60
        self.wait_for_site = wait_for_site
        self.wait_for_automation = wait_for_automation

    def join(self, record: dict[str, Any], reading: TowerReading) -> Joined:
        """The enrichment fields of ``record`` as the farm state stands now."""
        state = self.state
        ts, tower_id = reading.ts, reading.tower_id
        with state.lock:
            cycles = state.cycles.get((tower_id, reading.tray_id))
            cycle = cycles.at(ts) if cycles is not None else None
            site = state.site.at_or_before(ts)
            site_known = state.site.watermark >= ts
            timeline = state.automation.get(tower_id)
            automation = timeline.at_or_before(ts) if timeline is not None else None
        # The joined rows are JSON encoded once, when they arrive (orjson fragments).
        site_field: orjson.Fragment | None = None
        if site is not None and ts - site[0] <= self.tolerance:
            _at, head, tail = site[1]
            site_field = orjson.Fragment(head + str(round(ts - site[0])).encode() + tail)
        automation_field = automation[1] if automation is not None else None
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
        complete = (not self.wait_for_site or (site_field is not None and site_known)) and (
            not self.wait_for_automation or automation_field is not None
        )
        return Joined(fields, complete, f"{tag}|{site_at}|{automation_at}")
