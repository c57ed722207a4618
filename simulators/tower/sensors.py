"""What the sensors measure: smooth daily and multi-day curves plus measurement noise.

The environment of a tower is a function of time (so two stations reading at nearly the same
moment agree); the noise of a reading comes from the random generator of the station that
reads it. Ranges follow notes/cea-domain.md.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime

from simulators.tower.farm import DAY, Tower, Tray

LIGHTS_ON_HOUR = 4
LIGHTS_OFF_HOUR = 22
TOWER_LIGHTS_KW = 9.0
TOWER_PUMP_KW = 1.2
SITE_BASE_KW = 2.5
ENERGY_WRAP_KWH = 100_000.0


def _hour(at: datetime) -> float:
    return at.hour + at.minute / 60 + at.second / 3600


def _days(at: datetime) -> float:
    return at.timestamp() / DAY


def lights_on(at: datetime) -> bool:
    """18 h photoperiod: lights on 04:00-22:00 UTC."""
    return LIGHTS_ON_HOUR <= at.hour < LIGHTS_OFF_HOUR


def air_temp_c(tower: Tower, at: datetime) -> float:
    """Room air temperature: ~20.5 C with a daily swing peaking mid-afternoon."""
    swing = 2.0 * math.sin(2 * math.pi * (_hour(at) - 9) / 24)
    return 20.5 + 0.3 * (tower.number % 3) + swing + (0.6 if lights_on(at) else -0.4)


def humidity_pct(air_temp: float) -> float:
    """Relative humidity: falls as the room warms."""
    return 65.0 - 1.5 * (air_temp - 20.5)


def co2_ppm(at: datetime) -> float:
    """CO2: enriched while the lights are on."""
    if lights_on(at):
        return 950 + 120 * math.sin(2 * math.pi * (_hour(at) - 4) / 18)
    return 700.0


def water_temp_c(at: datetime) -> float:
    """Nutrient water temperature: 19 C, slightly following the day."""
    return 19.0 + 0.3 * math.sin(2 * math.pi * (_hour(at) - 12) / 24)


def water_ph(tower: Tower, at: datetime) -> float:
    """Water pH: 6.4 with a slow multi-day wander."""
    return 6.4 + 0.12 * math.sin(2 * math.pi * _days(at) / 2.7 + tower.number)


@dataclass(frozen=True, slots=True)
class StationReading:
    """The measured values of one tray at one station, before faults."""

    height_mm: float
    weight_kg: float
    evenness_pct: float | None
    water_level_mm: float
    water_ph: float
    water_temp_c: float
    air_temp_c: float
    humidity_pct: float
    co2_ppm: float


def read_tray(
    rng: random.Random, tower: Tower, station_id: str, tray: Tray, at: datetime
) -> StationReading:
    """What a station measures on ``tray`` at ``at``."""
    cycle = tray.cycle
    if cycle is None:
        height = max(0.0, rng.gauss(0.0, 0.8))
        weight = max(0.0, rng.gauss(0.03, 0.02))
        evenness: float | None = None
    else:
        height = max(0.0, cycle.height_mm(at) + rng.gauss(0.0, 1.5))
        weight = max(0.0, cycle.weight_kg(at) * (1 + rng.gauss(0.0, 0.01)))
        evenness = min(100.0, max(0.0, cycle.evenness_pct(at) + rng.gauss(0.0, 1.2)))
    air = air_temp_c(tower, at) + tower.station_offsets_c.get(station_id, 0.0)
    air += rng.gauss(0.0, 0.15)
    return StationReading(
        height_mm=height,
        weight_kg=weight,
        evenness_pct=evenness,
        water_level_mm=tower.water_level_mm + rng.gauss(0.0, 0.4),
        water_ph=water_ph(tower, at) + rng.gauss(0.0, 0.02),
        water_temp_c=water_temp_c(at) + rng.gauss(0.0, 0.08),
        air_temp_c=air,
        humidity_pct=humidity_pct(air) + rng.gauss(0.0, 0.7),
        co2_ppm=co2_ppm(at) + rng.gauss(0.0, 25.0),
    )


class Weather:
    """The site station: outdoor weather and the site's cumulative energy counter."""

    def __init__(self, seed: int, start_energy: float | None = None) -> None:
        self._rng = random.Random(f"{seed}:site")
        self._day_offsets: dict[int, tuple[float, float, float]] = {}
        self.energy_kwh = (
            start_energy if start_energy is not None else self._rng.uniform(97_000.0, 99_500.0)
        )

    def _day(self, at: datetime) -> tuple[float, float, float]:
        key = int(_days(at))
        if key not in self._day_offsets:
            self._day_offsets[key] = (
                self._rng.gauss(0.0, 3.0),
                self._rng.uniform(0.3, 1.0),
                self._rng.uniform(1.5, 6.0),
            )
        return self._day_offsets[key]

    def read(self, at: datetime, power_kw: float) -> tuple[float, float, float, float]:
        """Outdoor temperature, humidity, solar radiation and wind at ``at``."""
        offset, clearness, wind_mean = self._day(at)
        hour = _hour(at)
        temp = 8.0 + offset + 5.0 * math.sin(2 * math.pi * (hour - 9) / 24)
        temp += self._rng.gauss(0.0, 0.2)
        humidity = min(100.0, max(25.0, 82.0 - 2.5 * (temp - 8.0) + self._rng.gauss(0.0, 2.0)))
        solar = 0.0
        if 6.0 < hour < 18.0:
            solar = 780.0 * clearness * math.sin(math.pi * (hour - 6.0) / 12.0)
            solar = max(0.0, solar * (1 + self._rng.gauss(0.0, 0.08)))
        wind = abs(self._rng.gauss(wind_mean, 1.2))
        self.energy_kwh += power_kw * 5 / 60
        if self.energy_kwh >= ENERGY_WRAP_KWH:
            self.energy_kwh -= ENERGY_WRAP_KWH
        return temp, humidity, solar, wind

    def power_kw(self, at: datetime, towers: list[Tower]) -> float:
        """Site power: tower lights, irrigation pumps and a base load."""
        power = SITE_BASE_KW
        for tower in towers:
            if lights_on(at):
                power += TOWER_LIGHTS_KW
            if tower.irrigating(at):
                power += TOWER_PUMP_KW
        return max(0.0, power + self._rng.gauss(0.0, 0.15))

    def nan(self) -> bool:
        """Whether one weather value is missing (the station writes NaN)."""
        return self._rng.random() < 0.005
