"""Sources: the folders and SMB shares the agent watches, and what to do with their files."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from edge_agent.config.base import NAME_PATTERN, Model, NonNegativeSeconds, PositiveSeconds


class SmbConfig(Model):
    """Where an SMB share is and how to log on to it."""

    server: str = Field(min_length=1)
    port: int = Field(default=445, ge=1, le=65535)
    share: str = Field(min_length=1)
    folder: str = ""
    username: str = Field(min_length=1)
    domain: str = ""
    password: str | None = Field(default=None, repr=False)
    password_env: str | None = None
    password_secret_id: str | None = None
    require_encryption: bool = False
    connection_timeout_seconds: PositiveSeconds = 30

    @model_validator(mode="after")
    def _one_password_source(self) -> SmbConfig:
        given = [
            k
            for k, v in (
                ("password", self.password),
                ("passwordEnv", self.password_env),
                ("passwordSecretId", self.password_secret_id),
            )
            if v is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of password, passwordEnv, passwordSecretId"
                + (f" (got {', '.join(given)})" if given else "")
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
    type: Literal["local", "smb"] = "local"
    path: str | None = None
    smb: SmbConfig | None = None
    include: tuple[str, ...] = ("*.csv",)
    exclude: tuple[str, ...] = ()
    recursive: bool = True
    poll: bool = False
    poll_interval_seconds: PositiveSeconds = 2.0
    rescan_seconds: PositiveSeconds = 60.0
    settle_seconds: NonNegativeSeconds = 5.0
    mode: Literal["complete", "append"] = "complete"
    # Append mode: a growing log is read at most this often, so rows written one by one go
    # out in fuller batches (fewer messages; IoT Core bills and limits per message).
    linger_seconds: NonNegativeSeconds = 1.0
    # Append mode: a last line without a line end is read once the log has not changed for
    # this long (a writer that ends lines late, or never ends the last one); null: never.
    idle_seconds: PositiveSeconds | None = 60.0
    skip_duplicate_files: bool = True
    # The ledger row of a file gone from the source (moved or deleted after ingestion, deleted
    # by someone, rotated away) is forgotten after this many days, so the state stays bounded.
    forget_after_days: PositiveSeconds = 30.0
    after_ingest: Literal["keep", "move", "delete"] = "keep"
    move_to: str | None = None
    dataset: str = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> SourceConfig:
        if self.type == "local":
            if not self.path:
                raise ValueError("a local source needs path: the folder to watch")
            if self.smb is not None:
                raise ValueError("smb settings are only for type: smb")
        if self.type == "smb":
            if self.smb is None:
                raise ValueError(
                    "a source with type: smb needs smb: {server, share, username, ...}"
                )
            if self.path is not None:
                raise ValueError("an smb source takes smb.folder, not path")
        if self.after_ingest == "move" and not self.move_to:
            raise ValueError("afterIngest: move needs moveTo: the folder to move files to")
        if self.after_ingest != "move" and self.move_to:
            raise ValueError("moveTo is only used with afterIngest: move")
        if self.mode == "append" and self.after_ingest != "keep":
            raise ValueError(
                "a growing log (mode: append) is never finished, so it can only be kept: "
                "use afterIngest: keep"
            )
        if not self.include:
            raise ValueError("include needs at least one pattern, e.g. ['*.csv']")
        return self
