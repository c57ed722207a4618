"""Grow recipes at run time: the phase of a day of cycle, and a reading's deviations from it."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
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
    # (variable, low, high, limit) with a missing bound as -inf/+inf: one comparison each
    checks: tuple[tuple[str, float, float, Limit], ...] = ()
    # The band variables' values of a record (a tuple), and whether they are all numbers in
    # their bands: nearly every reading is, and this answers it in one expression.
    values: Callable[[dict[str, Any]], Any] = tuple
    in_band: Callable[[Any], bool] = bool


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


def _single(name: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    def values(record: dict[str, Any]) -> tuple[Any, ...]:
        return (record[name],)

    return values


def _in_band(checks: tuple[tuple[str, float, float, Limit], ...]) -> Callable[[Any], bool]:
    """``lambda v: low0 <= v[0] <= high0 and ...`` for the bands' bounds (numbers from the
    validated configuration, written with repr, which reads back exactly). A value that is
    not a number raises TypeError, NaN compares false: either way the caller looks closer."""
    terms = []
    for i, (_name, low, high, _limit) in enumerate(checks):
        if low != -math.inf:
            terms.append(f"{float(low)!r} <= v[{i}]")
        if high != math.inf:
            terms.append(f"v[{i}] <= {float(high)!r}")
    namespace: dict[str, Any] = {}
    exec(f"def in_band(v):\n    return {' and '.join(terms) or 'True'}\n", namespace)
    check: Callable[[Any], bool] = namespace["in_band"]
    return check


def _compile(recipe: GrowRecipe) -> tuple[dict[int, Phase], float]:
    days: dict[int, Phase] = {}
    for phase in recipe.phases:
        limits = tuple(
            Limit(name, band.min, band.max, band.setpoint) for name, band in phase.bands.items()
        )
        checks = tuple(
            (
                limit.variable,
                -math.inf if limit.low is None else limit.low,
                math.inf if limit.high is None else limit.high,
                limit,
            )
            for limit in limits
        )
        names = [check[0] for check in checks]
        # One C call for all the values (a tuple from two names on).
        values: Callable[[dict[str, Any]], Any] = tuple  # no band: deviations() returns early
        if len(names) == 1:
            values = _single(names[0])
        elif names:
            values = operator.itemgetter(*names)
        compiled = Phase(phase.name, limits, checks, values, _in_band(checks))
        for day in range(phase.from_day, phase.to_day + 1):
            days[day] = compiled
    return days, recipe.min_deviation_seconds


def deviations(phase: Phase | None, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The variables of a reading outside their band (a missing value never deviates; nor
    does NaN, which compares false both ways)."""
    if phase is None or not phase.checks:
        return []
    try:
        if phase.in_band(phase.values(record)):
            return []  # every value a number in its band
    except (KeyError, TypeError):
        pass  # a value missing or not a number: the loop below tells which deviate
    found: list[dict[str, Any]] = []
    for variable, low, high, limit in phase.checks:
        value: Any = record.get(variable)
        # None, text, or a boolean: nothing to compare
        if (type(value) is float or type(value) is int) and (value < low or value > high):
            found.append(
                {
                    "variable": variable,
                    "value": value,
                    "min": limit.low,
                    "max": limit.high,
                    "setpoint": limit.setpoint,
                    "phase": phase.name,
                }
            )
    return found
