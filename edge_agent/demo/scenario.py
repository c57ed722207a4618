"""What the demo runs: the tower and factory simulators, and an agent configuration for them.

One source per builtin dataset, each watching the folder the simulators write that dataset
into (:data:`simulators.datasets.SOURCE_HINTS`), publishing to the embedded broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

from edge_agent.config.load import parse_config
from edge_agent.config.models import AgentConfig
from simulators.clock import floor_time
from simulators.datasets import SOURCE_HINTS, builtin_dataset_mapping, cea_mapping
from simulators.factory.common import FactorySettings
from simulators.factory.sim import FactorySimulation
from simulators.runner import Simulation
from simulators.tower.sim import TowerSettings, TowerSimulation

THING_NAME: Final = "demo-gateway"
GRACE_SECONDS: Final = 2.0
SETTLE_SECONDS: Final = 1.0
RESCAN_SECONDS: Final = 5.0
# The simulated clock starts ten minutes before a full hour: the first hourly tower files are
# then complete after a second of wall time instead of six.
LEAD_IN: Final = timedelta(minutes=10)
# A little more garbled factory rows than the simulator's default, so the quarantine shows.
FACTORY_BAD_RATE: Final = 0.01

Group = Literal["tower", "factory"]


@dataclass(frozen=True, slots=True)
class DemoSource:
    """One source of the demo: its name (= its dataset) and the simulator that feeds it."""

    name: str
    group: Group
    folder: str


def demo_sources() -> tuple[DemoSource, ...]:
    """Every builtin dataset as a source, tower (farm) ones first."""
    sources = [
        DemoSource(name, "factory" if hint.folder.startswith("factory/") else "tower", hint.folder)
        for name, hint in SOURCE_HINTS.items()
    ]
    return tuple(sorted(sources, key=lambda s: s.group != "tower"))


def simulation_start(now: datetime) -> datetime:
    """Where the simulated clock starts for a run begun at ``now``."""
    return floor_time(now, timedelta(hours=1)) + timedelta(hours=1) - LEAD_IN


def simulations(start: datetime, seed: int) -> list[Simulation]:
    """The tower and the factory simulators in real time, endless until stopped."""
    # A drifting pH sensor: recipe deviations, then an alert, about a minute and a half in.
    tower = TowerSimulation(
        TowerSettings(start=start, end=None, seed=seed, realtime=True, faults=frozenset({"drift"}))
    )
    factory = FactorySimulation(
        FactorySettings(start=start, end=None, seed=seed, bad_rate=FACTORY_BAD_RATE)
    )
    return [tower, factory]


def agent_config(data_dir: Path, state_dir: Path, *, host: str, port: int) -> AgentConfig:
    """The agent configuration: every dataset folder under ``data_dir``, to the local broker.

    The folders are created, so every source starts out watching. Rate limits stay at the AWS
    IoT Core defaults, as on a gateway.
    """
    return parse_config(agent_document(data_dir, state_dir, host=host, port=port))


def agent_document(data_dir: Path, state_dir: Path, *, host: str, port: int) -> dict[str, Any]:
    """:func:`agent_config` as the mapping a configuration file holds (what ``--keep`` writes)."""
    sources: list[dict[str, Any]] = []
    for source in demo_sources():
        hint = SOURCE_HINTS[source.name]
        folder = data_dir / source.folder
        folder.mkdir(parents=True, exist_ok=True)
        sources.append(
            {
                "name": source.name,
                "path": str(folder),
                "include": list(hint.include),
                "mode": hint.mode,
                "settleSeconds": SETTLE_SECONDS,
                "rescanSeconds": RESCAN_SECONDS,
                "dataset": source.name,
            }
        )
    document: dict[str, Any] = {
        "thingName": THING_NAME,
        "stateDir": str(state_dir),
        "sources": sources,
        "datasets": {s.name: builtin_dataset_mapping(s.name) for s in demo_sources()},
        # The grace period is wall-clock time: 5.5 minutes would be 55 simulated hours at 600x,
        # holding back the first readings (no site data before the start) and their alerts.
        "cea": cea_mapping(graceSeconds=GRACE_SECONDS),
        "health": {"port": None},
        "publish": {
            "target": "mqtt",
            "mqtt": {
                "host": host,
                "port": port,
                "protocol": "3.1.1",
                "clientId": f"{THING_NAME}-edge-agent",
                "reconnectMinSeconds": 0.5,
                "reconnectMaxSeconds": 2,
            },
        },
        "logging": {"level": "WARNING", "format": "text"},
        "shutdownTimeoutSeconds": 5,
        "statusIntervalSeconds": 5,
    }
    return document
