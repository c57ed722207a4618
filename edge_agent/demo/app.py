"""``edge-agent demo``: simulators, the agent and an embedded broker in one process, with a view.

Lifecycle: a temporary folder -> the broker on a free loopback port -> a subscriber to
``dt/edge-agent/#`` -> one TaskGroup with the agent, the simulators (in their own thread) and
the view -> on Ctrl-C, SIGTERM or ``--duration``: the simulators stop, the agent drains, the
subscriber takes what is still on its way, the broker shuts down, the folder is removed (unless
``--keep DIR``: then it stays, with the agent's configuration), and a summary is printed. A
second Ctrl-C cuts the agent's drain short.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import shutil
import sqlite3
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from edge_agent.agent import Agent
from edge_agent.aio import wait_event
from edge_agent.config.load import parse_config
from edge_agent.demo.broker import EmbeddedBroker
from edge_agent.demo.control import DemoAgent, StopControl, stop_on_signals
from edge_agent.demo.folder import (
    LOG_NAME,
    FolderNotEmptyError,
    kept_lines,
    working_folder,
    write_configuration,
)
from edge_agent.demo.logs import LogTally, demo_logging
from edge_agent.demo.scenario import (
    THING_NAME,
    agent_document,
    demo_sources,
    simulation_start,
    simulations,
)
from edge_agent.demo.subscriber import Subscriber, Tally
from edge_agent.demo.view import (
    Phase,
    Snapshot,
    SourceLine,
    Terminal,
    render_line,
    render_screen,
    render_summary,
)
from edge_agent.errors import EdgeAgentError
from edge_agent.status import collect as collect_status
from simulators.runner import run as run_simulations
from simulators.sinks import LocalSink

log = logging.getLogger("edge_agent.demo")

FRAME_SECONDS = 0.5  # live view: two frames a second
LINE_SECONDS = 2.0  # --plain / not a terminal: one line every two seconds
RATE_WINDOW_SECONDS = 5.0  # rows/s is averaged over this window
CATCH_UP_SECONDS = 3.0  # after the agent stops: how long to wait for messages on their way
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """The command-line options."""

    duration: float | None
    speed: float
    seed: int
    live: bool
    color: bool
    keep: Path | None = None


class Demo:
    """One run of the demo inside a working folder."""

    def __init__(
        self, options: DemoOptions, root: Path, logs: LogTally, out: TextIO, control: StopControl
    ) -> None:
        self.options = options
        self.root = root
        self.logs = logs
        self.out = out
        self.control = control
        self.stop = control.requested
        self.tally = Tally()
        self.phase: Phase = "running"
        self.agent: Agent | None = None
        self.broker_url = "-"
        self._sim_stop = threading.Event()
        self._sim_start = simulation_start(datetime.now(UTC))
        self._sim_began: float | None = None
        self._sim_ended: float | None = None
        self._began = time.monotonic()
        self._rates: deque[tuple[float, int]] = deque(maxlen=64)
        self._files: dict[str, int] = {}
        self._outbox_batches = 0
        self._outbox_bytes = 0

    # ------------------------------------------------------------------ run

    async def run(self) -> Snapshot:
        """Run until stopped; returns the last snapshot."""
        async with EmbeddedBroker() as broker:
            self.broker_url = broker.url
            subscriber = Subscriber(
                broker.host, broker.port, self.tally, client_id=f"{THING_NAME}-demo-viewer"
            )
            async with subscriber:
                document = agent_document(
                    self.root / "data", self.root / "state", host=broker.host, port=broker.port
                )
                if self.options.keep is not None:
                    write_configuration(self.root, document)
                config = parse_config(document)
                self.agent = self.control.agent = agent = DemoAgent(config)
                await self._run_all(agent)
                return await self.snapshot()

    async def _run_all(self, agent: Agent) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                agent_task = tg.create_task(agent.run(), name="agent")
                agent_task.add_done_callback(lambda _: self.stop.set())
                simulators = tg.create_task(self._simulate(), name="simulators")
                view = tg.create_task(self._show(), name="view")
                await wait_event(self.stop, self.options.duration)
                self.phase = "stopping"
                self._sim_stop.set()
                await asyncio.wait([simulators])
                agent.request_stop()
                await asyncio.wait([agent_task])
                if not agent_task.cancelled() and agent_task.exception() is None:
                    # Acknowledged by the broker means on its way to the subscriber, not there.
                    expected = agent.stats.batches_published
                    await self.tally.wait_for_messages(expected, CATCH_UP_SECONDS)
                self.phase = "stopped"
                view.cancel()
        except BaseExceptionGroup as group:
            raise _unwrap(group) from None
        finally:
            self._sim_stop.set()

    async def _simulate(self) -> None:
        """The tower and factory simulators in their own thread, until the stop event."""
        sink = LocalSink(self.root / "data")
        play = functools.partial(
            run_simulations,
            simulations(self._sim_start, self.options.seed),
            sink,
            speed=self.options.speed,
            stop=self._sim_stop,
        )
        loop = asyncio.get_running_loop()
        executor = ThreadPoolExecutor(1, thread_name_prefix="simulators")
        self._sim_began = time.monotonic()
        future = loop.run_in_executor(executor, play)
        try:
            await asyncio.shield(future)
        finally:
            # Even when cancelled: the thread notices the event at once and closes its files,
            # which must happen before the working folder is removed.
            self._sim_stop.set()
            await asyncio.wait([future])
            self._sim_ended = time.monotonic()
            executor.shutdown(wait=False)

    # ------------------------------------------------------------------ view

    async def _show(self) -> None:
        if not self.options.live:
            print(
                f"edge-agent demo: broker {self.broker_url} (any MQTT client can subscribe to "
                "dt/edge-agent/#)",
                file=self.out,
                flush=True,
            )
            while True:
                print(render_line(await self.snapshot()), file=self.out, flush=True)
                await asyncio.sleep(LINE_SECONDS)
        terminal = Terminal(self.out)
        terminal.open()
        try:
            while True:
                self.draw(terminal, await self.snapshot())
                await asyncio.sleep(FRAME_SECONDS)
        finally:
            self.draw(terminal, await self.snapshot())
            terminal.close()

    def draw(self, terminal: Terminal, snapshot: Snapshot) -> None:
        """One frame, fitted to the terminal's current size."""
        columns, lines = shutil.get_terminal_size()
        terminal.draw(render_screen(snapshot, columns, self.options.color), lines)

    async def snapshot(self) -> Snapshot:
        """What the view shows right now."""
        agent = self.agent
        now = time.monotonic()
        await self._read_state()
        rows = self.tally.records
        self._rates.append((now, rows))
        while self._rates[0][0] < now - RATE_WINDOW_SECONDS:
            self._rates.popleft()
        first_t, first_rows = self._rates[0]
        rate = (rows - first_rows) / (now - first_t) if now > first_t else 0.0
        sim_elapsed = 0.0
        if self._sim_began is not None:
            sim_elapsed = ((self._sim_ended or now) - self._sim_began) * self.options.speed
        lines: list[SourceLine] = []
        for source in demo_sources():
            status = agent.stats.sources.get(source.name) if agent is not None else None
            tally = self.tally.sources.get(source.name)
            lines.append(
                SourceLine(
                    name=source.name,
                    group=source.group,
                    state=status.state if status is not None else "starting",
                    detail=status.detail if status is not None else "",
                    files=self._files.get(source.name, 0),
                    published=tally.records if tally is not None else 0,
                    quarantined=tally.quarantined if tally is not None else 0,
                    last_file=tally.last_path if tally is not None else None,
                )
            )
        return Snapshot(
            uptime=now - self._began,
            sim_time=self._sim_start + timedelta(seconds=sim_elapsed)
            if self._sim_began is not None
            else None,
            sim_elapsed=sim_elapsed,
            speed=self.options.speed,
            broker=self.broker_url,
            sources=tuple(lines),
            batches=agent.stats.batches_published if agent is not None else 0,
            rows=rows,
            rows_per_second=rate,
            outbox_batches=self._outbox_batches,
            outbox_bytes=self._outbox_bytes,
            alerts=self.tally.alerts,
            alert=self.tally.latest_alert,
            recent_quarantine=tuple(self.tally.recent_quarantine),
            sample=self.tally.latest_tower,
            errors=self.logs.errors,
            warnings=self.logs.warnings,
            recent_problems=tuple(self.logs.recent),
            log_path=str(self.root / LOG_NAME),
            phase=self.phase,
        )

    async def _read_state(self) -> None:
        """Files per source and the outbox depth, from the agent's state database."""
        agent = self.agent
        if agent is None or not agent.started.is_set():
            return
        try:
            state = await asyncio.to_thread(collect_status, agent.state_dir)
        except (OSError, sqlite3.Error) as e:
            log.debug("state database not readable now", extra={"error": str(e)})
            return
        self._files = {name: sum(s["files"].values()) for name, s in state["sources"].items()}
        self._outbox_batches = state["outbox"]["batches"]
        self._outbox_bytes = state["outbox"]["bytes"]


