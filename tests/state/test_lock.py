"""The state directory lock: one holder, its PID written for the refused, released on close."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge_agent.state.lock import LOCK_NAME, StateDirLock, StateDirLockedError, read_holder


def test_a_second_lock_is_refused_naming_the_directory_and_the_holder(tmp_path: Path) -> None:
    first = StateDirLock(tmp_path / "state")
    first.try_acquire()
    try:
        with pytest.raises(StateDirLockedError) as refused:
            StateDirLock(tmp_path / "state").try_acquire()
        assert refused.value.pid == os.getpid()
        assert str(tmp_path / "state") in str(refused.value)
        assert f"PID {os.getpid()}" in str(refused.value)
        # The refused attempt left the holder's PID in place.
        assert read_holder(tmp_path / "state" / LOCK_NAME) == os.getpid()
    finally:
        first.release()
    second = StateDirLock(tmp_path / "state")
    second.try_acquire()
    second.release()
    assert (tmp_path / "state" / LOCK_NAME).exists(), "the lock file is never deleted"


def test_the_lock_goes_with_a_killed_process(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from edge_agent.state.lock import StateDirLock; "
            "StateDirLock(Path(sys.argv[1])).try_acquire(); print('held', flush=True); "
            "time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"
        with pytest.raises(StateDirLockedError) as refused:
            StateDirLock(tmp_path).try_acquire()
        assert refused.value.pid == holder.pid
        holder.kill()  # as a power cut would: no clean-up code runs
        holder.wait()
        lock = StateDirLock(tmp_path)
        lock.try_acquire()
        lock.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


async def test_a_bounded_wait_takes_the_lock_once_the_holder_lets_go(tmp_path: Path) -> None:
    holder = StateDirLock(tmp_path)
    holder.try_acquire()
    asyncio.get_running_loop().call_later(0.7, holder.release)
    waiting = StateDirLock(tmp_path)
    began = time.monotonic()
    assert await waiting.acquire(10.0, asyncio.Event())
    assert 0.6 < time.monotonic() - began < 5
    assert waiting.held
    waiting.release()


async def test_a_wait_gives_up_after_its_time_and_stops_when_asked(tmp_path: Path) -> None:
    holder = StateDirLock(tmp_path)
    holder.try_acquire()
    try:
        with pytest.raises(StateDirLockedError) as refused:
            await StateDirLock(tmp_path).acquire(0.6, asyncio.Event())
        assert refused.value.waited == 0.6
        assert "(waited 1 s)" in str(refused.value)
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.3, stop.set)
        assert not await StateDirLock(tmp_path).acquire(30.0, stop)
    finally:
        holder.release()
