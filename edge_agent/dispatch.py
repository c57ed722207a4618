"""From the outbox to the publisher: rate limited, a bounded number in flight, acknowledged.

A fetcher reads committed batches in commit order into a small queue; workers publish them;
acknowledgements are deleted from the outbox in groups. A batch the broker refuses stays in
the outbox, is reported, and is tried again after ``retryRejectedSeconds``; a transient failure
(connection lost, no PUBACK in time, spooler full) is retried with backoff, with its batchId.

How many publishes await their acknowledgement at once is decided in ONE place: the
publisher's window (``Publisher.max_inflight``, which an MQTT connection lowers to the broker's
Receive Maximum). The publisher is the only one that sees every publish on its connection (the
heartbeat publishes too, not through here) and the only one that learns the broker's limit
(from CONNACK) and when a connection, with its slots, is replaced. The dispatcher runs
``max_inflight`` workers, one batch each, only so that the window can be kept full; they never
stand in for the limit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from edge_agent.aio import wait_event
from edge_agent.backoff import Backoff
from edge_agent.errors import (
    NotConnectedError,
    PublishError,
    PublishRejectedError,
    StorageFullError,
)
from edge_agent.publish.base import Publisher
from edge_agent.publish.ratelimit import RateLimiter
from edge_agent.state.outbox import Outbox, OutboxGauge, OutboxItem
from edge_agent.stats import AgentStats

log = logging.getLogger("edge_agent.dispatch")

_T = TypeVar("_T")
_P = ParamSpec("_P")

_WARN_EVERY_SECONDS = 60.0
# A failed publish: the broker or the connection needs time; up to 30 s between tries.
RETRY_MIN_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0
# A deletion refused by a full state disk: space may come back any moment, so never above 5 s.
_ACK_RETRY_MIN_SECONDS = 0.5
_ACK_RETRY_MAX_SECONDS = 5.0


class Dispatcher:
    """Moves batches from the outbox to the publisher until stopped.

    Run ``fetch()``, ``acknowledge()`` and ``max_inflight`` copies of ``work()``; at shutdown
    cancel ``fetch`` and await ``drain()``. ``max_inflight`` defaults to the publisher's
    window (``publisher.max_inflight``); fewer workers would leave slots of it unused.

    ``executor``, when given, runs the blocking outbox calls (fetch, acknowledge,
    record_failure) instead of the event loop's default pool (``asyncio.to_thread``), so the
    caller can budget threads; it must always have a thread free for acknowledgements.
    """

    def __init__(
        self,
        outbox: Outbox,
        publisher: Publisher,
        limiter: RateLimiter,
        gauge: OutboxGauge,
        stats: AgentStats,
        *,
        retry_rejected_seconds: float,
        on_acknowledged: Callable[[set[int]], None],
        max_inflight: int | None = None,
        executor: concurrent.futures.Executor | None = None,
        retry_min_seconds: float = RETRY_MIN_SECONDS,
        retry_max_seconds: float = RETRY_MAX_SECONDS,
    ) -> None:
        self.outbox = outbox
        self.publisher = publisher
        self.limiter = limiter
        self.gauge = gauge
        self.stats = stats
        self.max_inflight = publisher.max_inflight if max_inflight is None else max_inflight
        self.retry_rejected_seconds = retry_rejected_seconds
        self.on_acknowledged = on_acknowledged
        self._executor = executor
        self._retry = (retry_min_seconds, retry_max_seconds)
        self._queue: asyncio.Queue[OutboxItem] = asyncio.Queue(maxsize=self.max_inflight)
        self._new_data = asyncio.Event()
        self._acked: list[int] = []
        self._ack_event = asyncio.Event()
        self._progress = asyncio.Event()  # any batch acknowledged, deleted or parked
        self._handed: set[int] = set()  # fetched and not yet deleted from the outbox
        self._parked: dict[int, float] = {}  # refused batches: seq -> loop time to retry
        self._cursor = 0
        self._last_warning: dict[str, float] = {}
        self._stopping = False
        self.idle = asyncio.Event()

    def wake(self) -> None:
        """New batches were committed (call on the event loop)."""
        self._new_data.set()

    @property
    def in_flight(self) -> int:
        """Batches fetched and not yet acknowledged or parked."""
        return len(self._handed) - len(self._parked)

    async def _blocking(self, call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run a blocking outbox call in the executor given, else in the loop's default pool."""
        if self._executor is None:
            return await asyncio.to_thread(call, *args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(call, *args, **kwargs))

    # ------------------------------------------------------------------ fetching

    async def fetch(self) -> None:
        """Feed the workers with batches in commit order."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            expired = [seq for seq, at in self._parked.items() if at <= now]
            if expired:
                for seq in expired:
                    del self._parked[seq]
                    self._handed.discard(seq)
                self._cursor = min(self._cursor, min(expired) - 1)
            self._new_data.clear()
            items = await self._blocking(self.outbox.fetch, self._cursor, self.max_inflight * 4)
            fresh = [item for item in items if item.seq not in self._handed]
            if items:
                self._cursor = items[-1].seq
            if not fresh:
                if not items:
                    if not self._handed:
                        self.idle.set()
                    timeout = None
                    if self._parked:
                        timeout = max(0.05, min(self._parked.values()) - loop.time())
                    await wait_event(self._new_data, timeout)
                continue
            self.idle.clear()
            for item in fresh:
                await self._queue.put(item)
                # Marked only once queued (no await in between, so no worker has it yet): a
                # fetch cancelled while waiting for room leaves nothing counted as in flight.
                self._handed.add(item.seq)

    # ------------------------------------------------------------------ publishing

    async def work(self) -> None:
        """Publish queued batches one at a time (run ``max_inflight`` of these)."""
        while True:
            item = await self._queue.get()
            await self._publish(item)

    async def _publish(self, item: OutboxItem) -> None:
        backoff = Backoff(*self._retry)
        while True:
            await self.publisher.wait_ready()
            await self.limiter.acquire(len(item.payload))
            try:
                await self.publisher.publish(item.topic, item.payload)
            except PublishRejectedError as e:
                self.stats.publish_error(f"rejected:{e.code}" if e.code else "rejected")
                log.error(
                    "broker refused a batch; it stays in the outbox and is retried later",
                    extra={
                        "batchId": item.batch_id,
                        "topic": item.topic,
                        "reason": e.reason,
                        "code": e.code,
                        "retry_in": self.retry_rejected_seconds,
                    },
                )
                try:
                    await self._blocking(self.outbox.record_failure, item.seq, e.reason)
                except StorageFullError as full:
                    # Only bookkeeping (attempts, last error): the batch stays parked and is
                    # retried all the same; a full disk must not end the publishing loop.
                    self._warn_transient("state-full", full.reason)
                loop = asyncio.get_running_loop()
                self._parked[item.seq] = loop.time() + self.retry_rejected_seconds
                self._new_data.set()
                self._progress.set()
                return
            except PublishError as e:
                kind = "not-connected" if isinstance(e, NotConnectedError) else "transient"
                self.stats.publish_error(kind)
                self._warn_transient(kind, e.reason)
                await asyncio.sleep(backoff.next_delay())
                continue
            self.stats.batches_published += 1
            self._acked.append(item.seq)
            self._ack_event.set()
            self._progress.set()
            return

    def _warn_transient(
        self,
        kind: str,
        reason: str,
        message: str = "publishing held back; batches stay in the outbox and are retried",
    ) -> None:
        """A publish (or the deletion of acknowledged batches) failed for now (spooler full,
        connection lost, state disk full): say so, once a minute."""
        now = asyncio.get_running_loop().time()
        if now - self._last_warning.get(kind, -_WARN_EVERY_SECONDS) >= _WARN_EVERY_SECONDS:
            self._last_warning[kind] = now
            log.warning(
                message,
                extra={"kind": kind, "reason": reason, "failures": dict(self.stats.publish_errors)},
            )

    # ------------------------------------------------------------------ acknowledgements

    async def acknowledge(self) -> None:
        """Delete acknowledged batches from the outbox, in groups.

        When the state disk is full even a deletion cannot be written: the acknowledgements
        are kept and written later. Nothing is lost meanwhile; a crash before then only
        re-sends those batches, with their batchId.
        """
        backoff = Backoff(_ACK_RETRY_MIN_SECONDS, _ACK_RETRY_MAX_SECONDS)
        while True:
            await self._ack_event.wait()
            try:
                await self.flush_acks()
            except StorageFullError as e:
                self._warn_transient(
                    "state-full",
                    e.reason,
                    "acknowledged batches cannot be deleted from the outbox (state disk full); "
                    "retried until space is freed, nothing is lost",
                )
                await asyncio.sleep(backoff.next_delay())
                self._ack_event.set()
                continue
            backoff.reset()

    async def flush_acks(self) -> None:
        """Delete what was acknowledged so far (kept for the next call if that fails)."""
        self._ack_event.clear()
        if not self._acked:
            return
        seqs, self._acked = self._acked, []
        try:
            refs, freed, rows = await self._blocking(self.outbox.acknowledge, seqs)
        except BaseException:
            self._acked[:0] = seqs
            raise
        self._handed.difference_update(seqs)
        self.gauge.remove(freed)
        self.stats.rows_acknowledged += rows
        self._progress.set()
        if refs:
            self.on_acknowledged(refs)
        if not self._handed and self._queue.empty():
            self._new_data.set()  # let the fetcher look again (and report idle)

    async def drain(self) -> None:
        """Wait for every batch handed to a worker to be acknowledged or parked."""
        while True:
            self._progress.clear()
            try:
                await self.flush_acks()
            except StorageFullError as e:
                log.warning(
                    "stopping with acknowledged batches not yet deleted (state disk full); "
                    "they are sent again at the next start, with the same batchId",
                    extra={"reason": e.reason, "batches": len(self._acked)},
                )
                return
            if self.in_flight <= 0:
                return
            await self._progress.wait()
