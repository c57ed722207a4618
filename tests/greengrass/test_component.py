"""The agent as a Greengrass component, against the nucleus double with the real awsiot client:
configuration over IPC, validated and applied live, publishing through PublishToIoTCore."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_agent.config.publish import GreengrassConfig
from edge_agent.greengrass.component import GreengrassComponent
from edge_agent.greengrass.ipc import GreengrassIpc
from edge_agent.publish.greengrass import GreengrassPublisher
from tests.agent.support import outbox_depth, until, write_rows
from tests.infra.nucleus import IotCorePublish, NucleusDouble
from tests.infra.samba import SambaServer

pytestmark = pytest.mark.infra

RECIPE = Path(__file__).parents[2] / "recipes" / "io.edgeagent.EdgeAgent.yaml"
DATA_TOPIC = "dt/edge-agent/gateway-01/line1"


# --------------------------------------------------------------------------- helpers


def recipe_configuration() -> dict[str, Any]:
    """The recipe's DefaultConfiguration, accessControl included, as the nucleus holds it."""
    recipe = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    return copy.deepcopy(recipe["ComponentConfiguration"]["DefaultConfiguration"])


def local_source(folder: Path, name: str) -> dict[str, Any]:
    """A local source watching ``folder`` (created), quick to settle."""
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "name": name,
        "type": "local",
        "path": str(folder),
        "settleSeconds": 0.2,
        "rescanSeconds": 2,
        "dataset": "line1",
    }


def configuration(*sources: dict[str, Any], **publish: Any) -> dict[str, Any]:
    """The recipe's configuration with these sources and no rate limit."""
    config = recipe_configuration()
    config["sources"] = list(sources)
    config["publish"].update({"maxPublishesPerSecond": None, "maxBytesPerSecond": None, **publish})
    config["logging"] = {"level": "INFO", "format": "text"}
    return config


def batches_by_row(published: list[IotCorePublish]) -> dict[tuple[str, str, int], set[str]]:
    """(source, file, line) -> the batch ids it arrived in."""
    out: dict[tuple[str, str, int], set[str]] = {}
    for message in published:
        assert not message.topic.endswith("/quarantine"), message.payload[:300]
        envelope = json.loads(message.payload)
        source = envelope["source"]
        for record in envelope["records"]:
            key = (source["name"], source["path"], record["line"])
            out.setdefault(key, set()).add(envelope["batchId"])
    return out


def rows(source: str, path: str, count: int) -> set[tuple[str, str, int]]:
    """The keys of ``count`` rows written by write_rows (header on line 1)."""
    return {(source, path, line) for line in range(2, count + 2)}


def assert_each_once(published: list[IotCorePublish], expected: set[tuple[str, str, int]]) -> None:
    """Every row arrived; a row seen twice came in a re-sent batch with the same id."""
    by_row = batches_by_row(published)
    missing, unexpected = expected - set(by_row), set(by_row) - expected
    assert not missing and not unexpected, (sorted(missing)[:5], sorted(unexpected)[:5])
    twice = {row: ids for row, ids in by_row.items() if len(ids) > 1}
    assert not twice, f"rows in different batches: {list(twice.items())[:3]}"


def delivered(nucleus: NucleusDouble, expected: set[tuple[str, str, int]]) -> bool:
    return expected <= set(batches_by_row(nucleus.published))


@contextlib.asynccontextmanager
async def running_component(
    nucleus: NucleusDouble, work_dir: Path, *, wait_running: bool = True
) -> AsyncIterator[GreengrassComponent]:
    """The component in this event loop, as run_component runs it, minus the signal handlers."""
    ipc = GreengrassIpc(
        socket_path=nucleus.socket_path,
        auth_token=nucleus.auth_token,
        connect_timeout_seconds=5,
        request_timeout_seconds=10,
    )
    component = GreengrassComponent(
        ipc,
        work_dir=work_dir,
        settle_seconds=0.1,
        reconnect_min_seconds=0.05,
        reconnect_max_seconds=0.2,
        restart_min_seconds=0.2,
        restart_max_seconds=1.0,
    )
    task = asyncio.create_task(component.run())
    try:
        if wait_running:
            await _until_running(component, task)
        yield component
    finally:
        component.request_stop()
        assert await asyncio.wait_for(task, 30) == 0


