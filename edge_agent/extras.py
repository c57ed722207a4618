"""Optional features and the extras that install them: ``pip install 'edge-agent[smb]'``.

SMB sources (smbprotocol), Greengrass IPC (awsiotsdk) and the demo's embedded broker (amqtt)
are extras, imported only by the modules that need them. Those modules import their packages
inside ``optional_dependency(...)``: a package that is not installed becomes a
:class:`MissingExtraError` naming the package and the extra. Any other ImportError (one of our
own modules, a broken installation of the package) is a bug and propagates as it is.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge_agent.errors import ConfigProblem, EdgeAgentError

if TYPE_CHECKING:
    from edge_agent.config.models import AgentConfig


@dataclass(frozen=True)
class Extra:
    """One extra of the edge-agent distribution."""

    name: str
    feature: str  # what it is for, as the subject of "... needs the package"
    distribution: str
    modules: tuple[str, ...]  # top-level import names it provides (its dependencies' too)


EXTRAS: dict[str, Extra] = {
    extra.name: extra
    for extra in (
        Extra("smb", "reading SMB shares", "smbprotocol", ("smbclient", "smbprotocol", "spnego")),
        Extra("greengrass", "talking to the Greengrass nucleus", "awsiotsdk", ("awsiot", "awscrt")),
        Extra("demo", "the demo's embedded MQTT broker", "amqtt", ("amqtt",)),
    )
}


class MissingExtraError(EdgeAgentError, ImportError):
    """A feature's optional package is not installed; the message says which extra installs it.

    An ImportError too, so ``import`` statements and ``except ImportError`` still see it.
    """

    def __init__(self, extra: Extra, module: str) -> None:
        self.extra = extra.name
        self.package = extra.distribution
        self.reason = (
            f"{extra.feature} needs the {extra.distribution} package, which is not installed "
            f"(no module named {module!r})"
        )
        self.install = f"pip install 'edge-agent[{extra.name}]'"
        super().__init__(f"{self.reason}; install the {extra.name!r} extra: {self.install}")
        self.name = module  # ImportError's attribute: the module that could not be found


@contextmanager
def optional_dependency(extra: str) -> Iterator[None]:
    """Import ``extra``'s packages inside this block; turn their absence into MissingExtraError.

    Only a ``ModuleNotFoundError`` for one of the extra's own top-level modules is translated:
    a missing module of ours, or of some other package, is a bug and is raised unchanged.
    """
    wanted = EXTRAS[extra]
    try:
        yield
    except ModuleNotFoundError as e:
        top = (e.name or "").partition(".")[0]
        if top not in wanted.modules:
            raise
        raise MissingExtraError(wanted, top) from e


def missing_module(extra: str) -> str | None:
    """The first of ``extra``'s modules that is not installed (None: all are)."""
    for module in EXTRAS[extra].modules:
        # find_spec does not import (cheap), and answers None for a module that cannot be found.
        if importlib.util.find_spec(module) is None:
            return module
    return None


def config_problems(config: AgentConfig) -> list[ConfigProblem]:
    """One problem per configured feature whose extra is not installed, at the key naming it."""
    needed = [
        (f"sources[{source.name}].type", "smb") for source in config.sources if source.type == "smb"
    ]
    if config.publish.target == "greengrass":
        needed.append(("publish.target", "greengrass"))
    problems = []
    for key, extra in needed:
        module = missing_module(extra)
        if module is not None:
            error = MissingExtraError(EXTRAS[extra], module)
            problems.append(ConfigProblem(key, error.reason, error.install))
    return problems
