"""How the demo stops: its signal handlers, and an agent that leaves the signals to it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

from edge_agent.agent import Agent


class DemoAgent(Agent):
    """The agent, leaving SIGINT and SIGTERM to the demo, which stops the simulators first.

    ``Agent.run`` installs its own handlers on the event loop, which would replace the demo's
    and stop the agent alone; a public switch on ``Agent`` (as uvicorn's ``capture_signals``)
    would make these overrides unnecessary.
    """

    def _install_signals(self) -> None:
        return

    def _remove_signals(self) -> None:
        return


class StopControl:
    """What SIGINT and SIGTERM do: stop in order; a second one cuts the agent's drain short."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.agent: Agent | None = None

    def request(self) -> None:
        """Ask for a stop (a signal handler, so it only sets flags)."""
        if self.requested.is_set() and self.agent is not None:
            self.agent.request_stop()
        self.requested.set()


@contextlib.contextmanager
def stop_on_signals(handler: Callable[[], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call ``handler`` on the event loop while the block runs."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, handler)
        except (NotImplementedError, RuntimeError):
            continue  # not the main thread, or no signals here: Ctrl-C interrupts instead
        installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
