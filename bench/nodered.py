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

from harness import stop_process, wait_until

from tests.infra.mosquitto import free_port

VERSION = "4.1.8"
"""The exact Node-RED release measured (``npm install node-red@4.1.8``)."""
FLOW = Path(__file__).resolve().parent / "nodered-flow.json"
CACHE = Path(
    os.environ.get("EDGE_BENCH_CACHE", Path.home() / ".cache" / "edge-agent-bench")
).expanduser()
HOME = CACHE / f"node-red-{VERSION}"
RED_JS = HOME / "node_modules" / "node-red" / "red.js"

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
        from harness import peak_rss_mb

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


def settle(seconds: float = 0.5) -> None:
    """A pause between runs on the shared cores."""
    time.sleep(seconds)
