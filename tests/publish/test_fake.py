"""The in-memory publisher other stages are tested with: it keeps the Publisher contract."""

from __future__ import annotations

import asyncio

import pytest

from edge_agent.config.publish import MqttConfig
from edge_agent.errors import NotConnectedError, PublishRejectedError
from edge_agent.publish.base import Publisher
from edge_agent.publish.fake import FakePublisher
from edge_agent.publish.mqtt import MqttPublisher


def test_both_implement_the_publisher_protocol() -> None:
    publishers: list[Publisher] = [  # checked by mypy
        FakePublisher(),
        MqttPublisher(MqttConfig(), thing_name="gateway-01"),
    ]
    assert [p.name for p in publishers] == ["fake", "mqtt://localhost:8883"]


async def test_records_successful_publishes() -> None:
    fake = FakePublisher()
    await fake.wait_ready()
    await fake.publish("dt/a", b'{"n": 1}')
    await fake.publish("dt/b", b'{"n": 2}')
    assert fake.published == [("dt/a", b'{"n": 1}'), ("dt/b", b'{"n": 2}')]
    assert fake.payloads_json() == [{"n": 1}, {"n": 2}]


async def test_scripted_rejections_and_disconnects_then_success() -> None:
    fake = FakePublisher()
    fake.reject_next(1)
    fake.disconnect_next(2)
    for _ in range(2):
        with pytest.raises(NotConnectedError):
            await fake.publish("dt/a", b"1")
    with pytest.raises(PublishRejectedError) as caught:
        await fake.publish("dt/a", b"1")
    assert caught.value.code == 135
    await fake.publish("dt/a", b"1")
    assert fake.attempts == 4
    assert fake.published == [("dt/a", b"1")]


async def test_disconnected_until_set_connected() -> None:
    fake = FakePublisher(connected=False)
    with pytest.raises(NotConnectedError):
        await fake.publish("dt/a", b"1")
    ready = asyncio.create_task(fake.wait_ready())
    await asyncio.sleep(0)
    assert not ready.done()
    fake.set_connected(True)
    async with asyncio.timeout(1):
        await ready
    await fake.publish("dt/a", b"1")


async def test_held_acks_keep_publishes_in_flight() -> None:
    fake = FakePublisher()
    fake.hold_acks()
    publishes = [asyncio.create_task(fake.publish("dt/a", b"%d" % i)) for i in range(3)]
    await asyncio.sleep(0)
    assert fake.inflight == 3
    assert fake.published == []
    fake.release_acks()
    async with asyncio.timeout(1):
        assert len(await fake.wait_published(3)) == 3
        await asyncio.gather(*publishes)
    assert fake.inflight == 0


async def test_closed_refuses_everything() -> None:
    fake = FakePublisher()
    await fake.aclose()
    with pytest.raises(NotConnectedError):
        await fake.publish("dt/a", b"1")
    with pytest.raises(NotConnectedError):
        await fake.wait_ready()


async def test_run_waits_until_cancelled() -> None:
    fake = FakePublisher()
    task = asyncio.create_task(fake.run())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_at_most_max_inflight_publishes_await_their_ack() -> None:
    fake = FakePublisher(max_inflight=2)
    fake.hold_acks()
    publishes = [asyncio.create_task(fake.publish("dt/a", b"%d" % i)) for i in range(5)]
    await asyncio.sleep(0.01)
    assert (fake.inflight, len(fake.sent), fake.max_inflight) == (2, 2, 2)
    fake.release_acks()
    await asyncio.gather(*publishes)
    assert fake.peak_inflight == 2
    assert sorted(fake.sent) == sorted(fake.published)
