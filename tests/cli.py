"""The ``edge-agent`` command as a child process, for tests of what a technician types."""

from __future__ import annotations

import subprocess
import sys


def edge_agent(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``edge-agent ARGS`` with this interpreter; never raises for a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
