"""Where simulated files go: one small interface, a local folder, and an in-memory fake.

Paths are relative to the sink's root with ``/`` separators. A file being appended to stays
open between calls, as the equipment's writer holds it open, until :meth:`Sink.close`.
The SMB implementation is :class:`simulators.smb.SmbSink`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol


class Sink(Protocol):
    """A folder that simulated equipment writes files into."""

    def write(self, path: str, data: bytes) -> None:
        """Create or replace ``path`` with ``data`` and close it (write-and-close)."""
        ...

    def append(self, path: str, data: bytes) -> None:
        """Append ``data`` to ``path`` (created if missing); the file stays open."""
        ...

    def close(self, path: str) -> None:
        """Close ``path`` if it is open; nothing happens otherwise."""
        ...

    def rename(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst``, replacing ``dst`` if it exists."""
        ...

    def set_mtime(self, path: str, when: datetime) -> None:
        """Set the modification time of ``path``."""
        ...

    def close_all(self) -> None:
        """Close every open file and release connections."""
        ...


def check_relative(path: str) -> PurePosixPath:
    """``path`` as a relative POSIX path; refuses absolute paths and ``..``."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or "\\" in path:
        raise ValueError(f"a sink path is relative with '/' separators, got {path!r}")
    return pure


class HandleSink(ABC):
    """The bookkeeping shared by sinks on a real file system: files being appended to stay
    open until closed; a write or rename closes what it touches first. Subclasses provide
    the four file operations."""

    def __init__(self) -> None:
        self._open: dict[str, BinaryIO] = {}

    @abstractmethod
    def _write_file(self, path: str, data: bytes) -> None:
        """One file operation of the underlying file system."""

    @abstractmethod
    def _open_for_append(self, path: str) -> BinaryIO:
        """One file operation of the underlying file system."""

    @abstractmethod
    def _replace(self, src: str, dst: str) -> None:
        """One file operation of the underlying file system."""

    @abstractmethod
    def _utime(self, path: str, stamp: float) -> None:
        """One file operation of the underlying file system."""

    def write(self, path: str, data: bytes) -> None:
        """Create or replace ``path`` with ``data`` and close it."""
        self.close(path)
        self._write_file(path, data)

    def append(self, path: str, data: bytes) -> None:
        """Append ``data``; the file stays open until :meth:`close`."""
        handle = self._open.get(path)
        if handle is None:
            handle = self._open[path] = self._open_for_append(path)
        handle.write(data)

    def close(self, path: str) -> None:
        """Close ``path`` if it is open."""
        handle = self._open.pop(path, None)
        if handle is not None:
            handle.close()

    def rename(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst`` (replacing it)."""
        self.close(src)
        self.close(dst)
        self._replace(src, dst)

    def set_mtime(self, path: str, when: datetime) -> None:
        """Set the modification (and access) time of ``path``."""
        self._utime(path, when.timestamp())

    def close_all(self) -> None:
        """Close every open file."""
        for path in list(self._open):
            self.close(path)


class LocalSink(HandleSink):
    """Files under a local folder; appends go straight to disk (no buffering)."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _full(self, path: str) -> Path:
        full = self.root.joinpath(*check_relative(path).parts)
        full.parent.mkdir(parents=True, exist_ok=True)
        return full

    def _write_file(self, path: str, data: bytes) -> None:
        with self._full(path).open("wb") as handle:
            handle.write(data)

    def _open_for_append(self, path: str) -> BinaryIO:
        return self._full(path).open("ab", buffering=0)

    def _replace(self, src: str, dst: str) -> None:
        os.replace(self._full(src), self._full(dst))

    def _utime(self, path: str, stamp: float) -> None:
        os.utime(self._full(path), (stamp, stamp))


class MemorySink:
    """A sink that keeps files in memory: for tests and for checking what would be written."""

    def __init__(self) -> None:
        self.files: dict[str, bytearray] = {}
        self.mtimes: dict[str, datetime] = {}
        self.open_paths: set[str] = set()
        self.log: list[tuple[str, str]] = []

    def write(self, path: str, data: bytes) -> None:
        """Create or replace ``path``."""
        check_relative(path)
        self.open_paths.discard(path)
        self.files[path] = bytearray(data)
        self.log.append(("write", path))

    def append(self, path: str, data: bytes) -> None:
        """Append to ``path``; it stays open."""
        check_relative(path)
        self.files.setdefault(path, bytearray()).extend(data)
        self.open_paths.add(path)
        self.log.append(("append", path))

    def close(self, path: str) -> None:
        """Close ``path``."""
        self.open_paths.discard(path)
        self.log.append(("close", path))

    def rename(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst``."""
        check_relative(dst)
        self.open_paths.discard(src)
        self.files[dst] = self.files.pop(src)
        if src in self.mtimes:
            self.mtimes[dst] = self.mtimes.pop(src)
        self.log.append(("rename", f"{src} -> {dst}"))

    def set_mtime(self, path: str, when: datetime) -> None:
        """Record the modification time of ``path``."""
        if path not in self.files:
            raise FileNotFoundError(path)
        self.mtimes[path] = when

    def close_all(self) -> None:
        """Close every open file."""
        self.open_paths.clear()
