"""The sections of a configuration as far as they are valid, for the checks across sections
(config/across.py) and the checks of this machine (config/environment.py).

Of a valid configuration every section is there. Of a refused one, each section is validated
by itself and kept when it is valid, so one pass still names every problem: a source naming a
dataset that is not defined is reported beside a typo in another key, and a missing source
folder beside a bad dataset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

from edge_agent.config.datasets import DatasetConfig
from edge_agent.config.farm import CeaConfig
from edge_agent.config.operations import HealthConfig
from edge_agent.config.paths import DEFAULT_STATE_DIR, absolute, resolve_paths
from edge_agent.config.publish import PublishConfig
from edge_agent.config.sources import SourceConfig
from edge_agent.config.thing import ThingName, thing_name_from_environment


class WholeConfig(Protocol):
    """The sections of a valid configuration (``AgentConfig``; a protocol, so that this module,
    which ``models`` imports, does not import it back)."""

    @property
    def thing_name(self) -> str: ...
    @property
    def state_dir(self) -> str: ...
    @property
    def sources(self) -> tuple[SourceConfig, ...]: ...
    @property
    def datasets(self) -> dict[str, DatasetConfig]: ...
    @property
    def publish(self) -> PublishConfig: ...
    @property
    def health(self) -> HealthConfig: ...
    @property
    def cea(self) -> CeaConfig | None: ...


M = TypeVar("M", bound=BaseModel)
_THING_NAME: TypeAdapter[str] = TypeAdapter(ThingName)


@dataclass(frozen=True)
class SourceEntry:
    """One item of ``sources``: its name and dataset as written (None: not text), and the
    source if it is valid."""

    name: str | None
    dataset: str | None
    config: SourceConfig | None


@dataclass(frozen=True)
class Sections:
    """What is valid of a configuration, section by section (None: invalid or not a mapping)."""

    thing_name: str | None
    state_dir: str | None
    sources: tuple[SourceEntry, ...]
    datasets: Mapping[str, DatasetConfig | None] | None
    """Every dataset name given, with its dataset if that is valid."""
    publish: PublishConfig | None
    health: HealthConfig | None
    cea: CeaConfig | None
    cea_given: bool

    @classmethod
    def of(cls, config: WholeConfig) -> Sections:
        """Every section of a valid configuration."""
        return cls(
            thing_name=config.thing_name,
            state_dir=config.state_dir,
            sources=tuple(SourceEntry(s.name, s.dataset, s) for s in config.sources),
            datasets=config.datasets,
            publish=config.publish,
            health=config.health,
            cea=config.cea,
            cea_given=config.cea is not None,
        )

    @classmethod
    def salvage(cls, document: Any, base_dir: Path | None = None) -> Sections:
        """The sections of a refused configuration mapping that are valid by themselves;
        with ``base_dir``, their relative paths resolved against it (config/paths.py)."""
        if not isinstance(document, dict):
            document = {}
        thing = _given(document, "thing_name", thing_name_from_environment())
        state_dir = _given(document, "state_dir", DEFAULT_STATE_DIR)
        raw_sources = _given(document, "sources", [])
        raw_datasets = _given(document, "datasets", {})
        raw_cea = _given(document, "cea", None)
        # One entry per item, so an entry's position is its index in the document.
        sources = tuple(
            SourceEntry(
                _text(item.get("name")),
                _text(item.get("dataset")),
                _valid(SourceConfig, item, base_dir),
            )
            if isinstance(item, dict)
            else SourceEntry(None, None, None)
            for item in (raw_sources if isinstance(raw_sources, list) else [])
        )
        datasets = (
            {k: _valid(DatasetConfig, v) for k, v in raw_datasets.items() if isinstance(k, str)}
            if isinstance(raw_datasets, dict)
            else None
        )
        if isinstance(state_dir, str) and base_dir is not None:
            state_dir = absolute(state_dir, base_dir)
        return cls(
            thing_name=_valid_thing(thing),
            state_dir=state_dir if isinstance(state_dir, str) else None,
            sources=sources,
            datasets=datasets,
            publish=_valid(PublishConfig, _given(document, "publish", {}), base_dir),
            health=_valid(HealthConfig, _given(document, "health", {})),
            cea=None if raw_cea is None else _valid(CeaConfig, raw_cea),
            cea_given=raw_cea is not None,
        )


def _given(document: dict[Any, Any], field: str, default: Any) -> Any:
    """The value of a top-level field, under its camelCase key or its own name."""
    for key in (to_camel(field), field):
        if key in document:
            return document[key]
    return default


def _text(value: Any) -> str | None:
    # As the models take it: stripped (str_strip_whitespace).
    return value.strip() if isinstance(value, str) else None


def _valid(model: type[M], value: Any, base_dir: Path | None = None) -> M | None:
    try:
        valid = model.model_validate(value)
    except ValidationError:
        return None  # its problems are reported by the validation of the whole
    return resolve_paths(valid, base_dir) if base_dir is not None else valid


def _valid_thing(value: Any) -> str | None:
    try:
        return _THING_NAME.validate_python(value)
    except ValidationError:
        return None
