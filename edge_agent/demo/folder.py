"""The demo's working folder: a temporary one removed at the end, or ``--keep DIR``.

A kept folder holds what a technician needs to look at the run afterwards, or to point
``edge-agent run`` at simulator output: the agent's configuration (``agent.yaml``), the log
(``demo.log``), the simulated CSV files (``data/``) and the agent's state (``state/``: ledger,
outbox, quarantine copy).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

CONFIG_NAME = "agent.yaml"
LOG_NAME = "demo.log"


class FolderNotEmptyError(Exception):
    """``--keep DIR`` names a folder that already holds files (a demo never mixes runs)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        super().__init__(
            f"--keep {folder}: the folder is not empty — give a new or empty folder "
            "(the demo does not mix its files with others)"
        )


@contextmanager
def working_folder(keep: Path | None) -> Iterator[Path]:
    """A temporary folder (removed when the block ends), or ``keep`` (created, left in place).

    Raises FolderNotEmptyError before anything runs if ``keep`` holds files.
    """
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="edge-agent-demo-") as temporary:
            yield Path(temporary)
        return
    folder = keep.expanduser().resolve()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FolderNotEmptyError(folder)
    folder.mkdir(parents=True, exist_ok=True)
    yield folder


def write_configuration(folder: Path, document: dict[str, Any]) -> Path:
    """The agent's configuration as a YAML file ``edge-agent run --config`` takes."""
    path = folder / CONFIG_NAME
    header = (
        "# The configuration edge-agent demo ran the agent with. Its broker was the demo's own\n"
        "# and is gone: to run the agent on data/ again, point publish.mqtt at a broker.\n"
    )
    path.write_text(header + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def kept_lines(folder: Path) -> list[str]:
    """What the summary says about a kept folder, and what to do with it."""
    config = folder / CONFIG_NAME
    return [
        f"  kept in {folder}:",
        f"    {CONFIG_NAME}  the agent's configuration",
        f"    {LOG_NAME}    the log",
        "    data/       the simulated CSV files",
        "    state/      the agent's ledger, outbox and quarantined lines",
        f"  edge-agent status --config {config}",
        f"  edge-agent quarantine --config {config}",
        f"  edge-agent run --config {config}   (after pointing publish.mqtt at a running broker)",
    ]
