"""The agent's own exception tree.

Library errors (paho, smbprotocol, awscrt, sqlite3, OSError) are mapped to these at the
boundary where they happen, so the rest of the agent only decides between two things:
*transient* (wait and retry, nothing is lost) and *permanent* (refuse, quarantine, or stop
with a message that names the fix). Errors carry their data as attributes.
"""

from __future__ import annotations


class EdgeAgentError(Exception):
    """Base of every error raised on purpose by edge-agent."""


class ConfigError(EdgeAgentError):
    """The configuration is refused as a whole; ``problems`` lists every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class ConfigProblem:
    """One configuration problem: where (key path), what, and how to fix it."""

    __slots__ = ("hint", "message", "path")

    def __init__(self, path: str, message: str, hint: str = "") -> None:
        self.path = path
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.path or '<root>'}: {self.message}"
        return f"{text} — {self.hint}" if self.hint else text

    def __repr__(self) -> str:
        return f"ConfigProblem({self.path!r}, {self.message!r}, {self.hint!r})"


class TransientError(EdgeAgentError):
    """Something outside the agent is unavailable for now; retry later, nothing is lost."""


class SourceUnavailableError(TransientError):
    """A folder or share cannot be listed or read right now."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"source {source!r} unavailable: {reason}")


class SourceAccessError(EdgeAgentError):
    """A source refuses us for a reason that retrying fast will not fix (password, permissions)."""

    def __init__(self, source: str, reason: str, hint: str) -> None:
        self.source = source
        self.reason = reason
        self.hint = hint
        super().__init__(f"source {source!r}: {reason} — {hint}")


class FileChangedError(TransientError):
    """A file changed under us while we read it (truncated, replaced); it is looked at again."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class StorageFullError(TransientError):
    """The state database cannot grow (disk full or outbox limit); ingestion pauses."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class PublishError(EdgeAgentError):
    """A batch could not be published; ``transient`` says whether a retry may succeed."""

    def __init__(self, reason: str, *, transient: bool, code: int | None = None) -> None:
        self.reason = reason
        self.transient = transient
        self.code = code
        super().__init__(reason)


class NotConnectedError(PublishError):
    """The connection to the broker (or nucleus) is down; the batch stays in the outbox."""

    def __init__(self, reason: str = "not connected") -> None:
        super().__init__(reason, transient=True)


class PublishRejectedError(PublishError):
    """The broker refused the batch (e.g. MQTT 5 reason code 135, not authorized)."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason, transient=False, code=code)
