"""A local folder (or a mounted share) as a source, watched with watchdog.

inotify (watchdog's default observer) sees local writes as they happen; on a mounted network
share it sees nothing, so ``poll: true`` switches to watchdog's polling observer. Either way the
agent's periodic rescan is what guarantees that a missed event loses nothing.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
import threading
from pathlib import Path
from typing import BinaryIO

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from edge_agent.config.sources import SourceConfig
from edge_agent.errors import SourceAccessError, SourceUnavailableError
from edge_agent.sources.base import ChangeCallback, FileInfo, PathFilter

log = logging.getLogger("edge_agent.sources.local")


class _Handler(FileSystemEventHandler):
    def __init__(self, source: LocalSource, notify: ChangeCallback) -> None:
        self._source = source
        self._notify = notify

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if not raw:
                continue
            path = os.fsdecode(raw)
            if event.is_directory:
                if event.event_type == "modified":
                    # A folder's entries changed: the files' own events say which. (Taking it
                    # for "look at everything" listed a year of kept files per new file.)
                    return
                self._notify(None)  # a folder appeared, moved or vanished: look at everything
                return
            relative = self._source.relative(path)
            if relative is not None:
                self._notify(relative)


class LocalSource:
    """Files under a local folder."""

    def __init__(self, config: SourceConfig) -> None:
        assert config.path is not None
        self._config = config
        self.root = Path(config.path).expanduser().absolute()
        self._filter = PathFilter(config.include, config.exclude)
        self._refused: set[str] = set()  # links already reported (a rescan does not repeat it)
        # An archive folder inside the watched folder is not watched (moved files stay moved).
        self._archive: str | None = None
        if config.move_to:
            archive = Path(config.move_to)
            archive = archive if archive.is_absolute() else self.root / archive
            try:
                self._archive = archive.absolute().relative_to(self.root).as_posix()
            except ValueError:
                self._archive = None

    def _archived(self, rel: str) -> bool:
        return self._archive is not None and (
            rel == self._archive or rel.startswith(self._archive + "/")
        )

    @property
    def name(self) -> str:
        """The configured source name."""
        return self._config.name

    def relative(self, absolute: str) -> str | None:
        """The source-relative path of an absolute path under the root, if it is one of ours."""
        try:
            rel = Path(absolute).relative_to(self.root).as_posix()
        except ValueError:
            return None
        if (not self._config.recursive and "/" in rel) or self._archived(rel):
            return None
        return rel if self._filter(rel) else None

    def _check_root(self) -> None:
        try:
            if not self.root.is_dir():
                raise SourceUnavailableError(
                    self.name, f"folder {self.root} does not exist or is not a folder (mounted?)"
                )
            with os.scandir(self.root):
                pass  # readable (opening it is enough)
        except PermissionError:
            raise SourceAccessError(
                self.name,
                f"no permission to read {self.root}",
                "give the agent's user read and execute permission on the folder",
            ) from None
        except OSError as e:
            raise SourceUnavailableError(self.name, f"cannot read {self.root}: {e}") from e

    def scan(self) -> list[FileInfo]:
        """Every matching regular file under the root; links leading outside it are refused.

        Folders are walked without following links: a folder link that stays inside names
        files found under their real folder anyway, one that leads outside is refused. A
        folder that cannot be read for want of permission is said once and skipped; any other
        error (EIO, ESTALE from a mounted share) makes the source unavailable for now.
        """
        try:
            return self._scan()
        except OSError as e:
            raise SourceUnavailableError(self.name, f"cannot list {self.root}: {e}") from e

    def _walk_error(self, error: OSError) -> None:
        if isinstance(error, PermissionError):
            self._refuse(
                str(error.filename),
                "no permission to list this folder; its files are not read (give the agent's "
                "user read and execute permission, or exclude it)",
                "",
            )
            return
        raise error

    def _scan(self) -> list[FileInfo]:
        self._check_root()
        found: list[FileInfo] = []
        resolved_root = self.root.resolve()
        # Folders to list: (absolute folder, its path relative to the root with a trailing /).
        folders = [(str(self.root), "")]
        recursive, keep = self._config.recursive, self._filter
        while folders:
            folder, prefix = folders.pop()
            try:
                entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
            except OSError as e:
                self._walk_error(e)
                continue
            for entry in entries:
                rel = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    if recursive and not entry.name.startswith(".") and not self._archived(rel):
                        folders.append((entry.path, rel + "/"))
                    continue
                if entry.is_symlink():
                    # A folder link is never walked (files under it are found under their real
                    # folder); one leading outside is said so. A file link is read if it stays.
                    with contextlib.suppress(PermissionError):
                        if os.path.isdir(entry.path):
                            if recursive:
                                self._inside(entry.path, rel, resolved_root)
                            continue
                    if keep(rel):
                        info = self._stat(entry.path, rel, resolved_root)
                        if info is not None:
                            found.append(info)
                    continue
                if not keep(rel):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # gone since the folder was listed
                except PermissionError:
                    log.warning(
                        "no permission to read file", extra={"source": self.name, "path": rel}
                    )
                    continue
                if stat.S_ISREG(st.st_mode):
                    if self._refused:
                        self._refused.discard(rel)
                    found.append(FileInfo(rel, st.st_size, st.st_mtime_ns))
        return found

    def _inside(self, full: str, rel: str, resolved_root: Path) -> bool:
        """Does ``full`` lead to a place under the root? Says why not, once per path."""
        try:
            target = Path(full).resolve(strict=True)
        except FileNotFoundError:
            return False  # gone, or a link to nothing: nothing to read
        except PermissionError:
            raise  # said as such by the caller
        except (RuntimeError, OSError) as e:  # a link loop (RuntimeError, ELOOP)
            self._refuse(rel, "link cannot be followed; skipped", str(e))
            return False
        if target.is_relative_to(resolved_root):
            return True
        self._refuse(rel, "symlink leads outside the source folder; refused", str(target))
        return False

    def _refuse(self, rel: str, message: str, target: str) -> None:
        if rel not in self._refused:
            self._refused.add(rel)
            log.warning(message, extra={"source": self.name, "path": rel, "target": target})

    def _stat(
        self, full: str, rel: str, resolved_root: Path, *, walked: bool = False
    ) -> FileInfo | None:
        # A walked path has no link in its folders (os.walk does not follow them); any other
        # path (a watcher event, a ledger entry) may lead out through one of its folders.
        try:
            if (not walked or os.path.islink(full)) and not self._inside(full, rel, resolved_root):
                return None
            st = os.stat(full)
        except FileNotFoundError:
            return None
        except PermissionError:
            log.warning("no permission to read file", extra={"source": self.name, "path": rel})
            return None
        if not os.path.isfile(full):
            return None
        self._refused.discard(rel)
        return FileInfo(rel, st.st_size, st.st_mtime_ns)

    def stat(self, path: str) -> FileInfo | None:
        """Current size and mtime of one file, or None if it is gone."""
        full = self.root / path
        if not self._filter(path):
            return None
        try:
            return self._stat(str(full), path, self.root.resolve())
        except OSError as e:
            raise SourceUnavailableError(self.name, f"cannot stat {path}: {e}") from e

    def open(self, path: str) -> BinaryIO:
        """Open for reading (writers are not blocked on POSIX)."""
        try:
            full = (self.root / path).resolve(strict=True)
        except (RuntimeError, OSError) as e:
            if isinstance(e, FileNotFoundError):
                raise
            raise SourceAccessError(self.name, f"{path}: {e}", "remove the link") from None
        if not full.is_relative_to(self.root.resolve()):
            raise SourceAccessError(
                self.name, f"{path} leads outside the folder", "remove the link"
            )
        return open(full, "rb", buffering=256 * 1024)

    def watch(self, notify: ChangeCallback, stop: threading.Event) -> None:
        """Run a watchdog observer until ``stop`` is set."""
        self._check_root()
        observer = (
            PollingObserver(timeout=self._config.poll_interval_seconds)
            if self._config.poll
            else Observer()
        )
        observer.schedule(_Handler(self, notify), str(self.root), recursive=self._config.recursive)
        try:
            observer.start()
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EMFILE):
                raise SourceUnavailableError(
                    self.name,
                    f"cannot watch {self.root}: {e.strerror} (raise fs.inotify.max_user_watches "
                    "or set poll: true); the periodic rescan still finds files",
                ) from e
            raise
        # Files written between the last listing and the watch taking effect have no event:
        # one more listing now that the watch is on.
        notify(None)
        try:
            stop.wait()
        finally:
            observer.stop()
            observer.join(timeout=5)

    def remove(self, path: str) -> None:
        """Delete a file."""
        (self.root / path).unlink(missing_ok=True)

    def move(self, path: str, folder: str) -> str:
        """Move into ``folder`` (absolute, or relative to the root), keeping subfolders."""
        base = Path(folder)
        if not base.is_absolute():
            base = self.root / base
        target = base / path
        target.parent.mkdir(parents=True, exist_ok=True)
        candidate, n = target, 1
        while candidate.exists():
            candidate = target.with_name(f"{target.stem}.{n}{target.suffix}")
            n += 1
        shutil.move(str(self.root / path), str(candidate))
        return str(candidate)

    def close(self) -> None:
        """Nothing to release."""
