"""The agent: every long-lived task in one TaskGroup, and a clean, bounded shutdown.

Lifecycle (as uvicorn's server): capture signals -> start the publisher, dispatcher and one
runner per source -> run until SIGTERM/SIGINT -> stop reading (the current batch is committed),
let in-flight publishes finish, all within ``shutdownTimeoutSeconds`` -> exit 0. A second signal
forces the stop at once. Nothing is lost either way: whatever is not acknowledged stays in the
outbox, whatever is not committed is read again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

from edge_agent.config.models import AgentConfig
from edge_agent.dispatch import Dispatcher
from edge_agent.disposal import Disposer
from edge_agent.errors import EdgeAgentError
from edge_agent.farm.service import CONTEXT_KINDS, FARM_KINDS, Farm
from edge_agent.farm.worker import FarmWorker
from edge_agent.health import AgentHealth
from edge_agent.publish.base import Publisher
from edge_agent.publish.factory import make_publisher
from edge_agent.publish.ratelimit import RateLimiter
from edge_agent.reading.ingest import FileIngestor, IngestSettings
from edge_agent.reading.retention import SourceLedger
from edge_agent.reading.runner import SourceRunner
from edge_agent.reading.stage import NoPendingWork, PendingWork, PublishAsRead, StageFactory
from edge_agent.sources.base import Source
from edge_agent.sources.factory import SecretReader, make_source
from edge_agent.state.db import StateDB
from edge_agent.state.ledger import Ledger
from edge_agent.state.lock import StateDirLock
from edge_agent.state.outbox import Outbox, OutboxGauge
from edge_agent.state.writer import OutboxWriter
from edge_agent.stats import AgentStats
from edge_agent.supervise import supervised
from edge_agent.threads import ThreadBudget

log = logging.getLogger("edge_agent.agent")


class Agent:
    """Runs one configuration until asked to stop."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        publisher: Publisher | None = None,
        sources: dict[str, Source] | None = None,
        read_secret: SecretReader | None = None,
        capture_signals: bool = True,
    ) -> None:
        """``capture_signals=False`` leaves SIGTERM/SIGINT to the embedding program, which
        then calls ``request_stop``."""
        self.config = config
        self.stats = AgentStats()
        self.state_dir = Path(config.state_dir)
        self._lock = StateDirLock(self.state_dir)
        self.publisher = publisher if publisher is not None else make_publisher(config)
        self.health = AgentHealth(config, self.stats, self.publisher)
        self._given_sources = sources or {}
        self._capture_signals = capture_signals
        self.threads = ThreadBudget(len(config.sources))
        self._read_secret = read_secret
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._thread_stop = threading.Event()
        self.runners: dict[str, SourceRunner] = {}
        self.sources: dict[str, Source] = {}
        self.dispatcher: Dispatcher | None = None
        self.farm: Farm | None = None
        self.farm_worker: FarmWorker | None = None
        self._dbs: list[StateDB] = []
        self.started = asyncio.Event()

    # ------------------------------------------------------------------ control

    def request_stop(self) -> None:
        """Begin a graceful stop (a second call forces it)."""
        if self._stop.is_set():
            self._force.set()
        self._stop.set()

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError):
                return  # not the main thread (tests, embedded use): the caller stops us

    def _remove_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):
                return

    def _lock_wait_seconds(self) -> float:
        """How long ``run`` waits for another agent to leave the state directory (0: refuse
        at once, which is what a second ``edge-agent run`` by mistake needs)."""
        return 0.0

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("stop requested", extra={"signal": sig.name, "forced": self._stop.is_set()})
        self.request_stop()

    # ------------------------------------------------------------------ wiring

    def _db(self, *, durable: bool = True) -> StateDB:
        db = StateDB(self.state_dir, durable=durable)
        self._dbs.append(db)
        return db

    def _writer(self, gauge: OutboxGauge, on_commit: Callable[[], None]) -> OutboxWriter:
        """An outbox writer on a connection of its own (one per thread that commits)."""
        return OutboxWriter(
            self._db(),
            gauge,
            state_dir=self.state_dir,
            min_free_disk_bytes=self.config.outbox.min_free_disk_bytes,
            on_commit=on_commit,
        )

    def _build(self, loop: asyncio.AbstractEventLoop) -> None:
        config = self.config
        outbox = Outbox(self._db(durable=False))
        gauge = OutboxGauge(outbox.total_bytes(), config.outbox.max_bytes)
        publish = config.publish
        self.dispatcher = dispatcher = Dispatcher(
            outbox,
            self.publisher,
            RateLimiter.from_config(publish),
            gauge,
            self.stats,
            retry_rejected_seconds=publish.retry_rejected_seconds,
            on_acknowledged=self._on_acknowledged,
            executor=self.threads.outbox,
        )
        self._gauge = gauge
        self._status_db = self._db()

        def on_commit() -> None:
            loop.call_soon_threadsafe(dispatcher.wake)

        pending: PendingWork = NoPendingWork()
        if config.cea is not None:
            self.farm = farm = Farm(config)
            farm.load(self._db())
            pending = farm
            self.farm_worker = worker = FarmWorker(
                config,
                farm.state,
                farm.enricher,
                self._writer(gauge, on_commit),
                executor=self.threads.farm,
            )

            def on_farm_change() -> None:
                loop.call_soon_threadsafe(worker.wake)

            farm.on_change(on_farm_change)
        self._disposer = Disposer(
            config,
            self.sources,
            Ledger(self._db()),
            self.stats,
            pending,
            executor=self.threads.io,
        )

        for source_config in config.sources:
            source = self._given_sources.get(source_config.name) or make_source(
                source_config, self._read_secret
            )
            self.sources[source_config.name] = source
            dataset = config.datasets[source_config.dataset]
            settings = IngestSettings(
                thing_name=config.thing_name,
                source=source_config,
                dataset_name=source_config.dataset,
                dataset=dataset,
                max_payload_bytes=publish.max_payload_bytes,
                state_dir=self.state_dir,
            )
            stages: StageFactory = (
                self.farm.stages(dataset.kind)
                if self.farm is not None and dataset.kind in FARM_KINDS
                else PublishAsRead()
            )
            writer = self._writer(gauge, on_commit)
            ingestor = FileIngestor(
                settings,
                writer,
                self._thread_stop,
                stages=stages,
                on_progress=self.health.progress_callback(loop, source_config.name),
            )
            index = SourceLedger(
                writer.ledger,
                source_config.name,
                settings.dataset_fp,
                pending,
                forget_after=source_config.forget_after_days * 86_400,
            )
            self.runners[source_config.name] = SourceRunner(
                source,
                source_config,
                ingestor,
                index,
                gauge,
                status=self.stats.source(source_config.name),
                stop=self._thread_stop,
                watch_executor=self.threads.watch,
                executor=self.threads.io,
            )

    # ------------------------------------------------------------------ run

    async def run(self) -> None:
        """Run until stopped; returns after a clean shutdown."""
        loop = asyncio.get_running_loop()
        # One agent per state directory: a second one would publish every batch again.
        if not await self._lock.acquire(self._lock_wait_seconds(), self._stop):
            return  # asked to stop while waiting for the state directory
        if self._capture_signals:
            # Before the (blocking) build: a SIGTERM while it runs stops the agent cleanly
            # right after, instead of killing the process with the default action.
            self._install_signals()
        try:
            await asyncio.to_thread(self._build, loop)
        except EdgeAgentError:
            if self._capture_signals:
                self._remove_signals()
            self._close()
            raise
        log.info(
            "edge-agent started",
            extra={
                "thingName": self.config.thing_name,
                "sources": len(self.runners),
                "publisher": self.publisher.name,
                "stateDir": str(self.state_dir),
            },
        )
        dispatcher = self.dispatcher
        assert dispatcher is not None
        try:
            async with asyncio.TaskGroup() as tg:
                background = [
                    tg.create_task(self.publisher.run(), name="publisher"),
                    tg.create_task(dispatcher.acknowledge(), name="acknowledge"),
                    tg.create_task(self._supervised("status", self._status_loop), name="status"),
                    tg.create_task(
                        self._supervised(
                            "health", lambda: self.health.run(self._gauge, dispatcher.limiter)
                        ),
                        name="health",
                    ),
                ]
                background += [
                    tg.create_task(dispatcher.work(), name=f"publish-{i}")
                    for i in range(dispatcher.max_inflight)
                ]
                fetch = tg.create_task(dispatcher.fetch(), name="fetch")
                reading: list[asyncio.Task[None]] = []
                for name, runner in self.runners.items():
                    background.append(tg.create_task(runner.watch(), name=f"watch-{name}"))
                    for part, body in (("discover", runner.discover), ("ingest", runner.ingest)):
                        task = self._supervised(f"source {name} ({part})", body)
                        reading.append(tg.create_task(task, name=f"{part}-{name}"))
                if self.farm_worker is not None:
                    worker = self.farm_worker
                    task = self._supervised("farm worker", lambda: self._farm(worker))
                    reading.append(tg.create_task(task, name="farm"))
                # Stopped with the readers, not cancelled: a file moved or deleted is recorded.
                task = self._supervised("disposer", self._disposer.run)
                reading.append(tg.create_task(task, name="dispose"))
                self.started.set()
                tg.create_task(self._shutdown(reading, fetch, background), name="shutdown")
        finally:
            if self._capture_signals:
                self._remove_signals()
            self._thread_stop.set()
            await asyncio.to_thread(self._close)
            self.threads.shutdown()
        log.info("edge-agent stopped", extra={"rows_acknowledged": self.stats.rows_acknowledged})

    async def _shutdown(
        self,
        reading: list[asyncio.Task[None]],
        fetch: asyncio.Task[None],
        background: list[asyncio.Task[None]],
    ) -> None:
        await self._stop.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.shutdown_timeout_seconds
        log.info("stopping: finishing the current batch and in-flight publishes")
        self._thread_stop.set()
        if self.farm_worker is not None:
            self.farm_worker.wake()
        self._disposer.stop()
        for runner in self.runners.values():
            runner.stop()
        dispatcher = self.dispatcher
        assert dispatcher is not None

        async def drain() -> None:
            await asyncio.gather(*reading, return_exceptions=True)
            fetch.cancel()
            await dispatcher.drain()

        drain_task = asyncio.ensure_future(drain())
        force = asyncio.ensure_future(self._force.wait())
        try:
            await asyncio.wait(
                {drain_task, force},
                timeout=max(0.0, deadline - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            force.cancel()
            if not drain_task.done():
                log.warning(
                    "shutdown timeout: unacknowledged batches stay in the outbox for next time",
                    extra={"in_flight": dispatcher.in_flight},
                )
                drain_task.cancel()
            for task in [*reading, fetch, *background]:
                task.cancel()
            await self._write_status()
            try:
                async with asyncio.timeout(2.0):
                    await self.publisher.aclose()
            except TimeoutError:
                log.warning("publisher did not close in time")

    async def _supervised(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """A loop whose failure is contained: logged, shown, and started again."""
        await supervised(name, loop, self.stats.component(name), self._stop)

    async def _farm(self, worker: FarmWorker) -> None:
        """The farm worker, once the context sources have read what is already on disk."""
        farm = self.farm
        assert farm is not None
        context = [
            runner.idle
            for name, runner in self.runners.items()
            if self.config.datasets[self.config.source(name).dataset].kind in CONTEXT_KINDS
        ]

        async def caught_up() -> None:
            await asyncio.gather(*(event.wait() for event in context))
            farm.context_ready.set()  # tower passes wait for this (bounded)

        waiting = asyncio.ensure_future(caught_up())
        try:
            await worker.run(self._thread_stop)
        finally:
            waiting.cancel()

    def _on_acknowledged(self, file_refs: set[int]) -> None:
        self._disposer.acknowledged(file_refs)

    def _close(self) -> None:
        for source in self.sources.values():
            source.close()
        for db in self._dbs:
            db.close()
        self._dbs.clear()
        self._lock.release()

    # ------------------------------------------------------------------ status

    async def _status_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.status_interval_seconds)
            await self._write_status()

    async def _write_status(self) -> None:
        self.stats.publisher_state = "connected" if self.publisher.connected else "disconnected"
        snapshot = json.dumps(self.stats.snapshot(), default=str)

        def write() -> None:
            with self._status_db.transaction() as conn:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('status', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (snapshot,),
                )

        try:
            await asyncio.get_running_loop().run_in_executor(self.threads.state, write)
        except (EdgeAgentError, OSError, sqlite3.Error) as e:
            log.warning("could not write status", extra={"error": str(e)})
