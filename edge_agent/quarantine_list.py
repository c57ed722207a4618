"""``edge-agent quarantine``: the quarantined lines of a configuration's sources, with the reason
and the full raw line, read from what the agent keeps under its stateDir.

Read-only, like ``status``: it opens the local quarantine copy (``stateDir/quarantine/
<source>.jsonl``, and the ``.jsonl.1`` it was rotated into), the ledger read-only, and the source
files for reading; it never takes the state directory's lock, so it works beside a running
agent and on a stopped one.

The full raw line: a quarantine entry keeps at most 4,096 characters of the row (IoT Core's
payload limit; less when escaping makes it bigger). When an entry was cut, the row is read again
from its file, the physical lines from the entry's line on, as long as the file is still there,
still the version the entry came from (the ledger says so), and begins with the text the entry
kept. Otherwise the kept text is shown with a note saying it was cut and why the file could not
fill it in. An entry for a file refused whole (``whole file: ...``) shows the file's first bytes.

By default only entries of each file's current version are listed: once a file was read again
(a new version after a fix, or ``edge-agent reingest``), its older entries are history, counted
in the summary and shown with ``--all``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from edge_agent.config.models import AgentConfig
from edge_agent.config.sources import SourceConfig
from edge_agent.csvread.encoding import detect_encoding
from edge_agent.csvread.lines import iter_lines, newline_unit
from edge_agent.csvread.reader import RAW_LIMIT
from edge_agent.errors import ConfigError, EdgeAgentError
from edge_agent.sources.base import Source

EXIT_OK = 0
EXIT_USAGE = 2
DB_NAME = "edge-agent.db"
WHOLE_FILE = "whole file: "
# A row read back from its file is shown whole up to this size (a line the reader refused for
# being longer than maxLineBytes may be far longer than anyone wants on a terminal).
FULL_LINE_LIMIT = 16 * 1024 * 1024
_CUT_MARK = re.compile(r"… \([\d,]+ characters\)$")


@dataclass(frozen=True, slots=True)
class FileState:
    """What the ledger says about a file now."""

    file_id: str
    version: int
    state: str
    disposed_to: str | None


@dataclass(slots=True)
class QuarantinedLine:
    """One quarantined row (or a file refused whole) as the command shows it."""

    source: str
    path: str
    file_id: str
    version: int
    line: int
    reason: str
    raw: str
    raw_from: str = "quarantine"  # quarantine: the entry's text | file: read back from the file
    complete: bool = True  # False: ``raw`` is cut (see ``note``)
    current: bool = True  # False: the file was read again since, as a newer version
    note: str = ""

    @property
    def whole_file(self) -> bool:
        """The entry stands for the whole file (its layout could not be read)."""
        return self.reason.startswith(WHOLE_FILE)

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` form (camelCase, as the agent's payloads)."""
        return {
            "source": self.source,
            "path": self.path,
            "fileId": self.file_id,
            "version": self.version,
            "line": self.line,
            "reason": self.reason,
            "raw": self.raw,
            "rawFrom": self.raw_from,
            "rawComplete": self.complete,
            "current": self.current,
            "note": self.note,
        }


@dataclass(slots=True)
class Listing:
    """Counts for the summary line."""

    shown: int = 0
    superseded: int = 0
    unreadable: int = 0
    files: set[tuple[str, str]] = field(default_factory=set)


def log_files(state_dir: Path, source: str) -> list[Path]:
    """The quarantine copies of a source, oldest first (the rotated one, then the current)."""
    base = state_dir / "quarantine" / f"{source}.jsonl"
    return [p for p in (base.with_suffix(".jsonl.1"), base) if p.is_file()]


def read_entries(paths: list[Path], listing: Listing) -> Iterator[dict[str, Any]]:
    """The entries of the quarantine copies, in the order they were written.

    A line that is not a JSON object is counted, not shown: the last one may be in the middle
    of being appended by the running agent.
    """
    for path in paths:
        with path.open("rb") as f:
            for raw in f:
                try:
                    entry = json.loads(raw)
                except ValueError:
                    listing.unreadable += 1
                    continue
                if isinstance(entry, dict) and {"path", "line", "reason", "raw"} <= entry.keys():
                    yield entry
                else:
                    listing.unreadable += 1


