"""The component's session with the nucleus: one IPC connection, kept up, with the
configuration subscriptions on it; proposed configurations answered; state reported.

The Greengrass component owns this connection for its whole life. Agents come and go (one per
configuration) and publish through it with a GreengrassPublisher that only follows it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from edge_agent.backoff import Backoff
from edge_agent.config.load import dump_problems
from edge_agent.errors import ConfigProblem, NotConnectedError
from edge_agent.greengrass.errors import IpcRequestError
from edge_agent.greengrass.events import ConfigurationProposal, ConfigurationUpdate
from edge_agent.greengrass.ipc import GreengrassIpc, LifecycleState

log = logging.getLogger("edge_agent.greengrass.session")

IPC_ERRORS = (NotConnectedError, IpcRequestError)
# A connection that stayed up this long was healthy: the next drop starts the backoff afresh.
_STABLE_SECONDS = 30.0

Validator = Callable[[dict[str, Any]], list[ConfigProblem]]


class NucleusSession:
    """Keeps ``ipc`` connected and subscribed until cancelled.

    ``changed`` is set whenever the component's configuration may differ from what was last
    read: after every (re)connection and on every update event. Proposed configurations are
    answered with ``validate``: ACCEPTED, or REJECTED with one line per problem.
    """

    def __init__(
        self,
        ipc: GreengrassIpc,
        validate: Validator,
        *,
        reconnect_min_seconds: float = 1.0,
        reconnect_max_seconds: float = 60.0,
    ) -> None:
        self.ipc = ipc
        self.changed = asyncio.Event()
        self._validate = validate
        self._reconnect = (reconnect_min_seconds, reconnect_max_seconds)
        self._proposals: asyncio.Queue[ConfigurationProposal] = asyncio.Queue(maxsize=16)
        self._state: LifecycleState | None = None

    async def run(self) -> None:
        """Stay connected and answer proposals until cancelled; the connection is then closed."""
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._keep_connected(), name="nucleus-connection")
                tg.create_task(self._answer_proposals(), name="validate-configuration")
        finally:
            await self.ipc.close()

    async def read_configuration(self) -> dict[str, Any] | None:
        """The whole component configuration; None while the nucleus cannot be asked (it is
        read again once reconnected: ``changed`` is set then)."""
        try:
            return await self.ipc.get_configuration()
        except IPC_ERRORS as e:
            log.warning(
                "could not read the configuration; will read it once reconnected",
                extra={"error": str(e)},
            )
            return None

    async def report(self, state: LifecycleState) -> None:
        """UpdateState, once per change of state."""
        if state == self._state:
            return
        try:
            await self.ipc.update_state(state)
        except IPC_ERRORS as e:
            log.warning(
                "could not report the component state", extra={"state": state, "error": str(e)}
            )
            return
        self._state = state

    # ------------------------------------------------------------------ connection

    async def _keep_connected(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = Backoff(*self._reconnect)
        while True:
            try:
                await self.ipc.connect()
                subscriptions = [
                    await self.ipc.subscribe_to_validate_configuration_updates(self._on_proposal),
                    await self.ipc.subscribe_to_configuration_update(self._on_update),
                ]
            except IPC_ERRORS as e:
                delay = backoff.next_delay()
                log.warning(
                    "cannot reach the Greengrass nucleus; retrying",
                    extra={"error": str(e), "retry_in": round(delay, 1)},
                )
                await self.ipc.close()
                await asyncio.sleep(delay)
                continue
            connected_at = loop.time()
            log.info("connected to the Greengrass nucleus", extra={"socket": self.ipc.socket_path})
            # Subscribed first, read second: a change made in between is not missed.
            self.changed.set()
            ending = [
                asyncio.ensure_future(self.ipc.wait_closed()),
                *(asyncio.ensure_future(s.wait_closed()) for s in subscriptions),
            ]
            try:
                await asyncio.wait(ending, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in ending:
                    waiter.cancel()
            if self.ipc.is_connected:
                # A stream ended under a live connection: start over, or updates would be missed.
                log.warning("the nucleus closed a configuration subscription; reconnecting")
                await self.ipc.close()
            else:
                log.warning("connection to the Greengrass nucleus lost; reconnecting")
            if loop.time() - connected_at >= _STABLE_SECONDS:
                backoff.reset()
            await asyncio.sleep(backoff.next_delay())

    def _on_update(self, update: ConfigurationUpdate) -> None:
        log.debug("configuration changed", extra={"keyPath": "/".join(update.key_path)})
        self.changed.set()

    # ------------------------------------------------------------------ validation

    def _on_proposal(self, proposal: ConfigurationProposal) -> None:
        try:
            self._proposals.put_nowait(proposal)
        except asyncio.QueueFull:
            # Unanswered, the deployment goes ahead after its timeout; the configuration is
            # still validated when it is applied, and refused then if it is bad.
            log.error("too many configuration proposals at once; one is left unanswered")

    async def _answer_proposals(self) -> None:
        while True:
            proposal = await self._proposals.get()
            deployment = proposal.deployment_id
            problems = self._validate(proposal.configuration)
            for problem in problems:
                log.error(
                    "proposed configuration refused",
                    extra={"deployment": deployment, "problem": str(problem)},
                )
            if not problems:
                log.info("proposed configuration accepted", extra={"deployment": deployment})
            message = (
                f"edge-agent refused this configuration ({len(problems)} problem(s)); "
                "the running configuration stays:\n" + dump_problems(problems)
                if problems
                else ""
            )
            try:
                await self.ipc.send_configuration_validity_report(
                    deployment, accepted=not problems, message=message
                )
            except IPC_ERRORS as e:
                log.warning(
                    "could not answer a configuration proposal",
                    extra={"deployment": deployment, "error": str(e)},
                )
