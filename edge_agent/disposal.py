"""Disposition: move or delete a source file once every batch of it is acknowledged.

Files are looked at when the dispatcher reports acknowledgements, and in a sweep every
``rescanSeconds`` (after a restart, or when a source was down). A file changed since it was read
stays (its change is read first); a source that cannot be reached stops its sweep and says so
once a minute, however many files wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Any, TypeVar

from edge_agent.aio import wait_event
from edge_agent.config.models import AgentConfig
from edge_agent.errors import EdgeAgentError, StorageFullError
from edge_agent.reading.stage import PendingWork
from edge_agent.sources.base import Source
from edge_agent.state.ledger import FileRecord, Ledger
from edge_agent.stats import AgentStats

log = logging.getLogger("edge_agent.agent")

T = TypeVar("T")

WARN_EVERY = 60.0
RECHECKS = 3


class Disposer:
    """One task of the agent: keeps each source's ``afterIngest`` promise."""

    def __init__(
        self,
        config: AgentConfig,
        sources: Mapping[str, Source],
        ledger: Ledger,
        stats: AgentStats,
        pending: PendingWork,
        *,
        executor: Executor | None = None,
    ) -> None:
        """``pending`` says which files a stage still owes records for (they stay until then);
        ``executor`` runs the blocking share and ledger calls (None: the loop's default)."""
        self.config = config
        self.sources = sources
        self.ledger = ledger
        self.stats = stats
        self.pending = pending
        self._executor = executor
        self._pending: set[int] = set()
        self._event = asyncio.Event()
        self._stopping = False
        self._warned: dict[str, float] = {}

    def acknowledged(self, file_refs: set[int]) -> None:
        """Batches of these files were acknowledged (event loop thread)."""
        self._pending |= file_refs
        self._event.set()

    def stop(self) -> None:
        """Finish the file at hand, then return from ``run`` (a file moved or deleted is always
        recorded as such: cancelling between the two would leave it "read" in the ledger)."""
        self._stopping = True
        self._event.set()

    async def run(self) -> None:
        """Until ``stop``."""
        sweep_every = min(s.rescan_seconds for s in self.config.sources)
        await self._sweep()
        while not self._stopping:
            if not await wait_event(self._event, sweep_every):
                await self._sweep()
                continue
            self._event.clear()
            refs, self._pending = self._pending, set()
            for ref in sorted(refs):
                if self._stopping:
                    break
                record = await self._call(self.ledger.by_id, ref)
                if record is None or record.state not in ("read", "duplicate"):
                    continue
                if self.config.source(record.source).after_ingest == "keep":
                    continue
                if await self._call(self._owed, ref):
                    continue
                await self._dispose(record)

    def _owed(self, file_ref: int) -> bool:
        """Whether batches of the file wait in the outbox, or a stage still holds records."""
        if self.ledger.pending_batches(file_ref):
            return True
        return bool(self.pending.files_with_pending_work([file_ref]))

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def _sweep(self) -> None:
        for source_config in self.config.sources:
            if source_config.after_ingest == "keep":
                continue
            waiting = await self._call(self._awaiting, source_config.name)
            for record in waiting:
                if self._stopping or not await self._dispose(record, waiting=len(waiting)):
                    break  # the source is down: its other files wait for the next sweep

    def _awaiting(self, source: str) -> list[FileRecord]:
        records = self.ledger.awaiting_disposal(source)
        owed = self.pending.files_with_pending_work(r.id for r in records)
        return [r for r in records if r.id not in owed]

    async def _dispose(self, record: FileRecord, *, waiting: int = 1) -> bool:
        """Move or delete one file; False when its source could not be reached."""
        config = self.config.source(record.source)
        source = self.sources[record.source]
        current = None
        try:
            current = await self._call(source.stat, record.path)
            if current is None:
                where = None  # gone already (moved or deleted by someone, or by us before a crash)
            elif (current.size, current.mtime_ns) != (record.size, record.mtime_ns):
                return True  # changed since it was read: read the change first, dispose later
            elif config.after_ingest == "delete":
                await self._call(source.remove, record.path)
                where = None
            else:
                assert config.move_to is not None
                where = await self._call(source.move, record.path, config.move_to)
        except (OSError, EdgeAgentError) as e:
            # The share may have done it and lost the answer (a server restarting mid-call):
            # look again for a few seconds, so the ledger says so rather than "read".
            if not await self._gone_soon(source, record.path):
                self._warn(record, waiting, e)
                return False
            where = None  # the destination of a move is not known for sure: left unrecorded
        try:
            await self._call(self.ledger.mark_disposed, record.id, where)
        except StorageFullError as e:
            # The file is already moved or deleted: the next sweep finds it gone and records it.
            self._warn(record, waiting, e)
            return False
        self._warned.pop(record.source, None)
        if current is not None:
            self.stats.files_disposed += 1
            log.info(
                "file disposed",
                extra={
                    "source": record.source,
                    "path": record.path,
                    "action": config.after_ingest,
                    "to": where,
                },
            )
        return True

    async def _gone_soon(self, source: Source, path: str) -> bool:
        """Whether the file is found gone within ``RECHECKS`` seconds (False: still there, or
        the share cannot tell)."""
        for _ in range(RECHECKS):
            try:
                return await self._call(source.stat, path) is None
            except (OSError, EdgeAgentError):
                await asyncio.sleep(1.0)
        return False

    def _warn(self, record: FileRecord, waiting: int, error: Exception) -> None:
        now = time.monotonic()
        if now - self._warned.get(record.source, -WARN_EVERY) < WARN_EVERY:
            return
        self._warned[record.source] = now
        log.warning(
            "could not dispose of a file; will try again",
            extra={
                "source": record.source,
                "path": record.path,
                "action": self.config.source(record.source).after_ingest,
                "waiting": waiting,
                "error": str(error),
            },
        )
