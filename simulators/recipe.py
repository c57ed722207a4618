"""The default grow recipe of the simulated farm, as plain data.

A recipe is what the enrichment stage checks tower readings against: named phases by day of
cycle (``fromDay`` <= day <= ``toDay``), a tolerance band (min/max) per variable, and how long a
deviation must last before it is an alert. The values follow notes/cea-domain.md for barley
fodder. The simulator's ground truth lists, for every tagged reading, the variables outside the
band of its phase (:func:`deviations`), and the deviation episodes that last long enough
(``tower-alerts.jsonl``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, TypedDict


class Band(TypedDict):
    """Tolerance band of one variable: a value outside [min, max] is a deviation."""

    min: float
    max: float


class Phase(TypedDict):
    """A named phase of the cycle, by day of cycle (day 0 is the seeding day)."""

    name: str
    fromDay: int
    toDay: int
    bands: dict[str, Band]


class Recipe(TypedDict):
    """A grow recipe: phases in day order and the minimum duration of an alert."""

    name: str
    crop: str
    cycleDays: int
    minDeviationSeconds: int
    phases: list[Phase]


class Deviation(TypedDict):
    """One variable of one reading outside its band."""

    variable: str
    value: float
    min: float
    max: float
    phase: str


DEFAULT_RECIPE: Final[Recipe] = {
    "name": "barley-fodder-7d",
    "crop": "barley",
    "cycleDays": 7,
    "minDeviationSeconds": 900,
    "phases": [
        {
            "name": "germination",
            "fromDay": 0,
            "toDay": 1,
            "bands": {
                "air_temp_c": {"min": 18.0, "max": 24.0},
                "humidity_pct": {"min": 55.0, "max": 80.0},
                "co2_ppm": {"min": 400.0, "max": 1500.0},
                "water_ph": {"min": 5.8, "max": 6.8},
                "water_temp_c": {"min": 17.5, "max": 20.5},
            },
        },
        {
            "name": "growth",
            "fromDay": 2,
            "toDay": 5,
            "bands": {
                "air_temp_c": {"min": 17.0, "max": 24.0},
                "humidity_pct": {"min": 50.0, "max": 75.0},
                "co2_ppm": {"min": 400.0, "max": 1700.0},
                "water_ph": {"min": 6.0, "max": 6.8},
                "water_temp_c": {"min": 17.5, "max": 20.5},
            },
        },
        {
            "name": "finish",
            "fromDay": 6,
            "toDay": 99,
            "bands": {
                "air_temp_c": {"min": 17.0, "max": 24.0},
                "humidity_pct": {"min": 50.0, "max": 72.0},
                "co2_ppm": {"min": 400.0, "max": 1700.0},
                "water_ph": {"min": 6.0, "max": 6.8},
                "water_temp_c": {"min": 17.5, "max": 20.5},
            },
        },
    ],
}


def phase_for_day(recipe: Recipe, day: int) -> Phase | None:
    """The phase that covers ``day`` of the cycle, or None."""
    for phase in recipe["phases"]:
        if phase["fromDay"] <= day <= phase["toDay"]:
            return phase
    return None


def deviations(
    recipe: Recipe, day: int | None, values: Mapping[str, float | None]
) -> list[Deviation]:
    """The variables of one reading outside the band of its phase, in recipe order.

    An untracked reading (``day`` None) has no phase, so nothing deviates; a missing value
    (None) is not a deviation.
    """
    if day is None:
        return []
    phase = phase_for_day(recipe, day)
    if phase is None:
        return []
    found: list[Deviation] = []
    for variable, band in phase["bands"].items():
        value = values.get(variable)
        if value is None:
            continue
        if value < band["min"] or value > band["max"]:
            found.append(
                {
                    "variable": variable,
                    "value": value,
                    "min": band["min"],
                    "max": band["max"],
                    "phase": phase["name"],
                }
            )
    return found
