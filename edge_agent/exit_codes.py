"""Process exit codes of the ``edge-agent`` command, shared by the CLI and the Greengrass
component (which ``edge-agent run --greengrass`` runs), so neither imports the other."""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
"""Stopped as asked (SIGTERM, Ctrl-C, ``--duration``), or the check passed."""
EXIT_FAILED: Final = 1
"""Stopped on an error that is not the configuration's (a bug, a missing package)."""
EXIT_CONFIG: Final = 2
"""The configuration is refused; every problem was printed with its key path."""
