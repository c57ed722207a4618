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

from edge_agent.config.base import Model, NonNegativeSeconds, PositiveSeconds, problem, report
from edge_agent.config.topics import TopicTemplate

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class Band(Model):
    """The tolerance band of one variable: a value below ``min`` or above ``max`` deviates."""

    min: float | None = None
    """Lowest value within the band."""
    max: float | None = None
    """Highest value within the band."""
    setpoint: float | None = None
    """The value the automation aims at (inside the band); shown with alerts."""

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        problems = []
        if self.min is None and self.max is None:
            problems.append(
                problem(("min",), "missing: give min, max or both", "the band a value must stay in")
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            problems.append(
                problem(("min",), f"min ({self.min}) is above max ({self.max})", "swap them")
            )
        if self.setpoint is not None:
            if self.min is not None and self.setpoint < self.min:
                problems.append(
                    problem(("setpoint",), f"setpoint ({self.setpoint}) is below min ({self.min})")
                )
            if self.max is not None and self.setpoint > self.max:
                problems.append(
                    problem(("setpoint",), f"setpoint ({self.setpoint}) is above max ({self.max})")
                )
        report(Band, problems)
        return self


class RecipePhase(Model):
    """A named phase of the growth cycle, by day of cycle (both days included)."""

    name: str = Field(min_length=1, max_length=64)
    """Name of the phase (e.g. germination), unique in its recipe."""
    from_day: int = Field(ge=0, le=365)
    """First day of cycle of the phase (day 0 is the seeding day)."""
    to_day: int = Field(ge=0, le=365)
    """Last day of cycle of the phase (included)."""
    bands: dict[str, Band] = Field(default_factory=dict)
    """The band of each record field checked in this phase (e.g. air_temp_c)."""

    @model_validator(mode="after")
    def _days(self) -> RecipePhase:
        if self.from_day > self.to_day:
            report(
                RecipePhase,
                [
                    problem(
                        ("from_day",),
                        f"fromDay ({self.from_day}) is after toDay ({self.to_day})",
                        "swap them",
                    )
                ],
            )
        return self


class GrowRecipe(Model):
    """Target conditions for a crop, phase by phase."""

    crop: str = ""
    """What is grown (informational)."""
    cycle_days: int | None = Field(default=None, ge=1, le=365)
    """Length of a growth cycle in days (informational)."""
    min_deviation_seconds: NonNegativeSeconds = 900.0
    """A value must stay outside its band this long before it is an alert."""
    phases: tuple[RecipePhase, ...] = Field(min_length=1)
    """The phases by day of cycle; their days must not overlap."""

    @model_validator(mode="after")
    def _no_overlap(self) -> GrowRecipe:
        problems = []
        ordered = sorted(enumerate(self.phases), key=lambda p: p[1].from_day)
        for (_, before), (i, after) in pairwise(ordered):
            if after.from_day <= before.to_day:
                problems.append(
                    problem(
                        ("phases", i, "from_day"),
                        f"phases {before.name!r} (days {before.from_day}-{before.to_day}) and "
                        f"{after.name!r} (days {after.from_day}-{after.to_day}) overlap",
                        "a day of cycle must fall in one phase",
                    )
                )
        names = [p.name for p in self.phases]
        for i, name in enumerate(names):
            if name in names[:i]:
                problems.append(
                    problem(
                        ("phases", i, "name"), f"phase name {name!r} is used twice", "rename one"
                    )
                )
        report(GrowRecipe, problems)
        return self


class CeaConfig(Model):
    """The site this gateway serves and how tower readings are tagged, fused and checked."""

    site_id: str = Field(pattern=_ID)
    """The site this gateway serves; site rows of other sites are published but not joined."""
    site_tolerance_minutes: float = Field(default=10.0, gt=0, le=24 * 60)
    """The site reading joined to a tower reading is at most this old."""
    grace_seconds: NonNegativeSeconds = 330.0
    """How long a tower reading waits for its site and automation context before it goes out."""
    correction_window_hours: PositiveSeconds = 48.0
    """Published readings are kept this long, to correct them when late context arrives."""
    history_days: PositiveSeconds = 14.0
    """Site and automation history kept for late tower files."""
    recipes: dict[str, GrowRecipe] = Field(default_factory=dict)
    """The grow recipes by name."""
    default_recipe: str | None = None
    """The recipe towers follow unless towerRecipes names another (one recipe: that one)."""
    tower_recipes: dict[str, str] = Field(default_factory=dict)
    """Recipe by tower id, for towers that follow another recipe."""
    alerts_topic: str = "dt/edge-agent/{thingName}/alerts"
    """Topic of the alerts (placeholders as in dataset topics)."""

    @field_validator("alerts_topic")
    @classmethod
    def _template(cls, v: str) -> str:
        TopicTemplate(v)
        return v

    @model_validator(mode="after")
    def _recipe_references(self) -> CeaConfig:
        problems = []
        known = ", ".join(sorted(self.recipes)) or "none"
        for name in self.recipes:
            if not re.fullmatch(_ID, name):
                problems.append(
                    problem(
                        ("recipes", name), "use letters, digits, '_', '.', ':', '-' in recipe names"
                    )
                )
        if self.default_recipe is not None and self.default_recipe not in self.recipes:
            problems.append(
                problem(
                    ("default_recipe",),
                    f"recipe {self.default_recipe!r} is not defined under cea.recipes",
                    f"defined: {known}",
                )
            )
        for tower, recipe in self.tower_recipes.items():
            if recipe not in self.recipes:
                problems.append(
                    problem(
                        ("tower_recipes", tower),
                        f"recipe {recipe!r} is not defined under cea.recipes",
                        f"defined: {known}",
                    )
                )
        if len(self.recipes) > 1 and self.default_recipe is None and not self.tower_recipes:
            problems.append(
                problem(
                    ("default_recipe",),
                    "missing: several recipes are defined",
                    "name the one towers follow (defaultRecipe), or map towers to recipes "
                    "(towerRecipes)",
                )
            )
        report(CeaConfig, problems)
        return self

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
