"""Helpers of the fault-injection suite: the agent as a child process that can be killed,
SMB sources writing a multi-file workload, a tally of what the broker delivered, and a watch
on the share that catches a source file disappearing before its rows were acknowledged.

Builds on tests/agent/support.py (configuration, ``AgentProcess``) and
tests/sources/test_smb_agent.py (SMB source settings, CSV bytes); see docs/faults.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from simulators.smb import SmbSink
from tests.agent.support import AgentProcess, agent_config
from tests.infra.mosquitto import Broker, Message
from tests.infra.samba import SambaServer
from tests.sources.test_smb_agent import smb_source

# Operator-facing extras the suite turns off: several agents run side by side and a
# heartbeat on the thing's topics is not a batch.
QUIET_HEALTH = {"port": None, "heartbeatSeconds": None}

Key = tuple[str, str]  # (source name, path inside the source)


def seed_from_env(name: str = "FAULTS_SEED") -> int:
    """The RNG seed of a fault test: ``$FAULTS_SEED`` to replay a run, else a fresh one.

    The test prints it (and puts it in every failure message) so a failing run can be replayed.
    """
    value = os.environ.get(name)
    return int(value) if value else random.SystemRandom().randrange(1 << 32)


# --------------------------------------------------------------------------- the agent


class FaultAgent(AgentProcess):
    """``edge-agent run --config PATH`` as a child process, with extra environment (e.g. a fake
    clock) and the moments of its starts, read from its log."""

    def __init__(self, config_path: Path, log_path: Path, env: dict[str, str] | None = None):
        super().__init__(config_path, log_path)
        self.env = env or {}

    def start(self) -> None:
        """Start the agent with ``self.env`` added to the test's environment."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edge_agent", "run", "--config", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )

    @property
    def alive(self) -> bool:
        """Whether the child is running."""
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL (a crash or a power cut, for the process) and reap it."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def log_text(self) -> str:
        """The agent's log so far (every run appends to it)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_started(self, runs: int, timeout: float = 30.0) -> None:
        """Wait until the log says "edge-agent started" ``runs`` times in all (this run is up)."""
        deadline = time.monotonic() + timeout
        while self.log_text().count("edge-agent started") < runs:
            if not self.alive:
                raise AssertionError(f"agent exited at start:\n{self.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"agent not started in {timeout} s:\n{self.log_text()[-3000:]}"
                )
            time.sleep(0.02)  # bounded by the deadline


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class ShareSource:
    """One SMB source of the workload: a folder of the test share and its disposition."""

    name: str
    folder: str  # relative to the share
    after_ingest: str  # keep | move | delete
    archive: str | None = None  # moveTo, relative to the share

    def local(self, samba: SambaServer) -> Path:
        """The folder on smbd's disk (the test looks at it directly)."""
        return samba.share_path / self.folder


def share_sources(samba: SambaServer, smb_folder: str) -> list[ShareSource]:
    """Two sources on the test's share folder: one deletes its files, one moves them away."""
    sources = [
        ShareSource("deleted", f"{smb_folder}/del", "delete"),
        ShareSource("moved", f"{smb_folder}/mov", "move", archive=f"{smb_folder}/archive"),
    ]
    for source in sources:
        source.local(samba).mkdir(parents=True, exist_ok=True)
    return sources


def share_config(
    tmp_path: Path,
    broker: Broker,
    samba: SambaServer,
    sources: list[ShareSource],
    *,
    thing: str,
    **top: Any,
) -> dict[str, Any]:
    """An agent configuration whose sources are ``sources`` (SMB), health extras off."""
    config = agent_config(tmp_path, broker, thing=thing, health=QUIET_HEALTH, **top)
    config["sources"] = []
    for source in sources:
        extra: dict[str, Any] = {"afterIngest": source.after_ingest}
        if source.archive is not None:
            extra["moveTo"] = source.archive
        settings = smb_source(samba, source.folder, **extra)
        config["sources"].append({**settings, "name": source.name})
    return config


