"""Console commands as child processes, for tests of what a technician types."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_module(
    module: str,
    *args: str,
    timeout: float = 60,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m MODULE ARGS`` with this interpreter; never raises for a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
        check=False,
    )


def edge_agent(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``edge-agent ARGS``."""
    return run_module("edge_agent", *args, timeout=timeout)
