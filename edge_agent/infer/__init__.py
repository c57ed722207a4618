"""``edge-agent infer FILE``: propose the dataset configuration that reads a file.

``propose`` looks at the file (its encoding, table, columns and times) and ``render`` writes
the proposal as YAML with a comment on each guess it is not sure of.
"""

from __future__ import annotations

from pathlib import Path

from edge_agent.infer.propose import InferError, Proposal, propose
from edge_agent.infer.render import render

__all__ = ["InferError", "Proposal", "infer_yaml", "propose", "render"]


def infer_yaml(path: str | Path, *, name: str | None = None, timezone: str | None = None) -> str:
    """The YAML ``datasets:`` document proposed for the file at ``path``."""
    file = Path(path)
    return render(propose(file, name=name, timezone=timezone), file.name)
