"""The dataset configurations edge-agent ships for the simulators' layouts, and where they live.

The YAML files are ``edge_agent/datasets/builtin/<name>.yaml``, one
:class:`edge_agent.config.models.DatasetConfig` mapping each. :data:`SOURCE_HINTS` says which
folder under the simulator's output each dataset's files are in and how they are written, so
a test or the demo can build an agent configuration from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, Literal

import yaml

from edge_agent.config.datasets import DatasetConfig
from simulators.recipe import DEFAULT_RECIPE, Recipe

BUILTIN: Final = (
    "tower",
    "seeding",
    "automation",
    "site",
    "wincc",
    "toa5",
    "plc",
    "excel_unicode",
    "cp1252_hmi",
)


@dataclass(frozen=True, slots=True)
class SourceHint:
    """Where a dataset's files are under the simulator output, and how they are written."""

    folder: str
    include: tuple[str, ...]
    mode: Literal["complete", "append"]


SOURCE_HINTS: Final = {
    "tower": SourceHint("tower", ("*.csv",), "complete"),
    "seeding": SourceHint("seeding", ("*.csv",), "complete"),
    "automation": SourceHint("automation", ("*.csv",), "complete"),
    "site": SourceHint("site", ("*.csv",), "complete"),
    "wincc": SourceHint("factory/wincc", ("*.csv",), "append"),
    "toa5": SourceHint("factory/toa5", ("*.csv",), "complete"),
    "plc": SourceHint("factory/plc", ("*.csv",), "append"),
    "excel_unicode": SourceHint("factory/excel", ("*.csv",), "complete"),
    "cp1252_hmi": SourceHint("factory/hmi", ("*.csv",), "append"),
}
"""Tower datasets are interval files by default; after ``edge-sim tower --append``, mode append."""


def builtin_dataset_mapping(name: str) -> dict[str, Any]:
    """The raw mapping of one builtin dataset YAML."""
    if name not in BUILTIN:
        raise KeyError(f"no builtin dataset {name!r}; known: {', '.join(BUILTIN)}")
    folder = resources.files("edge_agent.datasets").joinpath("builtin")
    text = folder.joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    mapping = yaml.safe_load(text)
    if not isinstance(mapping, dict):
        raise TypeError(f"builtin dataset {name!r} is not a mapping")
    return mapping


def cea_mapping(
    site_id: str = "site-01", recipe: Recipe = DEFAULT_RECIPE, **overrides: Any
) -> dict[str, Any]:
    """The ``cea`` configuration section for a simulated farm: its site and grow recipe.

    ``overrides`` are further camelCase keys (e.g. ``graceSeconds=2``).
    """
    body = {key: value for key, value in recipe.items() if key != "name"}
    return {
        "siteId": site_id,
        "recipes": {recipe["name"]: body},
        "defaultRecipe": recipe["name"],
        **overrides,
    }


def builtin_datasets() -> dict[str, DatasetConfig]:
    """Every builtin dataset, validated."""
    return {name: DatasetConfig.model_validate(builtin_dataset_mapping(name)) for name in BUILTIN}


def field_names(config: DatasetConfig, header: Sequence[str]) -> dict[str, str]:
    """Header text -> record field name, for the columns that become fields.

    Timestamp columns become ``ts`` and are left out, as are skipped columns; a column without
    ``name`` keeps its header text.
    """
    timestamp = config.csv.timestamp_column
    stamps = {timestamp} if isinstance(timestamp, str) else set(timestamp or ())
    names: dict[str, str] = {}
    for column in header:
        if column in stamps:
            continue
        settings = config.columns.get(column)
        if settings is not None and settings.skip:
            continue
        names[column] = (
            settings.name if settings is not None and settings.name else None
        ) or column
    return names
