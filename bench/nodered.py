"""Node-RED 4 as the peer people use in place of this agent: the flow in bench/nodered-flow.json
(watch -> file in -> csv -> mqtt out) on the same big file as the local scenario.

Node-RED is installed at run time with npm into a cache folder outside the repository (never
committed), pinned to ``VERSION``. It runs headless as a child of the benchmark with its own user
directory, its HTTP port on 127.0.0.1, its telemetry off, and is stopped by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness import (
    agent_config,
    broker,
    peak_rss_mb,
    running_agent,
    stop_process,
    subscriber,
    wait_until,
)
from scenarios import SETTLE, agent_done, agent_ready, local_drop, throughput_figures
from workload import DATASET, write_csv

from tests.infra.mosquitto import free_port

VERSION = "4.1.8"
"""The exact Node-RED release measured (``npm install node-red@4.1.8``)."""
FLOW = Path(__file__).resolve().parent / "nodered-flow.json"
CACHE = Path(
    os.environ.get("EDGE_BENCH_CACHE", Path.home() / ".cache" / "edge-agent-bench")
).expanduser()
HOME = CACHE / f"node-red-{VERSION}"
RED_JS = HOME / "node_modules" / "node-red" / "red.js"
TOPIC = "dt/node-red/bench-gw"
Figures = dict[str, Any]

SETTINGS = """\
// Written by bench/nodered.py: headless, loopback only, nothing fetched from outside.
module.exports = {{
    uiHost: "127.0.0.1",
    uiPort: {port},
    flowFile: {flow},
    credentialSecret: false,
    httpNodeRoot: false,
    diagnostics: {{ enabled: false }},
    telemetry: {{ enabled: false, updateNotification: false }},
    externalModules: {{ autoInstall: false, palette: {{ allowInstall: false }} }},
    editorTheme: {{ projects: {{ enabled: false }} }},
    logging: {{ console: {{ level: "info", metrics: false, audit: false }} }},
}};
"""


def installed() -> bool:
    """Whether the pinned Node-RED is in the cache folder."""
    return RED_JS.exists()


def why_not_available() -> str | None:
    """None when Node-RED can be installed or is; else why not."""
    if installed():
        return None
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not on PATH"
    return None


def install() -> Path:
    """``npm install node-red@VERSION`` into the cache folder (once); returns red.js."""
    if installed():
        return RED_JS
    HOME.mkdir(parents=True, exist_ok=True)
    (HOME / "package.json").write_text(
        json.dumps({"name": "edge-agent-bench-node-red", "private": True}) + "\n"
    )
    subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--omit=dev",
            "--save-exact",
            f"node-red@{VERSION}",
        ],
        cwd=HOME,
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=600,
    )
    return RED_JS


def node_version() -> str:
    try:
        out = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return "not found"
    return out.stdout.strip()


class NodeRedProcess:
    """Node-RED with the bench flow, a child process; ready once it logs that flows started
    and that its MQTT node connected."""

    def __init__(self, work: Path, watch_dir: Path, mqtt_port: int, topic: str) -> None:
        self.user_dir = work / "node-red"
        self.user_dir.mkdir(parents=True, exist_ok=True)
        flow = self.user_dir / "flows.json"
        shutil.copyfile(FLOW, flow)
        self.port = free_port()
        settings = self.user_dir / "settings.js"
        settings.write_text(SETTINGS.format(port=self.port, flow=json.dumps(str(flow))))
        self.log_path = self.user_dir / "node-red.log"
        self._lines: list[str] = []
        self._lock = threading.Lock()
        env = {
            **os.environ,
            "EDGE_BENCH_WATCH_DIR": str(watch_dir),
            "EDGE_BENCH_MQTT_PORT": str(mqtt_port),
            "EDGE_BENCH_TOPIC": topic,
            "NODE_RED_ENABLE_PROJECTS": "false",
        }
        self.proc = subprocess.Popen(
            [
                "node",
                str(RED_JS),
                *("--userDir", str(self.user_dir)),
                *("--settings", str(settings)),
                *("--port", str(self.port)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_until(
            "Node-RED to start its flow and connect to the broker",
            lambda: self._logged("Connected to broker"),
            90,
            self.dead,
            0.05,
        )

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.log_path.open("w") as log:
            for line in self.proc.stdout:
                log.write(line)
                with self._lock:
                    self._lines.append(line)

    def _logged(self, text: str) -> bool:
        with self._lock:
            return any(text in line for line in self._lines)

    def log_tail(self) -> str:
        with self._lock:
            return "".join(self._lines[-40:])

    def dead(self) -> str | None:
        if self.proc.poll() is None:
            return None
        return f"Node-RED exited ({self.proc.returncode}): {self.log_tail()}"

    def peak_rss_mb(self) -> float:
        return peak_rss_mb(self.proc.pid)

    def stop(self) -> None:
        stop_process(self.proc, 30)
        self._reader.join(5)


@contextlib.contextmanager
def running_nodered(
    work: Path, watch_dir: Path, mqtt_port: int, topic: str
) -> Iterator[NodeRedProcess]:
    """Node-RED with the bench flow watching ``watch_dir``, publishing to ``topic``."""
    red = NodeRedProcess(work, watch_dir, mqtt_port, topic)
    try:
        yield red
    finally:
        red.stop()


def scenario(work: Path, rows: int) -> Figures:
    """The big file of the local scenario through the agent, then through Node-RED, against
    the same Mosquitto: rows/s, MB/s, peak RSS and what went on the wire."""
    staging = work / "data.csv"
    n_rows, n_bytes = write_csv(staging, rows)
    out: Figures = {"rows": n_rows, "file_bytes": n_bytes, "nodered_version": VERSION}
    agent_in, red_in = work / "agent-in", work / "node-red-in"
    agent_in.mkdir()
    red_in.mkdir()
    with broker(work) as server, subscriber(server, "#") as wire:
        source = {"name": "bench", "path": str(agent_in), "settleSeconds": SETTLE, "dataset": "d"}
        config = agent_config(work, [source], {"d": DATASET}, server.port, limits=False)
        with running_agent(work / "agent", config) as agent:
            agent_ready(agent, local_drop(work, agent_in))
            t0 = time.monotonic()
            staging.rename(agent_in / "data.csv")
            seconds = agent_done(agent, "data.csv", 3600) - t0 - SETTLE
            out |= throughput_figures("agent", seconds, n_rows, n_bytes, wire, t0)
            out["agent_peak_rss_mb"] = agent.peak_rss_mb()
        (agent_in / "data.csv").rename(staging)
        with running_nodered(work, red_in, server.port, TOPIC) as red:
            start = wire.count  # the agent's messages are all in (throughput_figures waits)
            t0 = time.monotonic()
            staging.rename(red_in / "data.csv")
            wait_until(
                "Node-RED to publish every row",
                lambda: wire.count - start >= n_rows,
                max(600.0, n_rows / 500),
                red.dead,
                0.2,
            )
            wire.quiet(1.0)
            got = wire.since(t0)
            seconds = got.times[-1] - t0
            out |= throughput_figures("nodered", seconds, n_rows, n_bytes, wire, t0)
            out["nodered_peak_rss_mb"] = red.peak_rss_mb()
            out["nodered_sample"] = wire.samples.get(TOPIC, b"").decode()[:400]
        if got.count != n_rows:
            raise RuntimeError(f"Node-RED published {got.count} messages for {n_rows} rows")
    return out
