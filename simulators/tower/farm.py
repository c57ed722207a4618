"""Towers, trays and growth cycles: the state the seeding station and the sensors observe.

Each tower is a carousel of trays moving one slot every five-minute step (unless the
automation has stopped it on a fault). Slot 0 is the seeding station: a tray arriving there
whose cycle has reached its target length (6-8 days, typically 7) is harvested and re-seeded
at once with a new Grow ID. Sensor stations sit at fixed slots and read whatever tray is in
front of them at every step.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

STEP = timedelta(minutes=5)
HARVEST_OFFSET = timedelta(seconds=60)
SEED_OFFSET = timedelta(seconds=120)
TRAY_AREA_M2 = 0.5
DAY = 86_400.0
TARGET_DAYS = (6, 7, 7, 7, 8)
MINTED_SHARE = 0.15


def _logistic(x: float) -> float:
    return 1 / (1 + math.exp(-8 * (x - 0.55)))


def growth_fraction(age_days: float, cycle_days: float = 7.0) -> float:
    """Share of the final fresh mass gained at ``age_days``: 0 at seeding, 1 at ``cycle_days``."""
    low, high = _logistic(0.0), _logistic(1.0)
    return (_logistic(max(age_days, 0.0) / cycle_days) - low) / (high - low)


@dataclass
class Cycle:
    """One growth cycle of one tray, from seeding to harvest."""

    tower_id: str
    tray_id: str
    grow_id: str
    seeded_at: datetime
    target_days: int
    seed_kg: float
    seed_lot: str
    height_rate_mm_day: float
    yield_factor: float
    harvested_at: datetime | None = None
    seeded_file: str = ""
    seeded_line: int = 0

    def age_days(self, at: datetime) -> float:
        """Days since seeding (fractional)."""
        return (at - self.seeded_at).total_seconds() / DAY

    def day_of_cycle(self, at: datetime) -> int:
        """Whole days since seeding: 0 on the seeding day."""
        return math.floor(self.age_days(at))

    def height_mm(self, at: datetime) -> float:
        """Expected canopy height: ~0 on days 0-1, then 3-4 cm a day."""
        return max(0.0, self.age_days(at) - 2.0) * self.height_rate_mm_day

    def weight_kg(self, at: datetime) -> float:
        """Expected crop mass: the seed mass at seeding, about ``yield_factor`` x at day 7."""
        gain = (self.yield_factor - 1) * growth_fraction(self.age_days(at))
        return self.seed_kg * (1 + gain)

    def evenness_pct(self, at: datetime) -> float:
        """Expected evenness of growth: 70 % at seeding to ~92 % at harvest."""
        return 70 + 22 * growth_fraction(self.age_days(at))


@dataclass
class Tray:
    """A tray on the carousel; ``cycle`` is None while it is empty."""

    tray_id: str
    cycle: Cycle | None = None
    empty_until: datetime | None = None


@dataclass
class Tower:
    """A tower: its carousel of trays, its sensor stations and its automation state."""

    tower_id: str
    number: int
    trays: list[Tray]
    stations: list[tuple[str, int]]
    position: int = 0
    fault_steps_left: int = 0
    fault_code: str = ""
    irrigation: tuple[datetime, datetime] | None = None
    last_automation_at: datetime | None = None
    water_level_mm: float = 110.0
    station_offsets_c: dict[str, float] = field(default_factory=dict)

    def irrigating(self, at: datetime) -> bool:
        """Whether the irrigation pump runs at ``at``."""
        return self.irrigation is not None and self.irrigation[0] <= at < self.irrigation[1]

    def tray_at(self, slot: int) -> Tray:
        """The tray in front of carousel slot ``slot`` now."""
        return self.trays[(slot - self.position) % len(self.trays)]

    def tray_index_at_seeding(self) -> int:
        """Index of the tray at the seeding station (slot 0)."""
        return (-self.position) % len(self.trays)


def station_slots(trays: int, stations: int) -> list[int]:
    """Slots of the sensor stations, spread evenly around the carousel (never slot 0)."""
    return [round((s + 1) * trays / (stations + 1)) for s in range(stations)]


class CycleFactory:
    """Starts growth cycles: seed mass, seed lot, growth rate, and the Grow ID to write.

    Grow IDs are ``GR-<seeding date>-<site-wide sequence>``; about one in seven is left empty
    (the seeding station's operator skipped it), and the agent then mints one.
    """

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._sequence = 0
        self._rngs: dict[str, random.Random] = {}

    def _rng(self, tower_id: str) -> random.Random:
        rng = self._rngs.get(tower_id)
        if rng is None:
            rng = self._rngs[tower_id] = random.Random(f"{self._seed}:cycles:{tower_id}")
        return rng

    def target_days(self, tower_id: str) -> int:
        """A target cycle length: 6, 7 or 8 days, 7 most often."""
        return self._rng(tower_id).choice(TARGET_DAYS)

    def start(
        self, tower_id: str, tray_id: str, seeded_at: datetime, target_days: int | None = None
    ) -> Cycle:
        """A new cycle seeded at ``seeded_at``."""
        rng = self._rng(tower_id)
        self._sequence += 1
        grow_id = f"GR-{seeded_at:%Y%m%d}-{self._sequence:05d}"
        if rng.random() < MINTED_SHARE:
            grow_id = ""
        week = seeded_at.isocalendar()
        lot = f"BAR-{week.year % 100:02d}{week.week:02d}-{rng.choice('ABC')}"
        return Cycle(
            tower_id=tower_id,
            tray_id=tray_id,
            grow_id=grow_id,
            seeded_at=seeded_at,
            target_days=target_days if target_days is not None else rng.choice(TARGET_DAYS),
            seed_kg=round(TRAY_AREA_M2 * rng.uniform(5.0, 7.0), 2),
            seed_lot=lot,
            height_rate_mm_day=rng.uniform(30.0, 40.0),
            yield_factor=rng.uniform(5.5, 6.5),
        )

    def prehistory(self, tower: Tower, start: datetime) -> list[Cycle]:
        """Cycles already growing at ``start``, staggered in age (the farm is in steady state).

        Tray ``i`` is at the seeding station at the steps ``k`` with ``(i + k) % trays == 0``;
        each cycle is seeded at such a step before ``start``, younger than its target length.
        """
        count = len(tower.trays)
        cycles: list[Cycle] = []
        for index, tray in enumerate(tower.trays):
            rng = self._rng(tower.tower_id)
            target = rng.choice(TARGET_DAYS)
            age_steps = rng.uniform(0.05, 0.97) * target * DAY / STEP.total_seconds()
            loops = max(1, round(age_steps / count))
            k = -index - count * loops
            seeded_at = start + k * STEP + SEED_OFFSET
            cycle = self.start(tower.tower_id, tray.tray_id, seeded_at, target)
            tray.cycle = cycle
            cycles.append(cycle)
        cycles.sort(key=lambda c: c.seeded_at)
        return cycles
