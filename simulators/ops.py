"""What a simulator produces: file operations at simulated times, with their ground truth.

A simulator is an iterator of :data:`Step` ``(horizon, ops)``: the operations it decided during
one step of simulated time, and a promise that every operation it yields later happens at or
after ``horizon``. The player (:mod:`simulators.player`) merges the steps of several simulators
and applies each operation in time order, at once or paced in accelerated real time; the same
generator code serves both modes and every sink.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

# One ground-truth record: JSON-serialisable, keys in the order they are written.
Json = dict[str, Any]

OpKind = Literal["write", "append", "close", "rename", "mtime", "truth"]


@dataclass(frozen=True, slots=True)
class FileOp:
    """One thing a piece of equipment does to a file, at simulated time ``at``.

    ``write`` creates or replaces ``path`` with ``data`` and closes it; ``append`` adds ``data``
    (the file stays open until ``close``); ``rename`` moves ``path`` to ``target``; ``mtime``
    sets the modification time of ``path`` to ``when`` (a copy that kept its old time);
    ``truth`` touches no file. ``truth`` holds ``(stream, record)`` pairs that become true when
    the operation has been applied, written to ``_truth/<stream>.jsonl``.
    """

    at: datetime
    kind: OpKind
    path: str = ""
    data: bytes = b""
    target: str = ""
    when: datetime | None = None
    truth: tuple[tuple[str, Json], ...] = ()


Step = tuple[datetime, Sequence[FileOp]]
Steps = Iterator[Step]