def share_sink(samba: SambaServer, smb_folder: str) -> SmbSink:
    """The simulators' SMB writer on the test's share folder (its own connection)."""
    return SmbSink(
        samba.host,
        samba.share,
        username=samba.username,
        password=samba.password,
        port=samba.port,
        folder=smb_folder,
        connection_timeout=5,
    )


def wait_until(predicate: Callable[[], object], timeout: float) -> bool:
    """Poll ``predicate`` every 10 ms; False if ``timeout`` passed first (for tests that run
    the agent as a process and have no event loop to wait on)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)  # bounded by the deadline
    return True


# --------------------------------------------------------------------------- what arrived


class Received:
    """Data records delivered to a subscriber, by (source, path) and line, with the batch ids
    each line came in. Parses each message once, so it can serve as a ``wait_for`` predicate."""

    def __init__(self) -> None:
        self._parsed = 0
        self.lines: dict[Key, dict[int, set[str]]] = {}
        self.copies = 0  # data records received, counting repeats
        self.messages = 0

    def update(self, messages: list[Message]) -> None:
        """Parse what arrived since the last call."""
        for topic, payload in messages[self._parsed :]:
            envelope = json.loads(payload)
            if topic.endswith("/quarantine") or "batchId" not in envelope:
                continue  # quarantine batches are checked apart; not a batch at all
            self.messages += 1
            key = (envelope["source"]["name"], envelope["source"]["path"])
            lines = self.lines.setdefault(key, {})
            for record in envelope["records"]:
                lines.setdefault(record["line"], set()).add(envelope["batchId"])
                self.copies += 1
        self._parsed = len(messages)

    def has_all(self, expected: dict[Key, int]) -> Callable[[list[Message]], bool]:
        """A predicate: every line of every expected file arrived (``expected``: rows by file)."""

        def check(messages: list[Message]) -> bool:
            self.update(messages)
            return all(len(self.lines.get(key, {})) >= rows for key, rows in expected.items())

        return check

    def problems(self, expected: dict[Key, int]) -> list[str]:
        """Rows missing, unexpected, or repeated under another batchId (empty: all good)."""
        out = []
        for key in sorted(set(expected) | set(self.lines)):
            want = set(range(2, expected.get(key, 0) + 2))
            got = self.lines.get(key, {})
            missing = sorted(want - set(got))
            extra = sorted(set(got) - want)
            split = sorted(line for line, ids in got.items() if len(ids) > 1)
            if missing:
                out.append(f"{key}: {len(missing)} rows never arrived, e.g. lines {missing[:5]}")
            if extra:
                out.append(f"{key}: unexpected lines {extra[:5]}")
            if split:
                out.append(f"{key}: lines re-sent under a new batchId, e.g. {split[:5]}")
        return out

    @property
    def repeats(self) -> int:
        """Records received more than once (always inside a re-sent batch with the same id)."""
        return self.copies - sum(len(lines) for lines in self.lines.values())


# --------------------------------------------------------------------------- the state database


def status(state_dir: Path) -> dict[str, Any]:
    """``edge-agent status --json``, as an operator would run it."""
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent", "status", "--state-dir", str(state_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@contextlib.contextmanager
def state_db(state_dir: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the agent's database (safe beside a running agent)."""
    uri = f"file:{state_dir / 'edge-agent.db'}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


def ledger_file(state_dir: Path, source: str, path: str) -> dict[str, Any] | None:
    """The ledger row of one file with the number of its batches still in the outbox."""
    with state_db(state_dir) as conn:
        row = conn.execute(
            "SELECT f.*, (SELECT COUNT(*) FROM outbox o WHERE o.file_ref = f.id) AS pending "
            "FROM files f WHERE f.source = ? AND f.path = ?",
            (source, path),
        ).fetchone()
        return dict(row) if row is not None else None


def partly_read(state_dir: Path) -> list[str]:
    """Files the agent is in the middle of (0 < committed offset < size)."""
    if not (state_dir / "edge-agent.db").exists():
        return []
    with state_db(state_dir) as conn:
        rows = conn.execute(
            "SELECT source, path FROM files WHERE state = 'reading' AND offset > 0 "
            "AND offset < size"
        ).fetchall()
    return [f"{r['source']}/{r['path']}" for r in rows]


