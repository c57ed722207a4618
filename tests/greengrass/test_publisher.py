"""GreengrassPublisher publishes through the nucleus double with the real awsiot client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from edge_agent.config.publish import GreengrassConfig
from edge_agent.errors import ConfigError, NotConnectedError, PublishError, PublishRejectedError
from edge_agent.publish.base import LOCAL_TOPIC_PREFIX, Publisher
from edge_agent.publish.greengrass import GreengrassPublisher
from tests.infra.nucleus import NucleusDouble

pytestmark = pytest.mark.infra

RECIPE = Path(__file__).parents[2] / "recipes" / "io.edgeagent.EdgeAgent.yaml"
TOPIC = "dt/edge-agent/gateway-01/line1"


def _publisher(nucleus: NucleusDouble, **config: object) -> GreengrassPublisher:
    return GreengrassPublisher(
        GreengrassConfig.model_validate(
            {"connectTimeoutSeconds": 5, "ackTimeoutSeconds": 10, **config}
        ),
        thing_name="gateway-01",
        environ=nucleus.env,
        reconnect_min_seconds=0.01,
        reconnect_max_seconds=0.05,
    )


async def _running(publisher: GreengrassPublisher) -> AsyncIterator[GreengrassPublisher]:
    task = asyncio.create_task(publisher.run())
    try:
        await asyncio.wait_for(publisher.wait_ready(), 5)
        yield publisher
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.fixture
async def publisher(nucleus: NucleusDouble) -> AsyncIterator[GreengrassPublisher]:
    async for running in _running(_publisher(nucleus)):
        yield running


def test_it_is_a_publisher(nucleus: NucleusDouble) -> None:
    publisher: Publisher = _publisher(nucleus)

    assert publisher.name == "greengrass-ipc (gateway-01)"


async def test_publish_returns_once_the_nucleus_accepted_it(
    publisher: GreengrassPublisher, nucleus: NucleusDouble
) -> None:
    await publisher.publish(TOPIC, b'{"v":1}')

    [accepted] = nucleus.published
    assert (accepted.topic, accepted.qos, accepted.payload) == (TOPIC, "1", b'{"v":1}')


async def test_publish_waits_for_the_nucleus_answer(
    publisher: GreengrassPublisher, nucleus: NucleusDouble
) -> None:
    nucleus.hold_publishes()
    publishing = asyncio.create_task(publisher.publish(TOPIC, b"x"))

    await nucleus.wait_until(lambda: nucleus.publish_requests == 1)
    await publisher.ipc.get_configuration()  # a full round trip on the same connection

    assert not publishing.done()
    nucleus.release_publishes()
    await publishing
    assert len(nucleus.published) == 1


async def test_service_errors_are_transient_and_retrying_loses_nothing(
    publisher: GreengrassPublisher, nucleus: NucleusDouble
) -> None:
    nucleus.fail_next_publishes(3)
    payloads = [f'{{"batch":{i}}}'.encode() for i in range(5)]
    failures: list[PublishError] = []

    for payload in payloads:  # what the outbox drain does: keep the batch, try again
        while True:
            try:
                await publisher.publish(TOPIC, payload)
                break
            except PublishError as e:
                failures.append(e)

    assert len(failures) == 3
    assert all(e.transient and not isinstance(e, PublishRejectedError) for e in failures)
    assert [p.payload for p in nucleus.published] == payloads


async def test_unauthorized_is_rejected_with_the_access_control_fix(
    publisher: GreengrassPublisher, nucleus: NucleusDouble
) -> None:
    nucleus.fail_next_publishes(1, error="UnauthorizedError")

    with pytest.raises(PublishRejectedError) as raised:
        await publisher.publish(TOPIC, b"x")

    assert not raised.value.transient
    assert "accessControl.aws.greengrass.ipc.mqttproxy" in str(raised.value)
    assert TOPIC in str(raised.value)
    assert nucleus.published == []


async def test_the_recipes_access_control_lets_dataset_topics_through(
    publisher: GreengrassPublisher, nucleus: NucleusDouble
) -> None:
    recipe = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    nucleus.access_control = recipe["ComponentConfiguration"]["DefaultConfiguration"][
        "accessControl"
    ]

    await publisher.publish(TOPIC, b"ok")
    await publisher.publish_local("edge-agent/alerts", b"alert")
    with pytest.raises(PublishRejectedError):
        await publisher.publish("dt/edge-agent/another-gateway/line1", b"no")
    with pytest.raises(PublishRejectedError, match=r"aws\.greengrass\.ipc\.pubsub"):
        await publisher.publish_local("somewhere/else", b"no")

    assert [p.payload for p in nucleus.published] == [b"ok"]


async def test_publish_local_goes_to_local_pubsub(
    publisher: GreengrassPublisher, nucleus: NucleusDouble
) -> None:
    await publisher.publish_local(publisher.local_alerts_topic, b'{"alert":"ph"}')

    [local] = nucleus.local_published
    assert (local.topic, local.payload) == ("edge-agent/alerts", b'{"alert":"ph"}')
    assert nucleus.published == []


async def test_outbox_topics_marked_local_go_to_local_pubsub(
    publisher: GreengrassPublisher, nucleus: NucleusDouble
) -> None:
    # The farm worker queues alerts for gateway components as "local:<topic>" outbox rows.
    await publisher.publish(LOCAL_TOPIC_PREFIX + "edge-agent/alerts", b'{"event":"open"}')

    [local] = nucleus.local_published
    assert (local.topic, local.payload) == ("edge-agent/alerts", b'{"event":"open"}')
    assert nucleus.published == []


async def test_in_flight_publishes_are_bounded_by_max_inflight(nucleus: NucleusDouble) -> None:
    async for publisher in _running(_publisher(nucleus, maxInflight=3)):
        nucleus.hold_publishes()
        publishing = [
            asyncio.create_task(publisher.publish(TOPIC, str(i).encode())) for i in range(10)
        ]
        await nucleus.wait_until(lambda: nucleus.publish_requests >= 3)
        # Requests on one connection arrive in order: once this answer is back, any fourth
        # publish that had been sent would have been counted.
        await publisher.ipc.get_configuration()
        assert nucleus.publish_requests == 3

        nucleus.release_publishes()
        await asyncio.gather(*publishing)

    assert len(nucleus.published) == 10
    assert nucleus.max_inflight_publishes == 3


async def test_an_unanswered_publish_drops_the_connection_and_frees_its_slot(
    nucleus: NucleusDouble,
) -> None:
    async for publisher in _running(_publisher(nucleus, maxInflight=1, ackTimeoutSeconds=0.3)):
        nucleus.hold_publishes()  # the nucleus takes the request and never answers

        with pytest.raises(NotConnectedError, match=r"no answer from the nucleus within 0\.3 s"):
            await publisher.publish(TOPIC, b"unanswered")

        await nucleus.wait_until(lambda: nucleus.connects == 2)  # a new connection
        nucleus.release_publishes()
        await asyncio.wait_for(publisher.wait_ready(), 5)
        await publisher.publish(TOPIC, b"next")  # the one slot is free again

    assert b"next" in [p.payload for p in nucleus.published]


async def test_publish_without_a_connection_raises_not_connected(nucleus: NucleusDouble) -> None:
    publisher = _publisher(nucleus)  # run() not started

    with pytest.raises(NotConnectedError):
        await publisher.publish(TOPIC, b"x")
    assert nucleus.publish_requests == 0


async def test_run_reconnects_after_the_nucleus_drops_the_connection(
    publisher: GreengrassPublisher, nucleus: NucleusDouble
) -> None:
    await publisher.publish(TOPIC, b"before")

    nucleus.drop_connections()
    await nucleus.wait_until(lambda: nucleus.connects == 2)
    await asyncio.wait_for(publisher.wait_ready(), 5)
    await publisher.publish(TOPIC, b"after")

    assert [p.payload for p in nucleus.published] == [b"before", b"after"]


async def test_run_keeps_trying_until_the_nucleus_listens(nucleus: NucleusDouble) -> None:
    env = {**nucleus.env, "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": "/nonexistent/s"}
    publisher = GreengrassPublisher(
        GreengrassConfig(),
        thing_name="gateway-01",
        environ=env,
        reconnect_min_seconds=0.01,
        reconnect_max_seconds=0.02,
    )
    running = asyncio.create_task(publisher.run())

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(publisher.wait_ready(), 0.2)
    assert not running.done()  # still retrying, not crashed
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running


async def test_aclose_ends_run(nucleus: NucleusDouble) -> None:
    publisher = _publisher(nucleus)
    running = asyncio.create_task(publisher.run())
    await asyncio.wait_for(publisher.wait_ready(), 5)

    await publisher.aclose()

    await asyncio.wait_for(running, 5)
    with pytest.raises(NotConnectedError):
        await publisher.publish(TOPIC, b"x")


def test_outside_greengrass_the_publisher_names_the_missing_environment() -> None:
    with pytest.raises(ConfigError, match="AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"):
        GreengrassPublisher(GreengrassConfig(), thing_name="gateway-01", environ={})