async def _until_running(component: GreengrassComponent, task: asyncio.Task[int]) -> None:
    running = asyncio.ensure_future(component.running.wait())
    done, _ = await asyncio.wait({running, task}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
    running.cancel()
    if task in done:
        task.result()
    assert component.running.is_set(), "the agent did not start within 15 s"


def start_as_greengrass_does(
    work: Path, nucleus: NucleusDouble, log_path: Path
) -> subprocess.Popen[bytes]:
    """The recipe's Run (`edge-agent run --greengrass`) in the work folder, with the
    environment the nucleus gives a component (socket, SVCUID, thing name, region)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SVCUID"))},
        **nucleus.env,
        "PYTHONUNBUFFERED": "1",  # as the recipe's Setenv
    }
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "run", "--greengrass"],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def agent_logs() -> Iterator[list[logging.LogRecord]]:
    """Every edge_agent log record of the test (whatever propagate is set to)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.NOTSET)
    logger = logging.getLogger("edge_agent")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


# --------------------------------------------------------------------------- as Greengrass runs it


async def test_started_as_the_recipe_runs_it_publishes_every_row_and_stops_on_sigterm(
    tmp_path: Path, nucleus: NucleusDouble
) -> None:
    work = tmp_path / "work" / "io.edgeagent.EdgeAgent"  # what Greengrass makes the cwd
    work.mkdir(parents=True)
    inbox = tmp_path / "line1"
    config = configuration(local_source(inbox, "line1"))
    assert config["stateDir"] == "state"  # relative: under the work folder
    nucleus.configuration = config
    nucleus.access_control = config["accessControl"]  # the recipe's policy, enforced
    log_path = tmp_path / "component.log"
    write_rows(inbox / "before.csv", 500)  # there before the component starts
    proc = start_as_greengrass_does(work, nucleus, log_path)
    try:
        await nucleus.wait_until(lambda: "RUNNING" in nucleus.states, timeout=20)
        write_rows(inbox / "after.csv", 1500)
        expected = rows("line1", "before.csv", 500) | rows("line1", "after.csv", 1500)
        await nucleus.wait_until(lambda: delivered(nucleus, expected), timeout=30)

        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log_path.read_text(encoding="utf-8", errors="replace")

    assert code == 0, output[-3000:]
    assert_each_once(nucleus.published, expected)
    assert {p.topic for p in nucleus.published} == {DATA_TOPIC}
    assert all(p.qos == "1" for p in nucleus.published)
    assert (work / "state" / "edge-agent.db").is_file()
    assert outbox_depth(work / "state") == 0
    assert nucleus.states == ["RUNNING"]
    assert nucleus.connects == 1
    assert "stop requested" in output and "SIGTERM" in output


