"""Sources: the folders and SMB shares the agent watches, and what to do with their files."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import InitErrorDetails

from edge_agent.config.base import (
    NAME_PATTERN,
    Model,
    NonNegativeSeconds,
    PositiveSeconds,
    problem,
    report,
)
from edge_agent.config.paths import LocalPath

_PASSWORDS = (
    ("password", "password"),
    ("password_env", "passwordEnv"),
    ("password_secret_id", "passwordSecretId"),
)


class SmbConfig(Model):
    """Where an SMB share is and how to log on to it."""

    server: str = Field(min_length=1)
    """Host name or IP address of the file server or NAS."""
    port: int = Field(default=445, ge=1, le=65535)
    """TCP port of the SMB service."""
    share: str = Field(min_length=1)
    """The share name only (e.g. `data`), without slashes."""
    folder: str = ""
    """Folder inside the share to watch (`/` or `\\` separated); empty: the share root."""
    username: str = Field(min_length=1)
    """User to log on as."""
    domain: str = ""
    """Windows domain of the user, if any."""
    password: str | None = Field(default=None, repr=False)
    """The password, inline (prefer passwordEnv or passwordSecretId)."""
    password_env: str | None = None
    """Name of the environment variable that holds the password."""
    password_secret_id: str | None = None
    """AWS Secrets Manager secret (ARN or name) with the password; read through Greengrass."""
    require_encryption: bool = False
    """Always encrypt (SMB 3); false: as the server or share demands."""
    connection_timeout_seconds: PositiveSeconds = 30
    """How long to wait for the server to answer a connection or logon."""

    @model_validator(mode="after")
    def _one_password_source(self) -> SmbConfig:
        given = [(name, key) for name, key in _PASSWORDS if getattr(self, name) is not None]
        choices = ", ".join(key for _, key in _PASSWORDS)
        if not given:
            report(
                SmbConfig,
                [
                    problem(
                        ("password",), f"missing: give one of {choices}", "e.g. passwordEnv: SMB_PW"
                    )
                ],
            )
        if len(given) > 1:
            (_, first), *others = given
            report(
                SmbConfig,
                [
                    problem(
                        (name,), f"give only one of {choices} (also given: {first})", "remove one"
                    )
                    for name, _ in others
                ],
            )
        return self

    @field_validator("share")
    @classmethod
    def _plain_share(cls, v: str) -> str:
        if "/" in v or "\\" in v:
            raise ValueError("share is the share name only (e.g. 'data'); put subfolders in folder")
        return v

    @field_validator("folder")
    @classmethod
    def _relative_folder(cls, v: str) -> str:
        return v.replace("\\", "/").strip("/")


class SourceConfig(Model):
    """One watched folder or share and what to do with its files."""

    name: str = Field(pattern=NAME_PATTERN)
    """Unique name of the source; it appears in the envelope, logs and status."""
    type: Literal["local", "smb"] = "local"
    """Where the files are: a folder on this machine, or an SMB share."""
    path: Annotated[str | None, LocalPath()] = None
    """The folder to watch (type local only)."""
    smb: SmbConfig | None = None
    """The share to watch (type smb only)."""
    include: tuple[str, ...] = ("*.csv",)
    """Glob patterns of files to read, matched on the relative path and on the file name."""
    exclude: tuple[str, ...] = ()
    """Glob patterns of files to leave alone, even if included."""
    recursive: bool = True
    """Watch subfolders too."""
    poll: bool = False
    """Local folders: look for changes by polling instead of notifications (network mounts)."""
    poll_interval_seconds: PositiveSeconds = 2.0
    """With poll: how often the folder is listed."""
    rescan_seconds: PositiveSeconds = 60.0
    """How often the whole folder is listed as a safety net besides notifications."""
    settle_seconds: NonNegativeSeconds = 5.0
    """A file is complete once its size and modification time stay unchanged this long."""
    mode: Literal["complete", "append"] = "complete"
    """complete: each file is a finished export; append: a growing log read as it grows."""
    linger_seconds: NonNegativeSeconds = 1.0
    """Append mode: a growing log is read at most this often (fuller batches, fewer messages)."""
    idle_seconds: PositiveSeconds | None = 60.0
    """Append mode: a last line without a line end is read once the log has not changed for
    this long (a writer that ends lines late, or never ends the last one); null: never."""
    skip_duplicate_files: bool = True
    """A complete file with the same content as one already read is skipped, not sent again."""
    forget_after_days: PositiveSeconds = 30.0
    """The ledger row of a file gone from the source (moved or deleted after ingestion, deleted
    by someone, rotated away) is forgotten after this many days, so the state stays bounded."""
    after_ingest: Literal["keep", "move", "delete"] = "keep"
    """What happens to a file once every batch of it is acknowledged."""
    move_to: Annotated[str | None, LocalPath(when_type="local")] = None
    """afterIngest move: the folder files go to (smb: relative to the share root)."""
    dataset: str = Field(min_length=1)
    """The dataset (a key under datasets) that says how this source's files are read."""

    @model_validator(mode="after")
    def _consistent(self) -> SourceConfig:
        report(SourceConfig, self._problems())
        return self

    def _problems(self) -> list[InitErrorDetails]:
        problems = []
        if self.type == "local" and not self.path:
            problems.append(
                problem(
                    ("path",),
                    "missing: a local source needs the folder to watch",
                    "path: /srv/line1",
                )
            )
        if self.type == "local" and self.smb is not None:
            problems.append(problem(("smb",), "only for type: smb", "remove it, or set type: smb"))
        if self.type == "smb" and self.smb is None:
            problems.append(
                problem(
                    ("smb",),
                    "missing: a source with type: smb needs smb: {server, share, username, ...}",
                )
            )
        if self.type == "smb" and self.path is not None:
            problems.append(
                problem(
                    ("path",), "an smb source takes smb.folder, not path", "move it to smb.folder"
                )
            )
        if self.after_ingest == "move" and not self.move_to:
            problems.append(
                problem(
                    ("move_to",),
                    "missing: afterIngest: move needs moveTo, the folder to move files to",
                    "add moveTo, or use afterIngest: keep",
                )
            )
        if self.after_ingest != "move" and self.move_to:
            problems.append(
                problem(
                    ("move_to",),
                    "moveTo is only used with afterIngest: move",
                    "remove moveTo, or set afterIngest: move",
                )
            )
        if self.mode == "append" and self.after_ingest != "keep":
            problems.append(
                problem(
                    ("after_ingest",),
                    "a growing log (mode: append) is never finished, so it can only be kept",
                    "use afterIngest: keep",
                )
            )
        if not self.include:
            problems.append(
                problem(("include",), "needs at least one pattern", 'e.g. include: ["*.csv"]')
            )
        return problems
