"""The farm (CEA) part of the configuration: the site, the fusion tolerances and the grow recipes.

A grow recipe is named phases by day of cycle (``fromDay`` <= day <= ``toDay``, day 0 is the
seeding day), each with a band per variable (``min``/``max``, and the ``setpoint`` the band is
around), and how long a reading must stay outside its band before it is an alert
(notes/cea-domain.md: OpenAg phased recipes, Mycodo setpoints, Bitponics ideal ranges).
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Literal

from pydantic import Field, field_validator, model_validator

from edge_agent.config.base import Model, NonNegativeSeconds, PositiveSeconds
from edge_agent.config.topics import TopicTemplate

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class Band(Model):
    """The tolerance band of one variable: a value below ``min`` or above ``max`` deviates."""

    min: float | None = None
    max: float | None = None
    setpoint: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both (the band a value must stay in)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max}): swap them")
        if self.setpoint is not None:
            if self.min is not None and self.setpoint < self.min:
                raise ValueError(f"setpoint ({self.setpoint}) is below min ({self.min})")
            if self.max is not None and self.setpoint > self.max:
                raise ValueError(f"setpoint ({self.setpoint}) is above max ({self.max})")
        return self


class RecipePhase(Model):
    """A named phase of the growth cycle, by day of cycle (both days included)."""

    name: str = Field(min_length=1, max_length=64)
    from_day: int = Field(ge=0, le=365)
    to_day: int = Field(ge=0, le=365)
    bands: dict[str, Band] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _days(self) -> RecipePhase:
        if self.from_day > self.to_day:
            raise ValueError(f"fromDay ({self.from_day}) is after toDay ({self.to_day})")
        return self


class GrowRecipe(Model):
    """Target conditions for a crop, phase by phase."""

    crop: str = ""
    cycle_days: int | None = Field(default=None, ge=1, le=365)
    min_deviation_seconds: NonNegativeSeconds = 900.0
    phases: tuple[RecipePhase, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _no_overlap(self) -> GrowRecipe:
        ordered = sorted(self.phases, key=lambda p: p.from_day)
        for before, after in pairwise(ordered):
            if after.from_day <= before.to_day:
                raise ValueError(
                    f"phases {before.name!r} (days {before.from_day}-{before.to_day}) and "
                    f"{after.name!r} (days {after.from_day}-{after.to_day}) overlap: "
                    "a day of cycle must fall in one phase"
                )
        names = [p.name for p in self.phases]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"phase name {name!r} is used twice")
        return self


class CeaConfig(Model):
    """The site this gateway serves and how tower readings are tagged, fused and checked."""

    site_id: str = Field(pattern=_ID)
    site_tolerance_minutes: float = Field(default=10.0, gt=0, le=24 * 60)
    grace_seconds: NonNegativeSeconds = 330.0
    correction_window_hours: PositiveSeconds = 48.0
    history_days: PositiveSeconds = 14.0
    recipes: dict[str, GrowRecipe] = Field(default_factory=dict)
    default_recipe: str | None = None
    tower_recipes: dict[str, str] = Field(default_factory=dict)
    alerts_topic: str = "dt/edge-agent/{thingName}/alerts"

    @field_validator("alerts_topic")
    @classmethod
    def _template(cls, v: str) -> str:
        TopicTemplate(v)
        return v

    def problems(self) -> list[str]:
        """Cross-references between recipe names, as "key.path: message — hint" lines (the
        form AgentConfig's model-level checks report in; config/load.py splits them)."""
        problems: list[str] = []
        known = ", ".join(sorted(self.recipes)) or "none"
        for name in self.recipes:
            if not re.fullmatch(_ID, name):
                problems.append(
                    f"cea.recipes.{name}: use letters, digits, '_', '.', ':', '-' in recipe names"
                )
        if self.default_recipe is not None and self.default_recipe not in self.recipes:
            problems.append(
                f"cea.defaultRecipe: recipe {self.default_recipe!r} is not defined under "
                f"cea.recipes — defined: {known}"
            )
        for tower, recipe in self.tower_recipes.items():
            if recipe not in self.recipes:
                problems.append(
                    f"cea.towerRecipes.{tower}: recipe {recipe!r} is not defined under "
                    f"cea.recipes — defined: {known}"
                )
        if len(self.recipes) > 1 and self.default_recipe is None and not self.tower_recipes:
            problems.append(
                "cea.defaultRecipe: several recipes are defined — name the one towers follow "
                "(defaultRecipe), or map towers to recipes (towerRecipes)"
            )
        return problems

    def recipe_for(self, tower_id: str) -> GrowRecipe | None:
        """The recipe a tower follows, or None when no recipe is configured."""
        name = self.tower_recipes.get(tower_id) or self.default_recipe
        if name is None and len(self.recipes) == 1:
            name = next(iter(self.recipes))
        return self.recipes.get(name) if name is not None else None

    wait_for: tuple[Literal["site", "automation", "seeding"], ...] = Field(
        default=("site", "automation"),
        description="The context streams a tower reading waits for (up to graceSeconds) before "
        "it goes out final; docs/farm.md: the completeness rule, and why not sparse streams.",
    )

    @field_validator("wait_for")
    @classmethod
    def _once_each(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError("name each stream once (site, automation, seeding)")
        return v
