"""One agent per state directory: an OS lock on ``stateDir/agent.lock`` for the agent's life.

Two agents on one state directory read the same ledger and outbox: every batch goes out twice
and the two MQTT clients (same client id) keep disconnecting each other. So ``Agent.run`` takes
this lock before it opens anything, and a second agent is refused with the state directory and
the PID of the agent that holds it.

Why ``fcntl.flock`` and not the ``filelock`` package: filelock's Unix lock opens the lock file
with ``O_TRUNC``, so every refused contender would wipe the PID the holder wrote, which is the
one fact a technician needs; and it would be a dependency for ten lines of standard library on
the only platform Greengrass runs us on (Linux). flock belongs to the open file, so the kernel
releases it whenever the process ends (even by SIGKILL or a power cut: nothing stale to clean
up), and it also conflicts between two agents in one process (the Greengrass component).

The lock file is never deleted: removing it while another process has it open would let a
third process lock a new file of the same name beside the old one, and both would run.

Read-only tools (``edge-agent status``, ``edge-agent quarantine``) do not take the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from pathlib import Path

from edge_agent.aio import wait_event
from edge_agent.errors import EdgeAgentError

log = logging.getLogger("edge_agent.state.lock")

LOCK_NAME = "agent.lock"
# flock cannot be waited for with a timeout, nor from the event loop: while a bounded wait is
# allowed, a non-blocking attempt is repeated this often (the holder tells us nothing when it ends).
RETRY_SECONDS = 0.5


class StateDirLockedError(EdgeAgentError):
    """Another agent holds the state directory; ``pid`` is its process id when it wrote one."""

    def __init__(self, state_dir: Path, pid: int | None, waited: float = 0.0) -> None:
        self.state_dir = state_dir
        self.pid = pid
        self.waited = waited
        holder = f"PID {pid}" if pid is not None else "a process that has not written its PID yet"
        after = f" (waited {waited:.0f} s)" if waited else ""
        super().__init__(
            f"state directory {state_dir} is in use by another edge-agent ({holder}){after} — "
            "stop that agent first, or give this one its own stateDir; "
            "edge-agent status and quarantine work beside it"
        )


class StateDirLockError(EdgeAgentError):
    """The lock file cannot be created or locked (permissions, read-only file system)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"cannot lock {path}: {reason} — the agent's user must be able to write its stateDir"
        )


def read_holder(path: Path) -> int | None:
    """The PID written in a lock file, or None (no file, empty, or not a number)."""
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class StateDirLock:
    """The exclusive lock of one state directory, held from ``acquire`` to ``release``."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def try_acquire(self) -> None:
        """Take the lock now and write our PID into it, or raise StateDirLockedError."""
        if self._fd is not None:
            return
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            # Not O_TRUNC: the holder's PID must survive a refused attempt. os.open makes the
            # descriptor non-inheritable, so no child process can keep the lock alive.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StateDirLockError(self.path, e.strerror or str(e)) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateDirLockedError(self.state_dir, read_holder(self.path)) from None
        except OSError as e:
            os.close(fd)
            raise StateDirLockError(self.path, e.strerror or str(e)) from e
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError as e:
            os.close(fd)  # closing releases the lock
            raise StateDirLockError(self.path, e.strerror or str(e)) from e
        self._fd = fd

    async def acquire(self, wait_seconds: float, stop: asyncio.Event) -> bool:
        """Take the lock, waiting up to ``wait_seconds`` for its holder to end; False if
        ``stop`` was set meanwhile. Raises StateDirLockedError once the wait is over."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        announced = False
        while True:
            try:
                await asyncio.to_thread(self.try_acquire)
            except StateDirLockedError as e:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    if wait_seconds > 0:
                        raise StateDirLockedError(e.state_dir, e.pid, wait_seconds) from None
                    raise
                if not announced:
                    announced = True
                    log.warning(
                        "state directory in use by another edge-agent; waiting for it to stop",
                        extra={
                            "stateDir": str(self.state_dir),
                            "pid": e.pid,
                            "waitSeconds": round(wait_seconds, 1),
                        },
                    )
                if await wait_event(stop, min(RETRY_SECONDS, remaining)):
                    return False
            else:
                if announced:
                    log.info(
                        "state directory free; starting", extra={"stateDir": str(self.state_dir)}
                    )
                return True

    def release(self) -> None:
        """Let the next agent have the state directory (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # no PID of a process that no longer holds it
        os.close(fd)  # closing the descriptor releases the lock
