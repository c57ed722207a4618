"""edge-agent as a Greengrass v2 component: configuration over IPC, validated, applied live.

``run_component()`` is what the recipe's ``Run`` starts (``edge-agent run --greengrass``):

    connect to the nucleus (SVCUID) -> subscribe to configuration validation and updates
    -> read the configuration -> run an Agent with it, publishing through the same connection
    -> on an accepted change: stop that Agent gracefully (it commits and drains; the ledger and
       outbox in stateDir are durable, so nothing is lost) and start one with the new
       configuration, in the same process, on the same connection
    -> SIGTERM (how Greengrass stops a component): stop gracefully, exit 0.

How the nucleus treats UpdateState (Lifecycle.java): a component started by ``Run`` is RUNNING
as soon as its process runs, so our RUNNING report only confirms it; ERRORED makes the nucleus
stop and restart the component, and three errors within an hour make it BROKEN until the next
deployment. So ERRORED is reported once per failure, and the component never exits on a bad
configuration: until the nucleus restarts it, a corrected deployment still reaches it.
"""

from __future__ import annotations

import asyncio
import faulthandler
import functools
import logging
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.agent import Agent
from edge_agent.backoff import Backoff
from edge_agent.config.load import to_json
from edge_agent.config.models import AgentConfig
from edge_agent.errors import ConfigError, EdgeAgentError
from edge_agent.exit_codes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from edge_agent.greengrass.configuration import (
    configuration_problems,
    parse_component_configuration,
    resolve_state_dir,
)
from edge_agent.greengrass.ipc import GreengrassIpc
from edge_agent.greengrass.secrets import secret_reader
from edge_agent.greengrass.session import NucleusSession
from edge_agent.publish.base import Publisher
from edge_agent.publish.greengrass import GreengrassPublisher

log = logging.getLogger("edge_agent.greengrass.component")

# Gateways are slow to start; the nucleus may still be busy with a deployment.
CONNECT_TIMEOUT_SECONDS = 30.0
# A component process restarted by the nucleus may start while the previous one still drains
# (up to shutdownTimeoutSeconds, then its publisher closes): its agent waits this much longer
# than that for the state directory before it gives up (reported as a failure, retried later).
LOCK_WAIT_MARGIN_SECONDS = 30.0


@dataclass(frozen=True)
class _Wanted:
    """A valid configuration to run, with the mapping it was read from."""

    document: dict[str, Any]
    config: AgentConfig


@dataclass(frozen=True)
class _Failed:
    """The agent could not start, or stopped without being asked to."""

    error: BaseException


class _ComponentAgent(Agent):
    """An Agent that leaves SIGTERM and SIGINT to the component, and waits for the state
    directory.

    The component outlives the agents it runs; Agent would take the signals over while it runs
    and reset them to the default (terminate at once) when it ends, so a signal between two
    agents would kill the process without a clean stop.

    Agents of one component process follow each other (the next starts after the last one
    closed), so the wait is for another process: the previous component process the nucleus is
    still stopping, or an ``edge-agent run`` started by hand on the same stateDir.
    """

    def _install_signals(self) -> None:
        """The component's handlers stay in place."""

    def _remove_signals(self) -> None:
        """The component's handlers stay in place."""

    def _lock_wait_seconds(self) -> float:
        """Wait for a previous component process to finish draining, instead of failing (and
        reporting ERRORED, which the nucleus answers with yet another restart) at once."""
        return self.config.shutdown_timeout_seconds + LOCK_WAIT_MARGIN_SECONDS


