"""Structured logs: one JSON object per line (for Greengrass and log shippers) or key=value text.

Fields passed with ``extra={...}`` become keys of the log line. Passwords never reach a log:
values of keys that look secret are masked.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "taskName"}
)
_SECRET_WORDS = ("password", "secret", "token", "key")


def _masked(key: str, value: Any) -> Any:
    """``value`` with the values of secret-looking keys replaced by ``***``, at any depth."""
    if value and any(word in key.lower() for word in _SECRET_WORDS):
        return "***"
    if isinstance(value, dict):
        return {k: _masked(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked("", v) for v in value]
    return value


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in vars(record).items():
        if key in _STANDARD or key.startswith("_"):
            continue
        out[key] = _masked(key, value)
    return out


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)} | {0x0A: "\\n", 0x0D: "\\r"}


def _one_line(text: str) -> str:
    """Control characters escaped: a file name from a share cannot start a forged log line
    or send terminal escapes (the text format is read in terminals and by line-based tools)."""
    return text.translate(_CONTROL)


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "msg": ..., **extra}``."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON line."""
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[
                :-6
            ]
            + "Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update(_fields(record))
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``2026-11-27T01:05:00.000Z INFO  logger: message key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        """One readable line."""
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6]
        extra = " ".join(f"{k}={_one_line(str(v))}" for k, v in _fields(record).items())
        line = f"{ts}Z {record.levelname:<7} {record.name}: {_one_line(record.getMessage())}"
        if extra:
            line += f"  {extra}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send edge_agent's logs to stderr in the chosen shape."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("edge_agent")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    logging.captureWarnings(True)
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.handlers[:] = [handler]
    warnings_logger.propagate = False
    # Libraries' own chatter: smbprotocol logs every request at INFO; watchdog logs an ERROR
    # when its inotify thread is stopped, which is how the agent stops watching.
    for name in ("smbprotocol", "smbclient", "spnego"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("watchdog.observers.inotify_buffer").setLevel(logging.CRITICAL)
    logging.getLogger("watchdog.observers.inotify").setLevel(logging.CRITICAL)
