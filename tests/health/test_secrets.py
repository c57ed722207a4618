"""No password from the configuration shows in /metrics, /healthz, the heartbeat or ``status``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.agent.support import agent_config, running_agent, until, write_rows
from tests.health.support import edge_agent_status, get, health_port
from tests.infra.mosquitto import Broker
from tests.infra.samba import SambaServer

pytestmark = pytest.mark.infra

MQTT_PASSWORD = "Mqtt-Pa55-never-shown"


async def test_no_password_in_metrics_heartbeat_or_status(
    tmp_path: Path, mosquitto: Broker, samba: SambaServer, smb_folder: str, unique_thing: str
) -> None:
    config = agent_config(
        tmp_path,
        mosquitto,
        thing=unique_thing,
        publish={
            "mqtt": {
                "host": mosquitto.host,
                "port": mosquitto.port,
                "protocol": 5,
                "username": "gateway",
                "password": MQTT_PASSWORD,
            }
        },
        health={"port": 0, "heartbeatSeconds": 0.3},
        statusIntervalSeconds=0.2,
    )
    config["sources"].append(
        {
            "name": "share1",
            "type": "smb",
            "smb": {
                "server": samba.host,
                "port": samba.port,
                "share": samba.share,
                "folder": smb_folder,
                "username": samba.username,
                "password": samba.password,
                "connectionTimeoutSeconds": 5,
            },
            "settleSeconds": 0.3,
            "dataset": "line1",
        }
    )
    (samba.share_path / smb_folder / "s.csv").write_text("ts,v0\n2026-11-27T01:00:00Z,1\n")
    write_rows(tmp_path / "in" / "a.csv", 20)
    with mosquitto.subscriber(f"dt/edge-agent/{unique_thing}/status") as sub:
        async with running_agent(config) as agent:
            port = await health_port(agent)
            shared = agent.stats.source("share1")
            await until(lambda: shared.rows_published == 1, timeout=20, what="share read")
            await sub.wait_for_async(
                lambda m: any(json.loads(p)["sources"]["share1"]["rowsQueued"] for _, p in m)
            )
            seen = [get(port, "/metrics")[1], get(port, "/healthz")[1]]
            seen += [payload for _, payload in sub.messages]
            state = str(tmp_path / "state")
            for extra in ([], ["--json"]):
                output = await asyncio.to_thread(edge_agent_status, "--state-dir", state, *extra)
                seen.append(output.encode())
    everything = b"\n".join(seen)
    assert b"share1" in everything and b"line1" in everything  # the outputs were read
    for secret in (samba.password, MQTT_PASSWORD):
        assert secret.encode() not in everything
