"""Grow recipes at run time: the phase of a day of cycle, and a reading's deviations from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge_agent.config.farm import CeaConfig, GrowRecipe


@dataclass(frozen=True, slots=True)
class Limit:
    """One variable's band in one phase."""

    variable: str
    low: float | None
    high: float | None
    setpoint: float | None


@dataclass(frozen=True, slots=True)
class Phase:
    """A phase ready for checking: its name and limits."""

    name: str
    limits: tuple[Limit, ...]


class RecipeBook:
    """Which recipe each tower follows and what each day of its cycle asks for."""

    def __init__(self, cea: CeaConfig) -> None:
        self._cea = cea
        self._by_tower: dict[str, tuple[dict[int, Phase], float] | None] = {}

    def _compiled(self, tower_id: str) -> tuple[dict[int, Phase], float] | None:
        if tower_id not in self._by_tower:
            recipe = self._cea.recipe_for(tower_id)
            self._by_tower[tower_id] = None if recipe is None else _compile(recipe)
        return self._by_tower[tower_id]

    def min_deviation_seconds(self, tower_id: str) -> float:
        """How long a deviation must last before it is an alert, for this tower's recipe."""
        compiled = self._compiled(tower_id)
        return compiled[1] if compiled is not None else 0.0

    def phase(self, tower_id: str, day: int | None) -> Phase | None:
        """The phase of the tower's recipe covering ``day``, or None."""
        if day is None:
            return None
        compiled = self._compiled(tower_id)
        return compiled[0].get(day) if compiled is not None else None


def _compile(recipe: GrowRecipe) -> tuple[dict[int, Phase], float]:
    days: dict[int, Phase] = {}
    for phase in recipe.phases:
        limits = tuple(
            Limit(name, band.min, band.max, band.setpoint) for name, band in phase.bands.items()
        )
        compiled = Phase(phase.name, limits)
        for day in range(phase.from_day, phase.to_day + 1):
            days[day] = compiled
    return days, recipe.min_deviation_seconds


_NUMBERS = (int, float)


def deviations(phase: Phase | None, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The variables of a reading outside their band (a missing value never deviates)."""
    if phase is None:
        return []
    found: list[dict[str, Any]] = []
    for limit in phase.limits:
        value: Any = record.get(limit.variable)
        if type(value) not in _NUMBERS:  # None, text, or a boolean: nothing to compare
            continue
        low, high = limit.low, limit.high
        if (low is not None and value < low) or (high is not None and value > high):
            found.append(
                {
                    "variable": limit.variable,
                    "value": value,
                    "min": low,
                    "max": high,
                    "setpoint": limit.setpoint,
                    "phase": phase.name,
                }
            )
    return found
