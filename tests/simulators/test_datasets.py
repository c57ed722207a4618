"""The simulators' output parses with the dataset configurations edge-agent ships for it.

Parsed here with the small stdlib reader in ``reader.py`` (not the agent's), driven only by
each builtin ``DatasetConfig``: timestamps and values must equal the truth for published rows,
quarantined rows must fail, marker rows must be skipped.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_agent.config.datasets import DatasetConfig
from edge_agent.config.models import AgentConfig
from simulators.clock import from_iso_z
from simulators.datasets import (
    BUILTIN,
    SOURCE_HINTS,
    builtin_dataset_mapping,
    builtin_datasets,
    cea_mapping,
    field_names,
)
from simulators.truth import Truth

from .reader import read

REASON_TO_ERROR = {
    "bad_value": "bad_value",
    "field_count": "field_count",
    "truncated": "field_count",
    "bad_timestamp": "bad_timestamp",
}


def test_every_builtin_yaml_validates() -> None:
    folder = resources.files("edge_agent.datasets").joinpath("builtin")
    names = sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )
    assert names == sorted(BUILTIN)
    for name in names:
        mapping = yaml.safe_load(folder.joinpath(f"{name}.yaml").read_text(encoding="utf-8"))
        DatasetConfig.model_validate(mapping)
    assert set(SOURCE_HINTS) == set(BUILTIN)


def test_builtin_datasets_fit_an_agent_configuration(tmp_path: Path) -> None:
    sources = [
        {"name": name, "path": str(tmp_path / hint.folder), "dataset": name, "mode": hint.mode}
        for name, hint in SOURCE_HINTS.items()
    ]
    datasets = {name: builtin_dataset_mapping(name) for name in BUILTIN}
    config = AgentConfig.model_validate(
        {"thingName": "gateway-01", "sources": sources, "datasets": datasets, "cea": cea_mapping()}
    )
    assert set(config.datasets) == set(BUILTIN)
    assert config.cea is not None
    recipe = config.cea.recipe_for("tower-01")
    assert recipe is not None
    assert [p.name for p in recipe.phases] == ["germination", "growth", "finish"]


def test_unknown_builtin_is_refused() -> None:
    with pytest.raises(KeyError, match="no builtin dataset"):
        builtin_dataset_mapping("nope")


def same(expected: Any, got: Any) -> bool:
    if isinstance(expected, float) and isinstance(got, float):
        return math.isclose(expected, got, rel_tol=1e-12)
    return bool(expected == got) and type(expected) is type(got)


def check_output(root: Path, truth: Truth) -> int:
    configs = builtin_datasets()
    final: dict[str, int] = {}
    for row in truth.rows:
        final[row["file"]] = max(final.get(row["file"], 0), row["version"])
    expected = {(r["file"], r["line"]): r for r in truth.rows if r["version"] == final[r["file"]]}
    checked = 0
    for file, _version in final.items():
        dataset = next(r["dataset"] for r in truth.rows if r["file"] == file)
        config = configs[dataset]
        header, rows = read((root / file).read_bytes(), config)
        assert {r.line for r in rows} == {line for f, line in expected if f == file}, file
        names = field_names(config, header)
        for parsed in rows:
            row = expected[(file, parsed.line)]
            if row["reason"] == "marker":
                assert parsed.skipped, (file, parsed.line)
                continue
            assert not parsed.skipped
            if row["outcome"] == "quarantine":
                assert parsed.error == REASON_TO_ERROR[row["reason"]], (file, parsed.line)
                continue
            assert parsed.error is None, (file, parsed.line, parsed.raw)
            ts = from_iso_z(row["ts"])
            if row.get("ambiguousLocalTime"):
                assert ts in parsed.ts_alternatives
            else:
                assert parsed.ts == ts, (file, parsed.line)
            assert parsed.values is not None
            assert set(parsed.values) == set(names.values())
            assert set(row["values"]) == set(parsed.values), file
            for name, value in row["values"].items():
                assert same(value, parsed.values[name]), (file, parsed.line, name)
            checked += 1
    return checked


def test_tower_output_parses_with_the_builtin_datasets(tower_out: Path, tower_truth: Truth) -> None:
    assert check_output(tower_out, tower_truth) > 5000


def test_factory_output_parses_with_the_builtin_datasets(
    factory_out: Path, factory_truth: Truth
) -> None:
    assert check_output(factory_out, factory_truth) > 2500