class GreengrassComponent:
    """Runs one Agent at a time with the configuration the nucleus holds for this component.

    ``run()`` returns EXIT_OK after ``request_stop()``; a second request forces the running
    agent to stop at once (it loses nothing: what is not acknowledged stays in the outbox).
    """

    def __init__(
        self,
        ipc: GreengrassIpc,
        *,
        work_dir: Path | None = None,
        configure_logging: bool = False,
        settle_seconds: float = 0.3,
        reconnect_min_seconds: float = 1.0,
        reconnect_max_seconds: float = 60.0,
        restart_min_seconds: float = 5.0,
        restart_max_seconds: float = 300.0,
    ) -> None:
        self.ipc = ipc
        self.work_dir = work_dir or Path.cwd()
        self.session = NucleusSession(
            ipc,
            # An update is accepted only if `edge-agent check` would pass it on this gateway,
            # with its relative paths under the component's work folder.
            functools.partial(configuration_problems, work_dir=self.work_dir),
            reconnect_min_seconds=reconnect_min_seconds,
            reconnect_max_seconds=reconnect_max_seconds,
        )
        self._changed = self.session.changed
        self._configure_logging = configure_logging
        self._settle = settle_seconds
        self._restart = (restart_min_seconds, restart_max_seconds)
        self._stop = asyncio.Event()
        self._document: dict[str, Any] | None = None  # what the current/last agent was given
        self.agent: Agent | None = None
        self.agents_started = 0
        self.running = asyncio.Event()  # set while an agent runs

    def request_stop(self) -> None:
        """Stop gracefully (a second call forces the running agent's stop)."""
        if self._stop.is_set() and self.agent is not None:
            self.agent.request_stop()
        self._stop.set()

    async def run(self) -> int:
        """Run until stopped; return the process exit code."""
        async with asyncio.TaskGroup() as tg:
            session = tg.create_task(self.session.run(), name="nucleus-session")
            try:
                await self._supervise()
            finally:
                session.cancel()
        log.info("edge-agent component stopped")
        return EXIT_OK

    # ------------------------------------------------------------------ configuration

    async def _settle_changes(self) -> None:
        """Let a burst of update events (one per changed key) end before reading."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10 * self._settle
        self._changed.clear()
        while not self._stop.is_set() and loop.time() < deadline:
            if not await _wait_any([self._changed, self._stop], timeout=self._settle):
                return
            self._changed.clear()

    async def _read_configuration(self) -> _Wanted | None:
        """The configuration now, if it is valid and differs from the current one."""
        raw = await self.session.read_configuration()
        if raw is None:
            return None
        try:
            document, config = parse_component_configuration(raw)
        except ConfigError as e:
            for problem in e.problems:
                log.error("configuration problem", extra={"problem": str(problem)})
            if self.running.is_set():
                log.error(
                    "the configuration was changed without validation and is refused; "
                    "the running configuration stays"
                )
            else:
                log.error("waiting for a valid configuration (fix it with a deployment)")
                await self.session.report("ERRORED")
            return None
        if self._document is not None and to_json(document) == to_json(self._document):
            # Nothing of ours changed (accessControl only, or a reconnect).
            log.debug("the agent configuration is unchanged; nothing to apply")
            return None
        return _Wanted(document, resolve_state_dir(config, self.work_dir))

    async def _wait_for_configuration(self, give_up_after: float | None = None) -> _Wanted | None:
        """Wait for a changed, valid configuration; None when stopping or after
        ``give_up_after`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = None if give_up_after is None else loop.time() + give_up_after
        while not self._stop.is_set():
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            if not await _wait_any([self._changed, self._stop], timeout=remaining):
                return None
            if self._stop.is_set():
                return None
            await self._settle_changes()
            wanted = await self._read_configuration()
            if wanted is not None:
                return wanted
        return None

    # ------------------------------------------------------------------ agents

    async def _supervise(self) -> None:
        """Run agents one after the other until stopped."""
        restart = Backoff(*self._restart)
        wanted = await self._wait_for_configuration()
        while wanted is not None:
            outcome = await self._run_agent(wanted)
            if outcome is None:
                return
            if isinstance(outcome, _Wanted):
                wanted = outcome
                restart.reset()
                continue
            _raise_unless_ours(outcome.error)
            retry_in = restart.next_delay()
            log.error(
                "the agent failed; starting it again when the configuration changes or later",
                extra={"error": _describe(outcome.error), "retry_in": round(retry_in, 1)},
            )
            await self.session.report("ERRORED")
            changed = await self._wait_for_configuration(give_up_after=retry_in)
            if self._stop.is_set():
                return
            if changed is not None:
                wanted = changed
                restart.reset()

    async def _run_agent(self, wanted: _Wanted) -> _Wanted | _Failed | None:
        """Run an agent until stopped (None), a new configuration (to run next), or its failure."""
        config = wanted.config
        self._document = wanted.document
        if self._configure_logging:
            from edge_agent.logs import setup_logging  # noqa: PLC0415

            setup_logging(config.logging.level, config.logging.format)
        agent = _ComponentAgent(
            config,
            publisher=self._publisher(config),
            read_secret=secret_reader(self.ipc, config),
        )
        self.agent = agent
        self.agents_started += 1
        running = asyncio.create_task(agent.run(), name="agent")
        try:
            while not running.done():
                await _wait_any(
                    [self._stop, self._changed]
                    + ([] if self.running.is_set() else [agent.started]),
                    [running],
                )
                if agent.started.is_set() and not self.running.is_set() and not running.done():
                    self.running.set()
                    log.info(
                        "agent running",
                        extra={
                            "sources": [s.name for s in config.sources],
                            "stateDir": config.state_dir,
                        },
                    )
                    await self.session.report("RUNNING")
                if self._stop.is_set():
                    agent.request_stop()
                    await asyncio.wait([running])
                    _log_stop_error(running)
                    return None
                if self._changed.is_set() and not running.done():
                    await self._settle_changes()
                    following = await self._read_configuration()
                    if following is None:
                        continue
                    log.info("applying a new configuration: stopping the agent gracefully")
                    agent.request_stop()
                    await asyncio.wait([running])
                    _log_stop_error(running)
                    return following
            error = None if running.cancelled() else running.exception()
            return _Failed(error or EdgeAgentError("the agent stopped on its own"))
        finally:
            self.running.clear()
            self.agent = None
            if not running.done():  # we are being cancelled
                running.cancel()
                await asyncio.wait([running])

    def _publisher(self, config: AgentConfig) -> Publisher | None:
        """Publish through this component's IPC connection (None: the agent makes its own)."""
        if config.publish.target != "greengrass":
            return None
        return GreengrassPublisher(
            config.publish.greengrass, thing_name=config.thing_name, ipc=self.ipc
        )


async def _wait_any(
    events: Sequence[asyncio.Event],
    tasks: Sequence[asyncio.Future[Any]] = (),
    timeout: float | None = None,  # noqa: ASYNC109 - events, not a coroutine, are what is waited for
) -> bool:
    """Wait until one of ``events`` is set or one of ``tasks`` is done; False after ``timeout``."""
    if any(e.is_set() for e in events) or any(t.done() for t in tasks):
        return True
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        done, _ = await asyncio.wait(
            [*waiters, *tasks], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for waiter in waiters:
            waiter.cancel()
    return bool(done)


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _raise_unless_ours(error: BaseException) -> None:
    """An agent failure we expect (our own errors) is retried; anything else is a bug: raise it."""
    if not all(isinstance(leaf, EdgeAgentError) for leaf in _leaves(error)):
        raise error


def _describe(error: BaseException) -> str:
    return "; ".join(str(leaf) or type(leaf).__name__ for leaf in _leaves(error))


def _log_stop_error(running: asyncio.Task[None]) -> None:
    error = None if running.cancelled() else running.exception()
    if error is not None:
        _raise_unless_ours(error)
        log.error("the agent failed while stopping", extra={"error": _describe(error)})


async def _serve(component: GreengrassComponent) -> int:
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        log.info("stop requested", extra={"signal": sig.name})
        component.request_stop()

    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        return await component.run()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def run_component() -> int:
    """``edge-agent run --greengrass``: run as the Greengrass component until SIGTERM."""
    # `kill -USR1 <pid>` prints every thread's stack: how a stuck gateway is diagnosed.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        ipc = GreengrassIpc.from_environment(connect_timeout_seconds=CONNECT_TIMEOUT_SECONDS)
    except ConfigError as e:
        for problem in e.problems:
            log.error("not started by Greengrass", extra={"problem": str(problem)})
        return EXIT_CONFIG
    try:
        return asyncio.run(_serve(GreengrassComponent(ipc, configure_logging=True)))
    except Exception:
        log.exception("edge-agent component failed")
        return EXIT_FAILED
