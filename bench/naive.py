"""The naive ingest the benchmarks compare edge-agent with: what the original flat-file sample did.

    python bench/naive.py --folder DIR --port 1883 --topic dt/naive/gw [--poll 1] [--recursive]
    python bench/naive.py --smb-server 127.0.0.1 --smb-port 445 --smb-share data \
        --smb-folder in --smb-user u --smb-password-env VAR --port 1883 --topic dt/naive/gw

Every ``--poll`` seconds it lists the folder (``*.csv``; with ``--recursive`` every sub-folder),
and for each file it has not done yet: reads it whole (``open().read()``), parses it with
``csv.DictReader`` and publishes one JSON message per row (``json.dumps(row)``) with paho-mqtt at
QoS 1, waiting for each PUBACK before the next publish (``wait_for_publish()``), as the sample
did. Done files are remembered in memory only: there is no ledger, so after a crash or restart
it publishes every file again, and a file half-published when it died is published again from
its first row. It does not wait for a file to settle either: a file still being written is read
as it is.

``--max-publishes-per-second`` and ``--max-bytes-per-second`` pace it to the IoT Core limits, the
simple way: publishes evenly spaced at the rate (2 % slower, as margin for jitter).

For the benchmark harness it prints one line per event on stdout, with ``time.monotonic()``
(the system-wide CLOCK_MONOTONIC, comparable across processes on Linux):
``READY <t>`` once connected, ``READ <path> <t>`` when it starts reading a file and
``DONE <path> <rows> <t>`` when the last row of the file is acknowledged.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class Pacer:
    """Evenly spaced publishes: each one ``1/max_publishes`` s (or ``len/max_bytes`` s, the
    longer) after the previous one, stretched by 2 % as margin for jitter (as the agent's
    limiter has), never catching up on time lost waiting for a PUBACK."""

    def __init__(self, max_publishes: float | None, max_bytes: float | None) -> None:
        self.max_publishes = max_publishes
        self.max_bytes = max_bytes
        self._next = 0.0

    def wait(self, nbytes: int) -> None:
        now = time.monotonic()
        if now < self._next:
            time.sleep(self._next - now)
            now = time.monotonic()
        gap = 0.0
        if self.max_publishes is not None:
            gap = 1 / self.max_publishes
        if self.max_bytes is not None:
            gap = max(gap, nbytes / self.max_bytes)
        self._next = now + gap * 1.02


def say(*parts: object) -> None:
    print(*parts, flush=True)


def local_files(folder: str, recursive: bool) -> Iterator[str]:
    """The CSV files in ``folder`` (and below it with ``recursive``), sorted."""
    if recursive:
        found = [
            os.path.join(root, name)
            for root, _dirs, names in os.walk(folder)
            for name in names
            if name.endswith(".csv")
        ]
    else:
        found = [os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".csv")]
    yield from sorted(found)


def read_local(path: str) -> str:
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


class SmbFolder:
    """The same two operations on an SMB share, with smbprotocol's ``smbclient``."""

    def __init__(self, args: argparse.Namespace) -> None:
        import smbclient  # noqa: PLC0415 — only the SMB variant needs it

        self._smbclient = smbclient
        self._kw: dict[str, Any] = {
            "username": args.smb_user,
            "password": os.environ[args.smb_password_env],
            "port": args.smb_port,
        }
        self.root = rf"\\{args.smb_server}\{args.smb_share}\{args.smb_folder}"
        smbclient.register_session(args.smb_server, **self._kw)

    def files(self, recursive: bool) -> Iterator[str]:
        found: list[str] = []
        pending = [self.root]
        while pending:
            folder = pending.pop()
            for entry in self._smbclient.scandir(folder, **self._kw):
                if entry.is_dir():
                    if recursive:
                        pending.append(entry.path)
                elif entry.name.endswith(".csv"):
                    found.append(entry.path)
        yield from sorted(found)

    def read(self, path: str) -> str:
        with self._smbclient.open_file(
            path, mode="r", encoding="utf-8", newline="", **self._kw
        ) as f:
            text: str = f.read()
            return text


def connect(host: str, port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"naive-{uuid.uuid4().hex[:8]}")
    connected = threading.Event()
    client.on_connect = lambda *_a: connected.set()
    client.connect(host, port, keepalive=60)
    client.loop_start()
    if not connected.wait(30):
        raise RuntimeError(f"no CONNACK from {host}:{port} within 30 s")
    return client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", help="local folder to poll")
    parser.add_argument("--recursive", action="store_true", help="also poll sub-folders")
    parser.add_argument("--smb-server")
    parser.add_argument("--smb-port", type=int, default=445)
    parser.add_argument("--smb-share")
    parser.add_argument("--smb-folder", default="")
    parser.add_argument("--smb-user")
    parser.add_argument("--smb-password-env", default="NAIVE_SMB_PASSWORD")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--topic", required=True, help="every row is published to this topic")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between folder scans")
    parser.add_argument("--max-publishes-per-second", type=float, default=None)
    parser.add_argument("--max-bytes-per-second", type=float, default=None)
    args = parser.parse_args()

    if args.smb_server:
        smb = SmbFolder(args)
        list_files, read = (lambda: smb.files(args.recursive)), smb.read
    elif args.folder:
        list_files, read = (lambda: local_files(args.folder, args.recursive)), read_local
    else:
        parser.error("give --folder or --smb-server")
    pacer = Pacer(args.max_publishes_per_second, args.max_bytes_per_second)
    client = connect(args.host, args.port)
    say("READY", time.monotonic())
    done: set[str] = set()
    while True:
        for path in list_files():
            if path in done:
                continue
            say("READ", path, time.monotonic())
            rows = 0
            for row in csv.DictReader(io.StringIO(read(path))):
                payload = json.dumps(row)
                pacer.wait(len(payload))
                client.publish(args.topic, payload, qos=1).wait_for_publish()
                rows += 1
            done.add(path)
            say("DONE", path, rows, time.monotonic())
        time.sleep(args.poll)


if __name__ == "__main__":
    sys.exit(main())
