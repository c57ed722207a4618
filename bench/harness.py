"""What every benchmark scenario needs: a broker, a counting subscriber, the agent and the naive
ingest as child processes, and the figures computed from what the subscriber saw.

The broker is the tests' ``Broker`` (tests/infra/mosquitto.py): a child of this process on free
loopback ports, stopped by PID. The agent (``edge-agent run``) and the naive ingest
(bench/naive.py) run as child processes too, so their peak RSS (``VmHWM``) is their own.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from simulators.datasets import SOURCE_HINTS  # noqa: E402
from tests.infra.mosquitto import Broker, Certificates  # noqa: E402

NAIVE = Path(__file__).resolve().parent / "naive.py"
THING = "bench-gw"
IOT_PUBLISHES_PER_SECOND = 100
IOT_BYTES_PER_SECOND = 524_288


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (``VmHWM``), in MB; NaN once it is gone."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolated percentile (as numpy's default)."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def stop_process(proc: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM this child, wait for it; SIGKILL if it does not go within ``timeout``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until(
    what: str,
    predicate: Callable[[], bool],
    timeout: float,
    alive: Callable[[], str | None] = lambda: None,
    poll: float = 0.05,
) -> None:
    """Poll ``predicate`` until true; fail if ``alive()`` reports a death or time runs out."""
    deadline = time.monotonic() + timeout
    while not predicate():
        dead = alive()
        if dead is not None:
            raise RuntimeError(f"{dead} while waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


@contextlib.contextmanager
def broker(work: Path) -> Iterator[Broker]:
    """A Mosquitto of its own (the tests' fixture class), stopped at the end."""
    server = Broker(work / "mosquitto", Certificates(work / "certs"), THING)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------- what the wire carried


@dataclass
class Received:
    """Every message a subscriber saw: arrival time (monotonic), topic and payload sizes."""

    times: list[float] = field(default_factory=list)
    payload_bytes: list[int] = field(default_factory=list)
    topic_bytes: list[int] = field(default_factory=list)
    samples: dict[str, bytes] = field(default_factory=dict)  # the first payload per topic

    def since(self, t0: float, until: float = float("inf")) -> Received:
        """Only the messages that arrived at or after ``t0`` (and before ``until``)."""
        keep = [i for i, t in enumerate(self.times) if t0 <= t < until]
        return Received(
            [self.times[i] for i in keep],
            [self.payload_bytes[i] for i in keep],
            [self.topic_bytes[i] for i in keep],
        )

    def quiet(self, seconds: float = 0.5, timeout: float = 60.0) -> None:
        """Wait until nothing arrived for ``seconds``: what was acknowledged has been forwarded
        (the broker acknowledges a publish before it has delivered it to this subscriber)."""
        wait_until(
            "the subscriber to catch up",
            lambda: not self.times or time.monotonic() - self.times[-1] >= seconds,
            timeout,
        )

    @property
    def count(self) -> int:
        return len(self.times)

    def max_per_window(self, window: float = 1.0) -> int:
        """The most messages that arrived within any ``window`` seconds (half-open)."""
        best, lo = 0, 0
        for hi, t in enumerate(self.times):
            while self.times[lo] <= t - window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    def max_bytes_per_window(self, window: float = 1.0) -> int:
        """The most payload bytes that arrived within any ``window`` seconds (half-open)."""
        best, lo, total = 0, 0, 0
        for hi, t in enumerate(self.times):
            total += self.payload_bytes[hi]
            while self.times[lo] <= t - window:
                total -= self.payload_bytes[lo]
                lo += 1
            best = max(best, total)
        return best

    def steady(self, skip_head: float, skip_tail: float) -> tuple[float, float, float]:
        """(bytes/s, publishes/s, seconds) over the steady part: from the first message
        ``skip_head`` s after the start to the last one ``skip_tail`` s before the end.

        Paced traffic may come in bursts (a sliding window lets a window's worth through at
        once): both ends are then taken at the start of a burst (a message after a gap of
        >= 0.1 s), and the span counts its first message but not its last, so whole periods
        are measured whatever the pattern (evenly spaced messages all start a "burst")."""
        start, end = self.times[0] + skip_head, self.times[-1] - skip_tail
        idx = [i for i, t in enumerate(self.times) if start <= t <= end]
        starts = [i for i in idx if i == 0 or self.times[i] - self.times[i - 1] >= 0.1]
        ends = starts if len(starts) >= 2 else idx
        if len(ends) < 2:
            return float("nan"), float("nan"), 0.0
        first, last = ends[0], ends[-1]
        seconds = self.times[last] - self.times[first]
        if seconds < 3.0:  # too short to say anything steady
            return float("nan"), float("nan"), seconds
        return sum(self.payload_bytes[first:last]) / seconds, (last - first) / seconds, seconds


@contextlib.contextmanager
def subscription(
    server: Broker, topic_filter: str, on_message: Callable[[mqtt.MQTTMessage], None]
) -> Iterator[None]:
    """Subscribe (QoS 1) with ``on_message`` called for every arrival (paho's network thread),
    once the broker has acknowledged the subscription."""
    subscribed = threading.Event()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"bench-sub-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv5,
    )
    client.on_connect = lambda c, *_a: c.subscribe(topic_filter, qos=1)
    client.on_subscribe = lambda *_a: subscribed.set()
    client.on_message = lambda _c, _u, message: on_message(message)
    client.connect(server.host, server.port, keepalive=60)
    client.loop_start()
    try:
        if not subscribed.wait(30):
            raise RuntimeError(f"subscription to {topic_filter!r} not acknowledged in 30 s")
        yield
    finally:
        client.disconnect()
        client.loop_stop()