def ledger_files(state_dir: Path, source: str) -> dict[str, FileState]:
    """The ledger's files of a source (empty when there is no database yet)."""
    db_path = state_dir / DB_NAME
    if not db_path.is_file():
        return {}
    uri = f"file:{db_path}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as conn:
        rows = conn.execute(
            "SELECT path, file_id, version, state, disposed_to FROM files WHERE source = ?",
            (source,),
        ).fetchall()
    return {path: FileState(fid, version, state, to) for path, fid, version, state, to in rows}


class SourceFiles:
    """Reads rows back from a source's files, one file open at a time, going forward.

    Entries of one file come in line order, so each file is read once from its start; a
    request for an earlier line starts over.
    """

    def __init__(self, config: AgentConfig, source: SourceConfig) -> None:
        self._source_config = source
        self._encoding = config.datasets[source.dataset].csv.encoding
        self._opened: Source | None = None  # the agent's Source, for SMB (on first need)
        self._unavailable: str | None = None
        self._path: str | None = None
        self._stream: BinaryIO | None = None
        self._lines: Iterator[tuple[int, str]] | None = None
        self._at: tuple[int, str] | None = None

    def close(self) -> None:
        """Close the open file and connection."""
        self._forget()
        if self._opened is not None:
            self._opened.close()

    def _forget(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._path, self._stream, self._lines, self._at = None, None, None, None

    def _open(self, path: str, state: FileState | None) -> BinaryIO:
        """The file as the entry's path names it, or where the agent moved it (local)."""
        config = self._source_config
        if config.type == "local":
            assert config.path is not None
            where = Path(config.path) / path
            if state is not None and state.state == "disposed" and state.disposed_to:
                where = Path(state.disposed_to)  # a local move records the absolute path
            return where.open("rb")
        if state is not None and state.state == "disposed":
            raise FileNotFoundError(f"{path} was moved or deleted after it was published")
        if self._unavailable is not None:
            raise OSError(self._unavailable)
        if self._opened is None:
            from edge_agent.sources.factory import make_source  # noqa: PLC0415 - only for SMB sources

            try:
                self._opened = make_source(config)
            except EdgeAgentError as e:
                self._unavailable = f"the share was not read: {e}"
                raise OSError(self._unavailable) from e
        return self._opened.open(path)

    def _physical_lines(self, stream: BinaryIO) -> Iterator[tuple[int, str]]:
        head = stream.read(4096)
        encoding = detect_encoding(head, self._encoding)
        lines = iter_lines(
            stream,
            encoding.bom_length,
            newline=newline_unit(encoding.codec),
            max_line_bytes=FULL_LINE_LIMIT,
        )
        for number, line in enumerate(lines, start=1):
            yield number, line.data.decode(encoding.codec, errors="backslashreplace")

    def lines_from(self, path: str, state: FileState | None, first: int) -> Iterator[str]:
        """The physical lines of ``path`` from line ``first`` on, newlines kept."""
        if path != self._path or self._at is None or self._at[0] > first:
            self._forget()
            self._stream = self._open(path, state)
            self._path = path
            self._lines = self._physical_lines(self._stream)
            self._at = next(self._lines, None)
        assert self._lines is not None
        while self._at is not None and self._at[0] < first:
            self._at = next(self._lines, None)
        while self._at is not None:
            yield self._at[1]
            self._at = next(self._lines, None)

    def fill_in(self, entry: QuarantinedLine, kept: str, state: FileState | None) -> None:
        """Replace a cut ``raw`` by the row's full lines from its file, or say why not."""
        if not entry.current:
            entry.note = f"cut at {len(kept):,} characters; the file was read again since"
            return
        try:
            joined = ""
            for text in self.lines_from(entry.path, state, entry.line):
                joined += text
                if len(_strip_newline(joined)) >= len(kept):
                    break
        except (OSError, EdgeAgentError) as e:
            self._forget()
            entry.note = f"cut at {len(kept):,} characters; the file could not be read: {e}"
            return
        full = _strip_newline(joined)
        if len(full) < len(kept) or not full.startswith(kept):
            entry.note = f"cut at {len(kept):,} characters; the file no longer holds this row"
            return
        entry.raw, entry.raw_from, entry.complete = full, "file", True
        entry.note = "read from the file (the quarantine entry keeps the first characters)"


def _strip_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith(("\n", "\r")) else text


def quarantined_lines(
    config: AgentConfig, source: SourceConfig, listing: Listing, *, show_all: bool
) -> Iterator[QuarantinedLine]:
    """The quarantined lines of one source, in the order they were quarantined."""
    state_dir = Path(config.state_dir)
    files = ledger_files(state_dir, source.name)
    reader = SourceFiles(config, source)
    seen: set[tuple[str, str, int, int]] = set()
    try:
        for raw_entry in read_entries(log_files(state_dir, source.name), listing):
            entry = _entry(source.name, raw_entry, files)
            key = (entry.path, entry.file_id, entry.version, entry.line)
            if key in seen:  # a crash between the copy and the commit repeats an entry
                continue
            seen.add(key)
            if not entry.current:
                listing.superseded += 1
                if not show_all:
                    continue
            kept = _CUT_MARK.sub("", entry.raw)
            if not entry.whole_file and (kept != entry.raw or len(kept) >= RAW_LIMIT):
                entry.complete = False
                reader.fill_in(entry, kept, files.get(entry.path))
            listing.shown += 1
            listing.files.add((entry.source, entry.path))
            yield entry
    finally:
        reader.close()


def _entry(source: str, raw: dict[str, Any], files: dict[str, FileState]) -> QuarantinedLine:
    path = str(raw["path"])
    file_id = str(raw.get("fileId", ""))
    version = int(raw.get("version", 1))
    now = files.get(path)
    current = now is None or (now.file_id == file_id and now.version == version)
    entry = QuarantinedLine(
        source=source,
        path=path,
        file_id=file_id,
        version=version,
        line=int(raw["line"]),
        reason=str(raw["reason"]),
        raw=str(raw["raw"]),
        current=current,
    )
    notes = []
    if entry.whole_file:
        entry.complete = False
        notes.append("the whole file was refused; these are its first bytes")
    if not current and now is not None:
        notes.append(f"read again since, as version {now.version}")
    entry.note = "; ".join(notes)
    return entry


def render(entry: QuarantinedLine) -> str:
    """``source/path:line  reason``, then the raw text indented (every physical line)."""
    where = f"{entry.source}/{entry.path}:{entry.line}"
    if entry.version > 1:
        where += f" (version {entry.version})"
    lines = [f"{where}  {entry.reason}"]
    lines += [f"    {text}" for text in (entry.raw.splitlines() or [""])]
    if entry.note:
        lines.append(f"    ({entry.note})")
    return "\n".join(lines)


def summary(listing: Listing, state_dir: Path, *, show_all: bool) -> str:
    """The closing line: how many lines and files, what was left out and why."""
    if listing.shown:
        text = f"{listing.shown:,} quarantined line(s) in {len(listing.files):,} file(s)"
    else:
        text = f"no quarantined lines in {state_dir / 'quarantine'}"
    if listing.superseded and not show_all:
        text += f"; {listing.superseded:,} more of files read again since (--all shows them)"
    if listing.unreadable:
        text += f"; {listing.unreadable:,} unreadable entry line(s) skipped"
    return text


def show_quarantine(
    *,
    config_path: str,
    source: str | None,
    show_all: bool,
    as_json: bool,
    out: IO[str] | None = None,
) -> int:
    """Print the quarantined lines; exit 0, or 2 when the configuration or source is wrong."""
    from edge_agent.config.load import load_config  # noqa: PLC0415

    out = out or sys.stdout
    try:
        config = load_config(config_path)
    except ConfigError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        return EXIT_USAGE
    names = [s.name for s in config.sources]
    if source is not None and source not in names:
        print(
            f"--source: no source {source!r} in {config_path} — sources: {', '.join(names)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    listing = Listing()
    try:
        for source_config in config.sources:
            if source is not None and source_config.name != source:
                continue
            for entry in quarantined_lines(config, source_config, listing, show_all=show_all):
                text = json.dumps(entry.as_json(), ensure_ascii=False) if as_json else render(entry)
                print(text, file=out)
    except BrokenPipeError:
        # `edge-agent quarantine ... | head`: the reader has seen enough. Python would complain
        # again when it flushes stdout at exit, so stdout goes nowhere from here on.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return EXIT_OK
    except (OSError, sqlite3.Error) as e:
        print(
            f"cannot read the agent's state in {config.state_dir}: {e} — run this as a user "
            "who can read that directory (the agent's user or root)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    print(
        summary(listing, Path(config.state_dir), show_all=show_all),
        file=sys.stderr if as_json else out,
    )
    return EXIT_OK
