"""Paths in the configuration that name files or folders on this machine.

A relative path means: relative to the folder of the configuration file (or recipe) it is
written in; inside Greengrass, relative to the component's work folder. The models keep paths
as written (a model stays loadable anywhere, e.g. in tests and when the Greengrass artifact is
built); ``resolve_paths`` makes them absolute once the base folder is known: ``load_config``
does it for a file, the Greengrass component for its work folder. Every path field is marked
``LocalPath`` in its model, so a new one is resolved (and documented as such) by being marked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

M = TypeVar("M", bound=BaseModel)

# Where the ledger and outbox live unless stateDir says otherwise.
DEFAULT_STATE_DIR = "/var/lib/edge-agent"


@dataclass(frozen=True)
class LocalPath:
    """Marks a field as a path on this machine (``Annotated[str, LocalPath()]``).

    ``when_type``: only a path on this machine when the model's ``type`` is this (an SMB
    source's ``moveTo`` is a folder on the share, relative to the share root).
    """

    when_type: str | None = None

    def applies(self, model: BaseModel) -> bool:
        """Whether the marked field of ``model`` is a path on this machine."""
        return self.when_type is None or getattr(model, "type", None) == self.when_type

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The field's schema, marked so the reference says how the path is resolved."""
        schema = handler(core_schema)
        schema["x-local-path"] = self.when_type or True
        return schema


def absolute(path: str, base: Path) -> str:
    """``path`` made absolute: ``~`` expanded, then relative to ``base``; ``..`` and ``.``
    are taken out as a shell's ``cd`` would (so messages and ``status`` show clean paths)."""
    expanded = os.path.expanduser(path)
    if os.path.isabs(expanded):
        return expanded
    return os.path.abspath(os.path.join(base, expanded))


def local_path_marker(model: BaseModel, name: str) -> LocalPath | None:
    """The LocalPath marker of field ``name`` of ``model`` if it applies to this model."""
    field = type(model).model_fields[name]
    marker = next((m for m in field.metadata if isinstance(m, LocalPath)), None)
    return marker if marker is not None and marker.applies(model) else None


def resolve_paths(model: M, base: Path) -> M:
    """``model`` with every relative LocalPath (nested models included) made absolute."""
    updates: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, str) and local_path_marker(model, name) is not None:
            resolved: Any = absolute(value, base)
        else:
            resolved = _resolve_within(value, base)
        if resolved is not value and resolved != value:
            updates[name] = resolved
    # No validation is needed: only strings change, into strings of the same meaning.
    return model.model_copy(update=updates) if updates else model


def _resolve_within(value: Any, base: Path) -> Any:
    if isinstance(value, BaseModel):
        return resolve_paths(value, base)
    if isinstance(value, tuple):
        items = tuple(_resolve_within(v, base) for v in value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, dict):
        entries = {k: _resolve_within(v, base) for k, v in value.items()}
        return value if all(entries[k] is v for k, v in value.items()) else entries
    return value


def base_folder(config_path: str | os.PathLike[str]) -> Path:
    """The folder relative paths in the configuration file at ``config_path`` start from."""
    return Path(os.path.abspath(config_path)).parent
