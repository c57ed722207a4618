"""The dispatcher, on a real outbox (SQLite in tmp_path) and the in-memory publisher: commit
order, deletion on acknowledgement, refused batches parked, transient errors retried with
backoff, drain at shutdown, the publisher's in-flight window kept full and never exceeded."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from edge_agent.publish.fake import FakePublisher
from edge_agent.state.outbox import Outbox, OutboxItem
from tests.dispatch_support import OutboxRig, dispatching, until


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[OutboxRig]:
    rig = OutboxRig(tmp_path / "state")
    try:
        yield rig
    finally:
        rig.close()


def batch_ids(messages: list[tuple[str, bytes]]) -> list[str]:
    return [json.loads(payload)["batchId"] for _, payload in messages]


@pytest.mark.parametrize("max_inflight", [1, 4])
async def test_batches_are_sent_in_commit_order(rig: OutboxRig, max_inflight: int) -> None:
    publisher = FakePublisher(max_inflight=max_inflight)
    dispatcher = rig.dispatcher(publisher)
    rig.commit(10)
    async with dispatching(dispatcher):
        await until(lambda: len(publisher.published) == 10, what="10 published")
        rig.commit(5)  # committed later, sent later
        dispatcher.wake()
        await until(lambda: len(publisher.published) == 15, what="15 published")
    assert batch_ids(publisher.sent) == rig.committed


async def test_acknowledged_batches_are_deleted_and_reported(rig: OutboxRig) -> None:
    publisher = FakePublisher()
    dispatcher = rig.dispatcher(publisher)
    rig.commit(3, rows=4, file_ref=11)
    rig.commit(2, rows=1, file_ref=12)
    before = rig.gauge.bytes
    async with dispatching(dispatcher):
        await until(lambda: rig.waiting() == [], what="outbox emptied")
        await until(dispatcher.idle.is_set, what="dispatcher idle")
    assert before > 0 and rig.gauge.bytes == 0
    assert rig.stats.batches_published == 5
    assert rig.stats.rows_acknowledged == 3 * 4 + 2 * 1
    assert set().union(*rig.acknowledged_refs) == {11, 12}  # the disposer learns of both files
    assert dispatcher.in_flight == 0


async def test_a_refused_batch_is_parked_and_retried_after_retry_rejected_seconds(
    rig: OutboxRig,
) -> None:
    publisher = FakePublisher()
    dispatcher = rig.dispatcher(publisher, retry_rejected_seconds=0.5)
    loop = asyncio.get_running_loop()
    first, *others = rig.commit(4)
    publisher.reject_next(1, code=135, reason="Not authorized")
    started = loop.time()
    async with dispatching(dispatcher):
        # The others go on; the refused one stays in the outbox with its failure recorded.
        await until(lambda: rig.waiting() == [first], what="all but the refused one sent")
        assert loop.time() - started < 0.5
        assert rig.attempts(first) == (1, "fake publisher refused the publish: Not authorized")
        assert rig.stats.publish_errors == {"rejected:135": 1}
        assert dispatcher.in_flight == 0  # parked is not in flight: drain does not wait for it
        await until(lambda: rig.waiting() == [], what="the refused batch sent again")
        assert loop.time() - started >= 0.5
    assert batch_ids(publisher.published) == [*others, first]


async def test_a_transient_failure_is_retried_with_backoff_until_it_goes_through(
    rig: OutboxRig,
) -> None:
    publisher = FakePublisher()
    dispatcher = rig.dispatcher(publisher, retry_min_seconds=0.05, retry_max_seconds=0.1)
    loop = asyncio.get_running_loop()
    [batch] = rig.commit(1)
    publisher.disconnect_next(3)  # "connection lost before PUBACK", three times
    started = loop.time()
    async with dispatching(dispatcher):
        await until(lambda: rig.waiting() == [], what="the batch acknowledged")
    assert loop.time() - started >= 3 * 0.05  # three waits, none below the floor
    assert publisher.attempts == 4
    assert batch_ids(publisher.published) == [batch]  # once, with its batchId
    assert rig.stats.publish_errors == {"not-connected": 3}


async def test_a_publish_waits_while_the_publisher_is_down(rig: OutboxRig) -> None:
    publisher = FakePublisher(connected=False)
    dispatcher = rig.dispatcher(publisher)
    rig.commit(3)
    async with dispatching(dispatcher):
        await asyncio.sleep(0.1)
        assert publisher.attempts == 0  # waiting for wait_ready, not spinning on errors
        publisher.set_connected(True)
        await until(lambda: rig.waiting() == [], what="sent once connected")


async def test_drain_waits_for_handed_batches_and_leaves_the_rest_in_the_outbox(
    rig: OutboxRig,
) -> None:
    publisher = FakePublisher(max_inflight=2)
    dispatcher = rig.dispatcher(publisher)
    rig.commit(10)
    publisher.hold_acks()
    async with dispatching(dispatcher) as fetch:
        await until(lambda: publisher.inflight == 2, what="two publishes in flight")
        fetch.cancel()  # as the agent stops: no new batches, then drain
        draining = asyncio.create_task(dispatcher.drain())
        await asyncio.sleep(0.1)
        assert not draining.done()  # acknowledgements are still due
        publisher.release_acks()
        async with asyncio.timeout(5):
            await draining
        assert dispatcher.in_flight == 0
    published = sorted(batch_ids(publisher.published))  # acknowledged in any order
    # Everything handed out was acknowledged and deleted; the rest waits for the next start.
    assert published == rig.committed[: len(published)]
    assert rig.waiting() == rig.committed[len(published) :]
    assert 2 <= len(published) < 10


async def test_the_publishers_window_is_kept_full_and_never_exceeded(rig: OutboxRig) -> None:
    publisher = FakePublisher(max_inflight=3)
    dispatcher = rig.dispatcher(publisher)
    assert dispatcher.max_inflight == 3  # one limit: the publisher's
    rig.commit(20)
    publisher.hold_acks()
    async with dispatching(dispatcher):
        await until(lambda: publisher.inflight == 3, what="the window full")
        await asyncio.sleep(0.1)
        assert publisher.inflight == 3
        assert publisher.attempts == 3  # no publish waiting in line behind the window
        assert dispatcher.in_flight <= 2 * 3  # the workers' batches and a queue as deep
        publisher.release_acks()
        await until(lambda: rig.waiting() == [], what="all acknowledged")
    assert publisher.peak_inflight == 3
    assert len(publisher.published) == 20


class _ThreadRecordingOutbox(Outbox):
    """Records the thread of every blocking call the dispatcher makes."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__(outbox.db)
        self.threads: set[str] = set()

    def fetch(self, after_seq: int, limit: int) -> list[OutboxItem]:
        self.threads.add(threading.current_thread().name)
        return super().fetch(after_seq, limit)

    def acknowledge(self, seqs: Iterable[int]) -> tuple[set[int], int, int]:
        self.threads.add(threading.current_thread().name)
        return super().acknowledge(seqs)

    def record_failure(self, seq: int, error: str) -> None:
        self.threads.add(threading.current_thread().name)
        super().record_failure(seq, error)


async def test_blocking_outbox_calls_run_in_the_executor_given(rig: OutboxRig) -> None:
    publisher = FakePublisher()
    rig.outbox = outbox = _ThreadRecordingOutbox(rig.outbox)
    rig.commit(3)
    publisher.reject_next(1)  # record_failure too
    with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="outbox-io") as executor:
        dispatcher = rig.dispatcher(publisher, executor=executor, retry_rejected_seconds=0.05)
        async with dispatching(dispatcher):
            await until(lambda: rig.waiting() == [], what="all acknowledged")
    assert outbox.threads
    assert all(name.startswith("outbox-io") for name in outbox.threads), outbox.threads
