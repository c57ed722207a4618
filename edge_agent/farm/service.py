"""The farm stage as the agent wires it: state, recipes, joins, pass hooks and the worker."""

from __future__ import annotations

import threading
from collections.abc import Callable

from edge_agent.config.models import AgentConfig
from edge_agent.farm.enrich import Enricher
from edge_agent.farm.hooks import AutomationHook, PassHook, SeedingHook, SiteHook, TowerHook
from edge_agent.farm.recipes import RecipeBook
from edge_agent.farm.state import FarmState
from edge_agent.state.db import StateDB

CONTEXT_KINDS = frozenset({"seeding", "site", "automation"})
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
        self.enricher = Enricher(
            self.state,
            self.recipes,
            wait_for_site="site" in kinds,
            wait_for_automation="automation" in kinds,
        )
        # Set once the context sources have read what was already on disk: tower files wait
        # for it (up to CONTEXT_WAIT_SECONDS), so a backlog is tagged right the first time
        # instead of being published untracked and corrected.
        self.context_ready = threading.Event()
        if not any(config.datasets[s.dataset].kind in CONTEXT_KINDS for s in config.sources):
            self.context_ready.set()
        self._notify: Callable[[], None] = lambda: None

    def load(self, db: StateDB) -> None:
        """Load the farm state kept in the database (at start)."""
        self.state.load(db)

    def on_change(self, notify: Callable[[], None]) -> None:
        """Call ``notify`` (from any thread) whenever farm data was committed."""
        self._notify = notify

    def notify(self) -> None:
        """Farm data was committed."""
        self._notify()

    def hook(
        self, kind: str, *, file_ref: int, version: int, units: dict[str, str]
    ) -> PassHook | None:
        """The hook for one pass over a file of dataset kind ``kind`` (None: not farm data)."""
        if kind == "tower":
            return TowerHook(
                self.enricher,
                self.notify,
                file_ref=file_ref,
                version=version,
                units=units,
                grace_seconds=self.cea.grace_seconds,
            )
        if kind == "site":
            return SiteHook(self.state, self.notify)
        if kind == "automation":
            return AutomationHook(self.state, self.notify)
        if kind == "seeding":
            return SeedingHook(self.state, self.notify)
        return None

    def wait_for_context(self, stop: threading.Event) -> None:
        """Before a tower file: let the context sources catch up first (bounded wait)."""
        waited = 0.0
        while not self.context_ready.is_set() and not stop.is_set():
            if waited >= CONTEXT_WAIT_SECONDS:
                self.context_ready.set()
                break
            self.context_ready.wait(0.2)
            waited += 0.2