def _unwrap(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first of our own errors in a TaskGroup's exception group, else the group."""
    matched, _rest = group.split(EdgeAgentError)
    while matched is not None:
        first = matched.exceptions[0]
        if not isinstance(first, BaseExceptionGroup):
            return first
        matched = first
    return group


async def _main(options: DemoOptions, out: TextIO) -> int:
    loop = asyncio.get_running_loop()
    # Every source's watcher holds a thread of the default executor for as long as it runs;
    # on a small gateway the default size (CPUs + 4) is less than the demo's nine sources.
    workers = 2 * len(demo_sources()) + 8
    loop.set_default_executor(ThreadPoolExecutor(workers, thread_name_prefix="edge-agent"))
    control = StopControl()
    # The handlers stay until the summary is out: a second Ctrl-C must not interrupt it.
    with stop_on_signals(control.request):
        failure: str | None = None
        try:
            with working_folder(options.keep) as root:
                at_end = "kept at the end" if options.keep else "removed at the end"
                print(f"edge-agent demo: working folder {root} ({at_end})", file=out)
                out.flush()
                with demo_logging(root / LOG_NAME) as logs:
                    demo = Demo(options, root, logs, out, control)
                    try:
                        final = await demo.run()
                    except EdgeAgentError as e:
                        failure = str(e)
                        final = await demo.snapshot()
        except FolderNotEmptyError as e:
            print(f"edge-agent demo: {e}", file=sys.stderr)
            return EXIT_USAGE
        print("\n" + "\n".join(render_summary(final, demo.tally.messages)), file=out)
        if options.keep is None:
            print(f"  working folder removed: {root}", file=out, flush=True)
        else:
            print("\n".join(kept_lines(root)), file=out, flush=True)
    if failure is not None:
        print(f"edge-agent demo failed: {failure}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def run_demo(
    *,
    duration: float | None = None,
    speed: float = 600.0,
    seed: int = 7,
    plain: bool = False,
    keep: str | None = None,
) -> int:
    """``edge-agent demo``: returns the exit code (0 after a clean stop). ``keep``: a folder to
    run in and leave behind (configuration, log, data, state) instead of a temporary one."""
    if speed <= 0 or (duration is not None and duration <= 0):
        print("edge-agent demo: --speed and --duration must be positive", file=sys.stderr)
        return EXIT_USAGE
    out = sys.stdout
    live = not plain and out.isatty() and os.environ.get("TERM", "") != "dumb"
    color = live and "NO_COLOR" not in os.environ
    options = DemoOptions(
        duration=duration,
        speed=speed,
        seed=seed,
        live=live,
        color=color,
        keep=None if keep is None else Path(keep),
    )
    try:
        return asyncio.run(_main(options, out))
    except KeyboardInterrupt:  # a signal before the handlers were in place
        return 130