def outbox_batches(state_dir: Path) -> int:
    """Batches waiting in the outbox (0 before the database exists)."""
    if not (state_dir / "edge-agent.db").exists():
        return 0
    with state_db(state_dir) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def wait_drained(state_dir: Path, folders: list[Path], timeout: float = 30.0) -> None:
    """Wait until the outbox is empty and no CSV file is left in ``folders`` (all disposed of)."""
    assert wait_until(
        lambda: (
            outbox_batches(state_dir) == 0
            and not any(any(folder.rglob("*.csv")) for folder in folders)
        ),
        timeout,
    ), f"outbox not drained ({outbox_batches(state_dir)} batches) or files not disposed of"


# --------------------------------------------------------------------------- early disposal


@dataclass
class Vanished:
    """A source file that disappeared, and what the ledger said right after."""

    source: str
    path: str
    at: float  # time.monotonic()
    ledger: dict[str, Any] | None

    def early(self, expected_size: int) -> str | None:
        """Why this disappearance came too early, or None if all its rows were acknowledged."""
        row = self.ledger
        where = f"{self.source}/{self.path}"
        if row is None:
            return f"{where} vanished before the agent ever recorded it"
        if row["pending"]:
            return f"{where} vanished with {row['pending']} batches unacknowledged"
        if row["state"] not in ("read", "disposed") or row["offset"] != expected_size:
            return (
                f"{where} vanished while {row['state']} at offset {row['offset']} "
                f"of {expected_size} bytes"
            )
        return None


@dataclass
class ShareWatch:
    """Looks at the sources' folders on smbd's disk every 10 ms from a thread; when a CSV file
    disappears it reads the ledger at once: a file disposed of before all its batches were
    acknowledged shows up as still pending (batches only ever leave the outbox)."""

    folders: dict[str, Path]  # source name -> local folder
    state_dir: Path
    vanished: list[Vanished] = field(default_factory=list)
    event: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _listing(self) -> set[Key]:
        found = set()
        for name, folder in self.folders.items():
            for path in folder.rglob("*.csv"):
                found.add((name, path.relative_to(folder).as_posix()))
        return found

    def _run(self) -> None:
        before = self._listing()
        while not self._stop.wait(0.01):
            now = self._listing()
            for source, path in sorted(before - now):
                at = time.monotonic()
                row = ledger_file(self.state_dir, source, path)
                self.vanished.append(Vanished(source, path, at, row))
                self.event.set()
            before = now

    def __enter__(self) -> ShareWatch:
        self._thread = threading.Thread(target=self._run, name="share-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(5)

    def seen_since(self, when: float) -> bool:
        """Did a file vanish at or after ``when`` (time.monotonic())?"""
        return any(v.at >= when for v in self.vanished)


# --------------------------------------------------------------------------- a small disk


@contextlib.contextmanager
def small_filesystem(mountpoint: Path, size_bytes: int) -> Iterator[Path]:
    """A tmpfs of ``size_bytes`` mounted at ``mountpoint``: writes beyond it fail with ENOSPC.

    Needs root (CAP_SYS_ADMIN), which the CI machine and the dev containers have; elsewhere
    the test is skipped with the reason. Unmounted (lazily, in case a child still holds a
    file there) at the end.
    """
    mountpoint.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0755", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(
            f"cannot mount a {size_bytes}-byte tmpfs for stateDir ({result.stderr.strip()}); "
            "the disk-full test needs root with CAP_SYS_ADMIN, as CI has"
        )
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, check=False)


def fill(filesystem: Path, leave_bytes: int) -> Path:
    """Fill ``filesystem`` with a ballast file until only about ``leave_bytes`` are free."""
    ballast = filesystem / "ballast"
    chunk = b"\0" * (1 << 20)
    with ballast.open("wb") as f:
        while (free := shutil.disk_usage(filesystem).free) > leave_bytes:
            f.write(chunk[: min(len(chunk), free - leave_bytes)])
            f.flush()
    return ballast
