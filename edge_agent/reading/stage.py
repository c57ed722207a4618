"""The boundary between the reading pass and what happens to a record before it is batched.

The pass knows rows, records and batches; what a dataset does with its records beyond that
(the farm tags, joins and sometimes holds tower readings, and keeps site, automation and
seeding rows as context) lives behind :class:`RecordStage`, one per pass over one file version.

The contract that keeps "no loss, no duplicate" true through crashes and stops:

- ``take`` answers for one record: its JSON to publish in the file's batch, ``None`` when the
  stage keeps it to publish later itself, or an exception (``RowError``, ``EncodeError``) to
  quarantine it with that reason.
- Whatever the stage keeps for a row becomes durable only in the commit that covers that row:
  ``write(conn, below_line)`` runs inside the transaction that advances the file to
  ``below_line`` and writes the state of the rows before that line only; ``committed`` follows
  once the transaction is durable. Rows the pass took but did not commit (a stop, a full
  outbox, an error) are forgotten with the stage, and read again by the next pass.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any, Protocol

from edge_agent.batcher import encode
from edge_agent.state.ledger import FileRecord

Record = dict[str, Any]


class RecordStage(Protocol):
    """What one pass over one file version hands each typed record to."""

    def take(self, record: Record, line: int) -> bytes | None:
        """The record as published (JSON), or None when the stage holds it; raises RowError or
        EncodeError when it must be quarantined instead."""
        ...

    def drop(self, line: int) -> None:
        """The record taken last (at ``line``) was quarantined after all: forget it."""
        ...

    def write(self, conn: sqlite3.Connection, below_line: int) -> None:
        """Write the state of the rows taken before ``below_line``, inside the commit that
        advances the file there."""
        ...

    def committed(self, below_line: int) -> None:
        """The commit that covered the rows before ``below_line`` is durable."""
        ...


class StageFactory(Protocol):
    """Makes the stage of each pass over the files of one dataset."""

    def open(self, file: FileRecord, units: dict[str, str]) -> RecordStage:
        """The stage of one pass over ``file`` (its current version)."""
        ...

    async def ready(self) -> None:
        """Return once a pass may start: a stage that needs other data first (the farm's
        tower readings wait for context already on disk) waits here, on the event loop."""
        ...


class PendingWork(Protocol):
    """What stages still owe for files (records held to publish later): such a file is not
    moved or deleted yet."""

    def files_with_pending_work(self, file_refs: Iterable[int]) -> set[int]:
        """Those of ``file_refs`` that have records the stage has not published yet."""
        ...


class PassThrough:
    """The stage of a dataset with nothing to add: every record is published as it is."""

    def take(self, record: Record, line: int) -> bytes:
        """Encode the record."""
        return encode(record)

    def drop(self, line: int) -> None:
        """Nothing was kept."""

    def write(self, conn: sqlite3.Connection, below_line: int) -> None:
        """Nothing to write."""

    def committed(self, below_line: int) -> None:
        """Nothing to apply."""


class PublishAsRead:
    """Factory of :class:`PassThrough` stages (generic datasets)."""

    def open(self, file: FileRecord, units: dict[str, str]) -> RecordStage:
        """A pass-through stage."""
        return PassThrough()

    async def ready(self) -> None:
        """Always ready."""


class NoPendingWork:
    """No stage holds records (an agent without farm datasets)."""

    def files_with_pending_work(self, file_refs: Iterable[int]) -> set[int]:
        """None."""
        return set()