async def test_sigterm_while_waiting_for_a_valid_configuration_exits_0(
    tmp_path: Path, nucleus: NucleusDouble
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    config = configuration(local_source(tmp_path / "line1", "line1"))
    config["sources"][0]["mode"] = "sometimes"
    nucleus.configuration = config
    proc = start_as_greengrass_does(work, nucleus, tmp_path / "component.log")
    try:
        await nucleus.wait_until(lambda: nucleus.states == ["ERRORED"], timeout=20)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = (tmp_path / "component.log").read_text(encoding="utf-8", errors="replace")

    assert code == 0, output[-3000:]
    assert "sources[0].mode" in output
    assert nucleus.published == []


# --------------------------------------------------------------------------- configuration


async def test_a_rejected_proposal_names_the_key_and_the_old_configuration_keeps_running(
    tmp_path: Path, nucleus_env: NucleusDouble
) -> None:
    nucleus = nucleus_env
    inbox = tmp_path / "line1"
    good = configuration(local_source(inbox, "line1"))
    nucleus.configuration = good
    bad = copy.deepcopy(good)
    bad["sources"][0]["setleSeconds"] = 1  # a typo
    bad["publish"]["maxPayloadBytes"] = 10_000_000  # over AWS IoT Core's limit

    async with running_component(nucleus, tmp_path / "work") as component:
        status, message = await nucleus.propose_configuration(bad)

        write_rows(inbox / "a.csv", 200)
        await nucleus.wait_until(
            lambda: delivered(nucleus, rows("line1", "a.csv", 200)), timeout=20
        )
        assert component.agents_started == 1

    assert status == "REJECTED"
    assert message is not None
    assert "sources[0].setleSeconds: unknown key" in message
    assert "did you mean 'settleSeconds'?" in message
    assert "publish.maxPayloadBytes" in message
    assert_each_once(nucleus.published, rows("line1", "a.csv", 200))


async def test_an_update_whose_folder_is_missing_on_this_gateway_is_rejected(
    tmp_path: Path, nucleus_env: NucleusDouble
) -> None:
    """The checks of `edge-agent check` decide: a folder the gateway does not have is named
    before the update is accepted, and the running configuration stays."""
    nucleus = nucleus_env
    good = configuration(local_source(tmp_path / "line1", "line1"))
    nucleus.configuration = good
    missing = copy.deepcopy(good)
    missing["sources"].append({**good["sources"][0], "name": "line2", "path": "no-such-folder"})
    async with running_component(nucleus, tmp_path / "work") as component:
        status, message = await nucleus.propose_configuration(missing)
        assert component.agents_started == 1
    assert status == "REJECTED"
    assert message is not None
    assert "sources[1].path" in message
    assert str(tmp_path / "work" / "no-such-folder") in message  # under the work folder


async def test_an_accepted_update_adds_a_source_live_without_loss(
    tmp_path: Path, nucleus_env: NucleusDouble
) -> None:
    nucleus = nucleus_env
    line1, line2 = tmp_path / "line1", tmp_path / "line2"
    first = configuration(local_source(line1, "line1"))
    nucleus.configuration = first
    second = copy.deepcopy(first)
    second["sources"].append(local_source(line2, "line2"))

    async with running_component(nucleus, tmp_path / "work") as component:
        write_rows(line1 / "a.csv", 1000)
        await nucleus.wait_for_published(1, timeout=20)
        write_rows(line1 / "b.csv", 3000)  # being read while the configuration changes

        status, message = await nucleus.propose_configuration(second)
        await asyncio.to_thread(nucleus.push_configuration, second)
        await until(
            lambda: component.agents_started == 2 and component.running.is_set(),
            timeout=15,
            what="the agent restarted with the new configuration",
        )

        write_rows(line2 / "c.csv", 700)
        write_rows(line1 / "d.csv", 300)
        expected = (
            rows("line1", "a.csv", 1000)
            | rows("line1", "b.csv", 3000)
            | rows("line2", "c.csv", 700)
            | rows("line1", "d.csv", 300)
        )
        await nucleus.wait_until(lambda: delivered(nucleus, expected), timeout=30)
        await until(lambda: outbox_depth(tmp_path / "work" / "state") == 0, what="outbox drained")
        assert component.agents_started == 2

    assert (status, message) == ("ACCEPTED", None)
    assert_each_once(nucleus.published, expected)
    assert nucleus.connects == 1  # same process, same IPC connection


async def test_an_invalid_configuration_at_start_reports_errored_and_waits_for_a_fix(
    tmp_path: Path, nucleus_env: NucleusDouble, agent_logs: list[logging.LogRecord]
) -> None:
    nucleus = nucleus_env
    inbox = tmp_path / "line1"
    good = configuration(local_source(inbox, "line1"))
    bad = copy.deepcopy(good)
    bad["sources"][0]["dataset"] = "line9"
    bad["outbox"]["maxBytes"] = 12
    nucleus.configuration = bad

    async with running_component(nucleus, tmp_path / "work", wait_running=False) as component:
        await nucleus.wait_until(lambda: nucleus.states == ["ERRORED"], timeout=10)
        assert not component.running.is_set()

        await asyncio.to_thread(nucleus.push_configuration, good)
        await nucleus.wait_until(lambda: nucleus.states == ["ERRORED", "RUNNING"], timeout=10)
        write_rows(inbox / "a.csv", 100)
        await nucleus.wait_until(
            lambda: delivered(nucleus, rows("line1", "a.csv", 100)), timeout=20
        )

    problems = [getattr(r, "problem", "") for r in agent_logs if r.msg == "configuration problem"]
    assert any(p.startswith("sources[0].dataset: dataset 'line9'") for p in problems), problems
    assert any(p.startswith("outbox.maxBytes") for p in problems), problems


async def test_a_change_outside_the_agent_configuration_does_not_restart_it(
    tmp_path: Path,
    nucleus_env: NucleusDouble,
    agent_logs: list[logging.LogRecord],
    caplog: pytest.LogCaptureFixture,
) -> None:
    nucleus = nucleus_env
    caplog.set_level(logging.DEBUG, logger="edge_agent.greengrass.component")
    config = configuration(local_source(tmp_path / "line1", "line1"))
    nucleus.configuration = config
    changed = copy.deepcopy(config)
    changed["accessControl"]["aws.greengrass.ipc.pubsub"]["io.edgeagent.EdgeAgent:pubsub:1"][
        "resources"
    ].append("edge-agent/more")

    async with running_component(nucleus, tmp_path / "work") as component:
        await asyncio.to_thread(nucleus.push_configuration, changed)
        await until(
            lambda: any(
                r.msg.startswith("the agent configuration is unchanged") for r in agent_logs
            ),
            timeout=10,
            what="the change read and found to concern the nucleus only",
        )
        assert component.running.is_set()

    assert component.agents_started == 1


async def test_after_a_nucleus_restart_it_reconnects_and_reads_the_configuration_again(
    tmp_path: Path, nucleus_env: NucleusDouble
) -> None:
    nucleus = nucleus_env
    line1, line2 = tmp_path / "line1", tmp_path / "line2"
    first = configuration(local_source(line1, "line1"))
    nucleus.configuration = first
    second = copy.deepcopy(first)
    second["sources"].append(local_source(line2, "line2"))
    bad = copy.deepcopy(first)
    bad["sources"][0]["afterIngest"] = "move"  # without moveTo

    async with running_component(nucleus, tmp_path / "work") as component:
        write_rows(line1 / "a.csv", 300)
        await nucleus.wait_until(lambda: delivered(nucleus, rows("line1", "a.csv", 300)))

        nucleus.configuration = second  # changed while the component cannot hear it
        nucleus.drop_connections()
        await nucleus.wait_until(lambda: nucleus.connects == 2, timeout=10)
        await until(
            lambda: component.agents_started == 2 and component.running.is_set(),
            timeout=15,
            what="the agent restarted with the configuration read after reconnecting",
        )
        write_rows(line2 / "b.csv", 300)
        await nucleus.wait_until(lambda: delivered(nucleus, rows("line2", "b.csv", 300)))
        status, message = await nucleus.propose_configuration(bad)  # validated again

    assert status == "REJECTED"
    assert message is not None and "sources[0]" in message and "moveTo" in message
    assert_each_once(nucleus.published, rows("line1", "a.csv", 300) | rows("line2", "b.csv", 300))


async def test_an_agent_closing_its_publisher_leaves_the_shared_connection_open(
    nucleus: NucleusDouble,
) -> None:
    ipc = GreengrassIpc(socket_path=nucleus.socket_path, auth_token=nucleus.auth_token)
    await ipc.connect()
    try:
        publisher = GreengrassPublisher(GreengrassConfig(), thing_name="gateway-01", ipc=ipc)
        following = asyncio.create_task(publisher.run())
        await asyncio.wait_for(publisher.wait_ready(), 5)
        await publisher.publish(DATA_TOPIC, b"one")

        await publisher.aclose()
        await asyncio.wait_for(following, 5)

        assert ipc.is_connected
        assert not publisher.connected
        second = GreengrassPublisher(GreengrassConfig(), thing_name="gateway-01", ipc=ipc)
        following = asyncio.create_task(second.run())
        await asyncio.wait_for(second.wait_ready(), 5)
        await second.publish(DATA_TOPIC, b"two")
        nucleus.drop_connections()
        await until(lambda: not second.connected, timeout=5, what="publisher sees the drop")
        await ipc.connect()  # the owner reconnects; the publisher follows
        await asyncio.wait_for(second.wait_ready(), 5)
        await second.publish(DATA_TOPIC, b"three")
        await second.aclose()
        await asyncio.wait_for(following, 5)
    finally:
        await ipc.close()

    assert [p.payload for p in nucleus.published] == [b"one", b"two", b"three"]
    assert nucleus.connects == 2


# --------------------------------------------------------------------------- publishing


async def test_service_errors_are_retried_and_every_row_arrives_once(
    tmp_path: Path, nucleus_env: NucleusDouble
) -> None:
    nucleus = nucleus_env
    inbox = tmp_path / "line1"
    # Small payloads: many batches, so the failures spread over several of them.
    nucleus.configuration = configuration(local_source(inbox, "line1"), maxPayloadBytes=4096)

    async with running_component(nucleus, tmp_path / "work"):
        nucleus.fail_next_publishes(5)
        write_rows(inbox / "a.csv", 2000)
        expected = rows("line1", "a.csv", 2000)
        await nucleus.wait_until(lambda: delivered(nucleus, expected), timeout=30)
        await until(lambda: outbox_depth(tmp_path / "work" / "state") == 0, what="outbox drained")

    assert_each_once(nucleus.published, expected)
    assert nucleus.publish_requests == len(nucleus.published) + 5
    assert len(nucleus.published) > 10


async def test_unauthorized_keeps_the_batch_and_names_access_control(
    tmp_path: Path, nucleus_env: NucleusDouble, agent_logs: list[logging.LogRecord]
) -> None:
    nucleus = nucleus_env
    inbox = tmp_path / "line1"
    nucleus.configuration = configuration(local_source(inbox, "line1"), retryRejectedSeconds=3)
    state = tmp_path / "work" / "state"

    async with running_component(nucleus, tmp_path / "work"):
        nucleus.fail_next_publishes(1, error="UnauthorizedError")
        write_rows(inbox / "a.csv", 100)
        await until(lambda: bool(refused(agent_logs)), timeout=20, what="the refusal logged")
        assert nucleus.published == []
        assert outbox_depth(state) == 1  # kept, to be tried again after retryRejectedSeconds

        await nucleus.wait_until(
            lambda: delivered(nucleus, rows("line1", "a.csv", 100)), timeout=20
        )

    [record] = refused(agent_logs)
    reason = str(getattr(record, "reason", ""))
    assert "accessControl.aws.greengrass.ipc.mqttproxy" in reason
    assert DATA_TOPIC in reason
    assert_each_once(nucleus.published, rows("line1", "a.csv", 100))


def refused(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.name == "edge_agent.dispatch" and r.levelno >= logging.ERROR]


# --------------------------------------------------------------------------- secrets


async def test_the_smb_password_comes_from_get_secret_value(
    tmp_path: Path,
    nucleus_env: NucleusDouble,
    samba: SambaServer,
    smb_folder: str,
    agent_logs: list[logging.LogRecord],
) -> None:
    nucleus = nucleus_env
    secret_id = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:edge-agent/smb-AbCdEf"
    config = configuration()
    config["sources"] = [
        {
            "name": "towers",
            "type": "smb",
            "smb": {
                "server": samba.host,
                "port": samba.port,
                "share": samba.share,
                "folder": smb_folder,
                "username": samba.username,
                "passwordSecretId": secret_id,
            },
            "settleSeconds": 0.2,
            "rescanSeconds": 2,
            "dataset": "line1",
        }
    ]
    nucleus.configuration = config
    nucleus.access_control = config["accessControl"]
    write_rows(samba.share_path / smb_folder / "a.csv", 300)

    async with running_component(nucleus, tmp_path / "work", wait_running=False) as component:
        # The secret is not there yet (SecretManager has not synced): refused, named, retried.
        await nucleus.wait_until(lambda: nucleus.states == ["ERRORED"], timeout=10)
        assert not component.running.is_set()
        nucleus.secrets[secret_id] = samba.password
        await nucleus.wait_until(lambda: nucleus.states == ["ERRORED", "RUNNING"], timeout=10)
        await nucleus.wait_until(
            lambda: delivered(nucleus, rows("towers", "a.csv", 300)), timeout=20
        )

    assert_each_once(nucleus.published, rows("towers", "a.csv", 300))
    failures = [
        str(getattr(r, "error", "")) for r in agent_logs if r.msg.startswith("the agent failed")
    ]
    assert failures
    assert failures[0].startswith(f"sources[towers].smb.passwordSecretId: secret {secret_id!r}")
