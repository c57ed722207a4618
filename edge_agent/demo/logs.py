"""The demo's logging: warnings and errors of every library to a file, counted for the view.

The terminal shows the live view, so nothing may log to it; the counts and the last few
messages reach the person through the view and the final summary instead.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edge_agent.logs import TextFormatter

RECENT = 3

MAX_MESSAGE = 200
_WARNING_PREFIX = re.compile(r"^\S+:\d+: ")  # "path/to/module.py:365: " of a Python warning

# What libraries log, through no fault of ours, when folders are created or watchers stopped
# while files are being written, as happens at every start and stop of the demo. It stays in
# the log file but is not counted: the summary says "errors: 0" only if nothing went wrong.
BENIGN: tuple[tuple[str, str], ...] = (
    # watchdog 7.x: an observer stopped while inotify events were still arriving. Nothing is
    # lost: the agent rescans its folders when it starts.
    ("watchdog.", "InotifyEmitter.queue_events() called when the thread is inactive"),
    # watchdog 7.x: a folder created while its parent's recursive watch was being set up is
    # watched twice; the second watch replaces the first.
    ("py.warnings", "RuntimeWarning: Callback with id"),
    # paho 2.x: its network thread runs once more after disconnect() closed the socket.
    ("edge_agent.publish.mqtt.paho", "Client is not connected. Socket: None)"),
)


def counted(record: logging.LogRecord) -> bool:
    """False for the known-benign messages of :data:`BENIGN`."""
    message = record.getMessage()
    return not any(record.name.startswith(name) and text in message for name, text in BENIGN)


def one_line(record: logging.LogRecord) -> str:
    """``LEVEL logger: first line of the message``, without a warning's file and line."""
    lines = record.getMessage().splitlines()
    message = _WARNING_PREFIX.sub("", lines[0]) if lines else ""
    text = f"{record.levelname} {record.name}: {message}"
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


class LogTally(logging.Handler):
    """Counts warnings and errors and keeps the last few (one line each)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.addFilter(counted)
        self.warnings = 0
        self.errors = 0
        self.recent: deque[str] = deque(maxlen=RECENT)

    def emit(self, record: logging.LogRecord) -> None:
        """Count one record (``Handler.handle`` holds the handler's lock)."""
        if record.levelno >= logging.ERROR:
            self.errors += 1
        else:
            self.warnings += 1
        self.recent.append(one_line(record))


@contextmanager
def demo_logging(path: Path) -> Iterator[LogTally]:
    """Send every logger's warnings and errors, and Python warnings, to ``path``.

    The previous setup is restored afterwards.
    """
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setLevel(logging.WARNING)
    file_handler.setFormatter(TextFormatter())
    tally = LogTally()
    root = logging.getLogger()
    ours = logging.getLogger("edge_agent")
    saved = (root.level, root.handlers[:], ours.level, ours.handlers[:], ours.propagate)
    root.handlers[:] = [file_handler, tally]
    root.setLevel(logging.WARNING)
    ours.handlers[:] = []
    ours.setLevel(logging.WARNING)
    ours.propagate = True
    logging.captureWarnings(True)  # a library's RuntimeWarning must not scribble over the view
    try:
        yield tally
    finally:
        logging.captureWarnings(False)
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        ours.setLevel(saved[2])
        ours.handlers[:] = saved[3]
        ours.propagate = saved[4]
        file_handler.close()
