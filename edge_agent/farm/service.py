"""The farm as the agent wires it: state, recipes, joins, the stages of each pass, the worker.

The reading pass sees the farm only through ``edge_agent.reading.stage``: ``Farm.stages(kind)``
is the :class:`StageFactory` of a farm dataset, and ``Farm`` answers the disposer's "pending
work" question (a file whose readings are held is not moved or deleted yet).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from edge_agent.config.models import AgentConfig
from edge_agent.farm.enrich import Enricher
from edge_agent.farm.recipes import RecipeBook
from edge_agent.farm.schema import ensure_schema
from edge_agent.farm.stages import AutomationStage, SeedingStage, SiteStage, TowerStage
from edge_agent.farm.state import FarmState
from edge_agent.reading.stage import RecordStage
from edge_agent.state.db import StateDB
from edge_agent.state.ledger import FileRecord

log = logging.getLogger("edge_agent.farm")

CONTEXT_KINDS = frozenset({"seeding", "site", "automation"})
FARM_KINDS = CONTEXT_KINDS | {"tower"}
CONTEXT_WAIT_SECONDS = 120.0


class Farm:
    """Shared by every source of the agent (thread-safe)."""

    def __init__(self, config: AgentConfig) -> None:
        assert config.cea is not None
        self.config = config
        self.cea = config.cea
        self.state = FarmState(config.cea)
        self.recipes = RecipeBook(config.cea)
        kinds = {config.datasets[s.dataset].kind for s in config.sources}
        # A stream no source reads would never complete: readings do not wait for it.
        wait_for = frozenset(config.cea.wait_for) & kinds
        unread = sorted(set(config.cea.wait_for) - kinds)
        if unread:
            log.info(
                "cea.waitFor names %s but no source reads such a dataset: not waited for",
                ", ".join(unread),
            )
        self.enricher = Enricher(self.state, self.recipes, wait_for=wait_for)
        # Set (on the event loop) once the context sources have read what was already on
        # disk: tower passes wait for it (up to CONTEXT_WAIT_SECONDS), so a backlog is tagged
        # right the first time instead of being published untracked and corrected.
        self.context_ready = asyncio.Event()
        self._has_context = bool(kinds & CONTEXT_KINDS)
        self._notify: Callable[[], None] = lambda: None
        self._db: StateDB | None = None

    def load(self, db: StateDB) -> None:
        """Create the farm's tables if needed and load the state kept there (at start)."""
        ensure_schema(db)
        self.state.load(db)
        self._db = db

    def on_change(self, notify: Callable[[], None]) -> None:
        """Call ``notify`` (from any thread) whenever farm data was committed."""
        self._notify = notify

    def notify(self) -> None:
        """Farm data was committed."""
        self._notify()

    def stages(self, kind: str) -> FarmStages:
        """The stage factory of a farm dataset kind."""
        if kind not in FARM_KINDS:
            raise ValueError(f"not a farm dataset kind: {kind}")
        return FarmStages(self, kind)

    def open_stage(self, kind: str, file: FileRecord, units: dict[str, str]) -> RecordStage:
        """The stage of one pass over a file of dataset kind ``kind``."""
        if kind == "tower":
            return TowerStage(
                self.enricher,
                self.notify,
                file_ref=file.id,
                version=file.version,
                units=units,
                grace_seconds=self.cea.grace_seconds,
            )
        if kind == "site":
            return SiteStage(self.state, self.notify, file.path)
        if kind == "automation":
            return AutomationStage(self.state, self.notify, file.path)
        return SeedingStage(self.state, self.notify, file.path)

    async def context_caught_up(self) -> None:
        """Before a tower pass: let the context sources read what is on disk first (bounded)."""
        if not self._has_context or self.context_ready.is_set():
            return
        try:
            async with asyncio.timeout(CONTEXT_WAIT_SECONDS):
                await self.context_ready.wait()
        except TimeoutError:
            log.warning(
                "context sources still reading after %.0f s; tower files are read now and "
                "corrected when their context arrives",
                CONTEXT_WAIT_SECONDS,
            )
            self.context_ready.set()

    def files_with_pending_work(self, file_refs: Iterable[int]) -> set[int]:
        """Files whose readings are still held (published later by the worker)."""
        refs = sorted(set(file_refs))
        if not refs or self._db is None:
            return set()
        found: set[int] = set()
        for start in range(0, len(refs), 500):
            part = refs[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.query(
                f"SELECT DISTINCT file_ref FROM farm_held WHERE file_ref IN ({marks})", tuple(part)
            )
            found |= {int(row["file_ref"]) for row in rows}
        return found


class FarmStages:
    """The :class:`~edge_agent.reading.stage.StageFactory` of one farm dataset kind."""

    def __init__(self, farm: Farm, kind: str) -> None:
        self._farm = farm
        self._kind = kind

    def open(self, file: FileRecord, units: dict[str, str]) -> RecordStage:
        """The stage of one pass."""
        return self._farm.open_stage(self._kind, file, units)

    async def ready(self) -> None:
        """Tower passes wait for the context already on disk; context passes never wait."""
        if self._kind == "tower":
            await self._farm.context_caught_up()