@contextlib.contextmanager
def subscriber(server: Broker, topic_filter: str) -> Iterator[Received]:
    """Subscribe (QoS 1) and record every arrival; only sizes and times are kept."""
    received = Received()

    def on_message(message: mqtt.MQTTMessage) -> None:
        received.times.append(time.monotonic())
        received.topic_bytes.append(len(message.topic.encode()))
        received.payload_bytes.append(len(message.payload))
        if message.topic not in received.samples:
            received.samples[message.topic] = message.payload

    with subscription(server, topic_filter, on_message):
        yield received


# ---------------------------------------------------------------------- the agent


class StateReader:
    """Read-only look at the agent's state database (safe beside the running agent)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)

    def close(self) -> None:
        self._db.close()

    def acknowledged(self) -> int:
        """The agent's durable count of acknowledged rows."""
        with contextlib.suppress(sqlite3.OperationalError):
            row = self._db.execute(
                "SELECT value FROM counters WHERE name = 'rows_acknowledged'"
            ).fetchone()
            return int(row[0]) if row else 0
        return 0

    def done(self, path: str) -> bool:
        """The file is wholly read and nothing is waiting in the outbox."""
        with contextlib.suppress(sqlite3.OperationalError):
            row = self._db.execute("SELECT state FROM files WHERE path = ?", (path,)).fetchone()
            waiting = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            return row is not None and row[0] in ("read", "disposed") and waiting == 0
        return False

    def files_read(self) -> int:
        """Files wholly read (their batches may still wait in the outbox)."""
        with contextlib.suppress(sqlite3.OperationalError):
            return int(
                self._db.execute(
                    "SELECT COUNT(*) FROM files WHERE state IN ('read', 'disposed')"
                ).fetchone()[0]
            )
        return 0

    def files_done(self) -> tuple[int, int, int]:
        """(files read, rows published, rows quarantined) over every file of every source,
        counted only once the outbox is empty; (-1, 0, 0) while batches wait in it."""
        with contextlib.suppress(sqlite3.OperationalError):
            if self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]:
                return -1, 0, 0
            n, published, quarantined = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(rows_published), 0), "
                "COALESCE(SUM(rows_quarantined), 0) FROM files "
                "WHERE state IN ('read', 'disposed')"
            ).fetchone()
            return int(n), int(published), int(quarantined)
        return -1, 0, 0


SETTLE = 0.5  # settleSeconds of every bench source


def site_source(name: str, site: Path) -> dict[str, Any]:
    """The agent source for one of the tower simulator's folders under ``site`` (its
    include patterns and mode from ``simulators.datasets.SOURCE_HINTS``)."""
    hint = SOURCE_HINTS[name]
    return {
        "name": name,
        "path": str(site / hint.folder),
        "include": list(hint.include),
        "mode": hint.mode,
        "settleSeconds": SETTLE,
        "dataset": name,
    }


