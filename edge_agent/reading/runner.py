"""The life of one source: watch for changes, rescan, settle, and run reading passes.

Three coroutines per source, all owned by the agent's TaskGroup: ``watch`` (the source's
blocking watcher in a thread, feeding change hints), ``discover`` (stat, settle, decide what is
ready) and ``ingest`` (one reading pass at a time in a worker thread).

Every wait happens here, on the event loop, never in a thread: for room in the outbox (a pass
that fills it commits and ends early, and the file is read on once acknowledgements freed
room), and for what the dataset's stage needs before a pass (the farm's context).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from edge_agent.aio import wait_event
from edge_agent.backoff import Backoff
from edge_agent.config.sources import SourceConfig
from edge_agent.errors import (
    SourceAccessError,
    SourceUnavailableError,
    StorageFullError,
    TransientError,
)
from edge_agent.reading.ingest import FileIngestor, PassResult
from edge_agent.reading.retention import SourceLedger, known_of
from edge_agent.sources.base import FileInfo, Source
from edge_agent.sources.discovery import Known, Settler
from edge_agent.state.outbox import OutboxGauge
from edge_agent.stats import SourceStatus

log = logging.getLogger("edge_agent.runner")

T = TypeVar("T")

_MAX_DIRTY = 10_000  # more change hints than this: rescan instead of stat-ing each
_ACCESS_RETRY_SECONDS = 60.0  # wrong password, missing share: retry slowly, never spin
_ERROR_RETRY_SECONDS = 300.0  # an unexpected error on one file: retry it much later
_FULL_RETRY_SECONDS = 5.0  # the state disk is full: look again soon, space may be back
_RESCAN_STRETCH = (
    10  # listings space out to this many rescanSeconds while the watcher misses nothing
)
_FIRST_SWEEP_SECONDS = 300.0  # the first ledger retention sweep, after start-up is over
_SWEEP_SECONDS = 6 * 3600.0  # then a few times a day (a page of rows per query, in a thread)


class SourceRunner:
    """Discovers and reads the files of one source."""

    def __init__(
        self,
        source: Source,
        config: SourceConfig,
        ingestor: FileIngestor,
        index: SourceLedger,
        gauge: OutboxGauge,
        *,
        status: SourceStatus,
        stop: threading.Event,
        watch_executor: Executor | None = None,
        executor: Executor | None = None,
    ) -> None:
        """``watch_executor`` runs the watcher (it blocks its thread for the agent's life, so it
        must not take one that scans and passes need); ``executor`` runs scans, stats and
        reading passes. None: the loop's default executor."""
        self.source = source
        self._watch_executor = watch_executor
        self._executor = executor
        self.gauge = gauge
        self.config = config
        self.ingestor = ingestor
        self.index = index
        self.ledger = index.ledger
        self.idle_seconds: float | None = config.idle_seconds if config.mode == "append" else None
        self.status = status
        self._thread_stop = stop
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._dirty: set[str] = set()
        self._rescan_now = True
        # What the watcher told since the last full listing, to see whether that listing found
        # something the watcher missed (then listings stay frequent; else they space out).
        self._told: set[str] = set()
        self._told_all = False  # set while the watcher runs; a gap or overflow clears it
        self._ready: OrderedDict[str, FileInfo] = OrderedDict()
        self._ready_event = asyncio.Event()
        # Files whose pass failed wait here until their retry time; they stay "busy" in the
        # settler meanwhile, so discovery neither hands them out nor stats them again.
        self._retry_at: dict[str, float] = {}
        self.settler: Settler | None = None
        self.idle = asyncio.Event()  # set while no file is waiting, settling or being read
        self._watching = False  # the source's watcher is running

    def stop(self) -> None:
        """Stop discovering and reading (the current batch is committed first)."""
        self._stopping.set()
        self._wake.set()
        self._ready_event.set()

    # ------------------------------------------------------------------ change hints

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        """Run blocking source or ledger work on the runner's executor."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _hint(self, path: str | None) -> None:
        if path is None or len(self._dirty) >= _MAX_DIRTY:
            self._rescan_now = True
            self._told_all = False  # the watcher lost track: the next listing is no check of it
        else:
            self._dirty.add(path)
            if len(self._told) < _MAX_DIRTY:
                self._told.add(path)
            else:
                self._told_all = False
        self._wake.set()

    async def watch(self) -> None:
        """Run the source's watcher in a thread; restart it with backoff if it fails."""
        loop = asyncio.get_running_loop()

        def notify(path: str | None) -> None:
            loop.call_soon_threadsafe(self._hint, path)

        backoff = Backoff(1.0, self.config.rescan_seconds)
        while not self._stopping.is_set():
            try:
                self._watching = True
                await asyncio.get_running_loop().run_in_executor(
                    self._watch_executor, self.source.watch, notify, self._thread_stop
                )
                backoff.reset()
                delay = backoff.next_delay()
            except (TransientError, SourceAccessError) as e:
                delay = backoff.next_delay()
                log.warning(
                    "watching stopped; the periodic rescan goes on",
                    extra={"source": self.config.name, "error": str(e), "retry_in": delay},
                )
            finally:
                self._watching = False
            if await self._sleep(delay):
                return
            self._hint(None)

    async def _sleep(self, seconds: float) -> bool:
        """Wait, unless stopping; True if stopping."""
        return await wait_event(self._stopping, seconds)

    # ------------------------------------------------------------------ discovery

    async def discover(self) -> None:
        """Scan, stat what changed, settle, and queue files that are ready."""
        loop = asyncio.get_running_loop()
        config = self.config
        self.settler = settler = Settler(
            config.settle_seconds,
            append=config.mode == "append",
            linger_seconds=config.linger_seconds,
            idle_seconds=self.idle_seconds,
        )
        next_rescan = loop.time()
        every = config.rescan_seconds
        next_sweep = loop.time() + _FIRST_SWEEP_SECONDS
        backoff = Backoff(1.0, 60.0)
        while not self._stopping.is_set():
            now = loop.time()
            try:
                if self._rescan_now or now >= next_rescan:
                    self._rescan_now = False
                    self._dirty.clear()
                    checked = self._told_all and self._watching
                    told, self._told, self._told_all = self._told, set(), self._watching
                    listing = await self._call(self.source.scan)
                    found = settler.reconcile(listing, loop.time())
                    for path in await self._call(self.index.to_read_again):
                        settler.ask_again(path)
                    missed = any(p not in told for p in (*found.changed, *found.gone))
                    # The listing is the safety net under the watcher: while it finds nothing
                    # the watcher missed, the next one waits twice as long (up to 10 times
                    # rescanSeconds); one miss brings it back to rescanSeconds.
                    if checked and not missed:
                        every = min(every * 2, config.rescan_seconds * _RESCAN_STRETCH)
                    else:
                        every = config.rescan_seconds
                    next_rescan = loop.time() + every
                    self.status.files_seen = len(listing)
                    self.status.last_scan = loop.time()
                    if self.status.state != "paused":
                        # The share answers again; a pause is the reading pass's to lift.
                        self._set_state("watching", "")
                    backoff.reset()
                    if loop.time() >= next_sweep:
                        next_sweep = loop.time() + _SWEEP_SECONDS
                        present = frozenset(info.path for info in listing)
                        await self._call(self.index.sweep, present, time.time(), self._there)
                        del present
                    del listing, found  # a year of files: not held until the next listing
                else:
                    paths = self._dirty | set(settler.due(now))
                    self._dirty.clear()
                    if paths:
                        infos = await self._call(self._stat_all, sorted(paths))
                        t = loop.time()
                        for path, info in infos.items():
                            if info is None:
                                settler.forget(path)
                            else:
                                settler.observe(info, t)
                unknown = settler.unknown()
                if unknown:
                    for path, known in (await self._call(self.index.known, unknown)).items():
                        settler.learn(path, known)
            except SourceAccessError as e:
                self._set_state("access-denied", f"{e.reason} — {e.hint}")
                if await self._sleep(_ACCESS_RETRY_SECONDS):
                    return
                self._rescan_now = True
                continue
            except SourceUnavailableError as e:
                self._set_state("unavailable", e.reason)
                if await self._sleep(backoff.next_delay()):
                    return
                self._rescan_now = True
                continue
            t = loop.time()
            for path in [p for p, at in self._retry_at.items() if at <= t]:
                del self._retry_at[path]
                settler.done(path, None)  # its turn again: handed out once due
            for info in settler.ready(t):
                self._ready[info.path] = info
            self.status.files_waiting = len(self._ready)
            deadline = settler.next_deadline()
            if self._ready:
                self.idle.clear()
                self._ready_event.set()
            elif not settler.busy and deadline is None and not self._retry_at:
                self.idle.set()  # nothing to read, nothing settling, nothing to retry
            else:
                self.idle.clear()
            wake_at = next_rescan if deadline is None else min(next_rescan, deadline)
            retry = min((at for at in self._retry_at.values() if at > t), default=None)
            if retry is not None:
                wake_at = min(wake_at, retry)
            timeout = max(0.0, wake_at - loop.time())
            if not self._wake.is_set() and timeout > 0:
                await wait_event(self._wake, timeout)
            self._wake.clear()

    def _pass(self, info: FileInfo, idle: bool) -> PassResult:
        return self.ingestor.run(self.source, info, idle=idle)

    def _there(self, path: str) -> bool:
        """Whether a file the listing did not show is still there after all (a retention
        sweep confirms before it forgets; an error counts as "there")."""
        try:
            return self.source.stat(path) is not None
        except (TransientError, SourceAccessError, OSError):
            return True

    def _stat_all(self, paths: list[str]) -> dict[str, FileInfo | None]:
        return {path: self.source.stat(path) for path in paths}

    def _storage_full_detail(self, error: StorageFullError) -> str:
        """What a paused source tells the operator: the cause, where, and the fix."""
        settings = self.ingestor.settings
        keep = self.ingestor.writer.min_free_disk_bytes / (1024 * 1024)
        kept = f"; outbox.minFreeDiskBytes keeps {keep:.0f} MiB free" if keep else ""
        return (
            f"{error.reason} — free space on the disk that holds stateDir "
            f"({settings.state_dir}{kept}), or move stateDir to a larger disk; "
            f"reading resumes by itself within "
            f"{_FULL_RETRY_SECONDS:.0f} s of space coming back, nothing is lost"
        )

    def _set_state(self, state: str, detail: str) -> None:
        if (self.status.state, self.status.detail) != (state, detail):
            level = logging.INFO if state == "watching" else logging.ERROR
            log.log(level, "source %s", state, extra={"source": self.config.name, "detail": detail})
        self.status.state = state
        self.status.detail = detail

    # ------------------------------------------------------------------ reading

    async def ingest(self) -> None:
        """Run reading passes over ready files, one at a time."""
        while not self._stopping.is_set():
            await self._ready_event.wait()
            self._ready_event.clear()
            while self._ready and not self._stopping.is_set():
                if not await self._before_pass():
                    return
                _path, info = self._ready.popitem(last=False)
                self.status.files_waiting = len(self._ready)
                await self._one_pass(info)
            self._wake.set()  # discovery decides whether the source is idle now

    async def _before_pass(self) -> bool:
        """Wait (on the event loop) for room in the outbox and for the dataset's stage; False
        when stopping meanwhile."""
        if self.gauge.full:
            limit = self.gauge.limit // (1024 * 1024)
            self._set_state(
                "paused",
                f"outbox full ({limit} MiB, outbox.maxBytes): waiting for the broker to "
                "acknowledge what is queued; nothing is dropped",
            )
            if not await self._until_stopping(self.gauge.wait_for_room()):
                return False
            self._set_state("watching", "")
        return await self._until_stopping(self.ingestor.stages.ready())

    async def _until_stopping(self, waiting: Any) -> bool:
        """Await ``waiting`` unless the runner is stopped first; True if it completed."""
        task = asyncio.ensure_future(waiting)
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (task, stop):
                if not pending.done():
                    pending.cancel()
        return task.done() and not task.cancelled()

    async def _one_pass(self, info: FileInfo) -> None:
        assert self.settler is not None
        self.status.current_file = info.path
        known: Known | None = None
        try:
            idle = self.settler.is_idle(info.path, asyncio.get_running_loop().time())
            result = await self._call(self._pass, info, idle)
        except FileNotFoundError:
            self.settler.forget(info.path)
            if self.status.state == "paused":
                self._set_state("watching", "")  # the file it waited with is gone
        except SourceAccessError as e:
            self.status.errors += 1
            self._set_state("access-denied", f"{e.reason} — {e.hint}")
            self._retry_at[info.path] = asyncio.get_running_loop().time() + _ACCESS_RETRY_SECONDS
        except StorageFullError as e:
            self.status.errors += 1
            self._set_state("paused", self._storage_full_detail(e))
            self._retry_at[info.path] = asyncio.get_running_loop().time() + _FULL_RETRY_SECONDS
        except TransientError as e:
            self.status.errors += 1
            self._set_state("unavailable", str(e))
            self._retry_at[info.path] = asyncio.get_running_loop().time() + 5.0
        except Exception:
            # A bug or an unforeseen library error on one file: the file is left as it is (its
            # committed rows are safe), the error is logged loudly, and the file is retried later.
            self.status.errors += 1
            log.exception(
                "reading pass failed; file left in place, retried later",
                extra={"source": self.config.name, "path": info.path},
            )
            self._retry_at[info.path] = asyncio.get_running_loop().time() + _ERROR_RETRY_SECONDS
        else:
            self.status.rows_published += result.published
            self.status.rows_quarantined += result.quarantined
            self.status.rows_skipped += result.skipped
            if result.warnings:
                self.status.warnings += 1
                self.status.last_warning = f"{info.path}: {'; '.join(result.warnings)}"
            if result.paused:
                # The outbox filled up during the pass (what was read is committed): the file
                # is handed out again, and read on once there is room (see _before_pass).
                return
            known = Known(info.size, info.mtime_ns, result.state)
            record = await self._call(self.ledger.get, self.config.name, info.path)
            if record is not None:
                known = known_of(record, self.index.dataset_fp)
            if result.published or result.quarantined:
                log.info(
                    "file read",
                    extra={
                        "source": self.config.name,
                        "path": info.path,
                        "published": result.published,
                        "quarantined": result.quarantined,
                        "skipped": result.skipped,
                        "batches": result.batches,
                        "state": result.state,
                    },
                )
            if self.status.state in ("unavailable", "paused"):
                self._set_state("watching", "")
        finally:
            self.status.current_file = None
            if info.path not in self._retry_at:
                self.settler.done(info.path, known)
            self._wake.set()
