"""Discovery with many files kept, in-process: time to catch up, RSS, idle CPU.

    .venv/bin/python bench/idle_discovery.py --files 100000 --rescan 60 --idle 185

Writes ``--files`` ten-row files into 100-file folders under ``--work`` (kept between runs: a
second run measures a restart on a state directory where every file is read), runs the agent in
this process with the fake publisher, waits until the source is idle, then measures the CPU of
this process over ``--idle`` seconds. A quick probe beside the field-scale scenarios of
``run_all.py`` (which run the agent as a child process against Mosquitto).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from pathlib import Path

from edge_agent.agent import Agent
from edge_agent.config.load import parse_config
from edge_agent.publish.fake import FakePublisher


def rss_mb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    return 0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def write_files(folder: Path, count: int) -> None:
    for i in range(count):
        sub = folder / f"d{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        rows = "".join(f"2026-11-27T00:00:{j:02d}Z,{i}.{j}\n" for j in range(10))
        (sub / f"f{i:06d}.csv").write_text("ts,v\n" + rows)


async def measure(work: Path, files: int, rescan: float, idle: float) -> None:
    config = parse_config(
        {
            "thingName": "gw",
            "stateDir": str(work / "state"),
            "sources": [
                {
                    "name": "s",
                    "path": str(work / "in"),
                    "settleSeconds": 0,
                    "rescanSeconds": rescan,
                    "dataset": "d",
                }
            ],
            "datasets": {"d": {"csv": {"timestampColumn": "ts"}}},
            "publish": {"maxPublishesPerSecond": None, "maxBytesPerSecond": None},
            "health": {"port": None, "heartbeatSeconds": None},
            "logging": {"level": "ERROR"},
        }
    )
    agent = Agent(config, publisher=FakePublisher(), capture_signals=False)
    task = asyncio.create_task(agent.run())
    await agent.started.wait()
    started = time.monotonic()
    status = agent.stats.source("s")
    runner = agent.runners["s"]
    while status.files_seen < files:
        await runner.idle.wait()  # idle once a listing is handled; seen counts that listing
        await asyncio.sleep(0.5)
    print(f"caught up after {time.monotonic() - started:.1f} s, RSS {rss_mb()} MB")
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    await asyncio.sleep(idle)
    cpu1, wall1 = cpu_seconds(), time.monotonic()
    share = 100 * (cpu1 - cpu0) / (wall1 - wall0)
    print(f"idle CPU {share:.2f} % of a core over {wall1 - wall0:.0f} s, RSS {rss_mb()} MB")
    agent.request_stop()
    await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--rescan", type=float, default=60.0, help="rescanSeconds")
    parser.add_argument("--idle", type=float, default=185.0, help="seconds measured idle")
    parser.add_argument("--work", default="/tmp/edge-bench-idle-discovery")
    args = parser.parse_args()
    work = Path(args.work)
    if not (work / "in").exists():
        write_files(work / "in", args.files)
    asyncio.run(measure(work, args.files, args.rescan, args.idle))


if __name__ == "__main__":
    main()