def agent_config(
    work: Path,
    sources: list[dict[str, Any]],
    datasets: dict[str, Any],
    mqtt_port: int,
    *,
    limits: bool,
) -> dict[str, Any]:
    """An agent configuration against the bench broker; IoT Core's limits on or off."""
    return {
        "thingName": THING,
        "stateDir": str(work / "state"),
        "sources": sources,
        "datasets": datasets,
        "publish": {
            "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "protocol": 5},
            "maxPublishesPerSecond": IOT_PUBLISHES_PER_SECOND if limits else None,
            "maxBytesPerSecond": IOT_BYTES_PER_SECOND if limits else None,
        },
        "outbox": {"maxBytes": 4 * 1024**3, "minFreeDiskBytes": 0},
        "logging": {"level": "WARNING", "format": "text"},
    }


class AgentProcess:
    """``edge-agent run`` as a child process, with a reader on its state database."""

    def __init__(
        self,
        work: Path,
        config: dict[str, Any],
        env: dict[str, str] | None = None,
    ):
        work.mkdir(parents=True, exist_ok=True)
        self.work = work
        self.log_path = work / "agent.log"
        config_path = work / "agent.yaml"
        config_path.write_text(yaml.safe_dump(config))
        self._log = self.log_path.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "edge_agent"),
                *("run", "--config", str(config_path)),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        db = Path(config["stateDir"]) / "edge-agent.db"
        wait_until("the agent's state database", db.exists, 60, self.dead)
        self.state = StateReader(db)

    def dead(self) -> str | None:
        """None while running; else why it stopped, with the end of its log."""
        if self.proc.poll() is None:
            return None
        return f"agent exited ({self.proc.returncode}): " + self.log_path.read_text()[-3000:]

    def peak_rss_mb(self) -> float:
        return peak_rss_mb(self.proc.pid)

    def stop(self) -> None:
        self.state.close()
        stop_process(self.proc, 60)
        self._log.close()


@contextlib.contextmanager
def running_agent(
    work: Path, config: dict[str, Any], env: dict[str, str] | None = None
) -> Iterator[AgentProcess]:
    """The agent as a child process."""
    agent = AgentProcess(work, config, env)
    try:
        yield agent
    finally:
        agent.stop()


# ---------------------------------------------------------------------- the naive ingest


class NaiveProcess:
    """bench/naive.py as a child process; its READY/READ/DONE lines collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, str(NAIVE), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.read_at: dict[str, float] = {}
        self.done_at: dict[str, tuple[int, float]] = {}
        self.ready_at: float | None = None
        self._lock = threading.Lock()
        self._stderr: list[str] = []
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        wait_until("the naive ingest to connect", lambda: self.ready_at is not None, 30, self.dead)

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            kind, *rest = line.split()
            with self._lock:
                if kind == "READY":
                    self.ready_at = float(rest[0])
                elif kind == "READ":
                    self.read_at[rest[0]] = float(rest[1])
                elif kind == "DONE":
                    self.done_at[rest[0]] = (int(rest[1]), float(rest[2]))

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self._stderr.extend(self.proc.stderr)

    def dead(self) -> str | None:
        if self.proc.poll() is None:
            return None
        return f"naive ingest exited ({self.proc.returncode}): " + "".join(self._stderr)[-3000:]

    def files_done(self) -> int:
        with self._lock:
            return len(self.done_at)

    def rows_done(self) -> int:
        with self._lock:
            return sum(rows for rows, _t in self.done_at.values())

    def peak_rss_mb(self) -> float:
        return peak_rss_mb(self.proc.pid)

    def stop(self) -> None:
        stop_process(self.proc, 30)
        for thread in self._threads:
            thread.join(5)


@contextlib.contextmanager
def running_naive(
    server: Broker,
    topic: str,
    source: list[str],
    *,
    poll: float,
    limits: bool,
    env: dict[str, str] | None = None,
) -> Iterator[NaiveProcess]:
    """The naive ingest on ``source`` (``--folder DIR`` or the ``--smb-*`` arguments)."""
    args = [*source, "--port", str(server.port), "--topic", topic, "--poll", str(poll)]
    if limits:
        args += [
            "--max-publishes-per-second",
            str(IOT_PUBLISHES_PER_SECOND),
            "--max-bytes-per-second",
            str(IOT_BYTES_PER_SECOND),
        ]
    naive = NaiveProcess(args, env)
    try:
        yield naive
    finally:
        naive.stop()
