"""The agent configuration as pydantic models.

Keys are camelCase (Greengrass configurations are); unknown keys are errors; every model is
frozen and validated once. Numbers that Greengrass hands back as floats (``5.0``) are accepted
where an integer is meant.
"""

from __future__ import annotations

import codecs
import ipaddress
import os
import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from edge_agent.config.base import Model, NonNegativeSeconds, PositiveSeconds
from edge_agent.config.farm import CeaConfig
from edge_agent.config.topics import TopicTemplate, check_topic

# IoT Core's limits (notes/iot-core-limits.md); the defaults, and the ceilings we accept.
IOT_MAX_PAYLOAD = 131_072
IOT_MAX_PUBLISHES_PER_SECOND = 100
IOT_MAX_BYTES_PER_SECOND = 524_288

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

# --------------------------------------------------------------------------- sources


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

    name: str = Field(pattern=_NAME)
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
    skip_duplicate_files: bool = True
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


# --------------------------------------------------------------------------- datasets

ColumnType = Literal["float", "int", "bool", "str", "timestamp"]


class ColumnConfig(Model):
    """How one column of the file becomes one field of the record."""

    name: str | None = None
    type: ColumnType | None = None
    unit: str | None = None
    required: bool = False
    skip: bool = False


class CsvConfig(Model):
    """The CSV dialect of a dataset's files."""

    # Whitespace is meaningful here: a tab delimiter, a blank null marker.
    model_config = ConfigDict(**{**Model.model_config, "str_strip_whitespace": False})

    encoding: str = "auto"
    delimiter: str = "auto"
    quotechar: str = '"'
    decimal: Literal[".", ","] = "."
    header_row: int | None = Field(default=1, ge=1)
    units_row: int | None = Field(default=None, ge=1)
    first_data_row: int | None = Field(default=None, ge=1)
    null_values: tuple[str, ...] = ("", "NaN", "-")
    timestamp_column: str | tuple[str, ...] | None = None
    timestamp_format: str = "iso"
    timezone: str = "UTC"
    skip_patterns: tuple[str, ...] = ()
    max_line_bytes: int = Field(default=1_048_576, ge=256)

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, v: str) -> str:
        if v == "auto":
            return v
        try:
            codecs.lookup(v)
        except LookupError:
            raise ValueError(
                f"unknown encoding {v!r}; use auto, utf-8, utf-16, cp1252, latin-1, ..."
            ) from None
        return v

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, v: str) -> str:
        if v == "\\t":
            return "\t"
        if v != "auto" and len(v) != 1:
            raise ValueError('delimiter is one character (",", ";", "\\t", "|") or auto')
        return v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r}; use an IANA name such as Europe/Berlin or UTC"
            ) from None
        return v

    @field_validator("timestamp_format")
    @classmethod
    def _format(cls, v: str) -> str:
        if v in ("iso", "epoch_s", "epoch_ms"):
            return v
        if "%" not in v:
            raise ValueError(
                "timestampFormat is iso, epoch_s, epoch_ms or a strptime format such as "
                "'%d.%m.%Y %H:%M:%S'"
            )
        return v

    @field_validator("skip_patterns")
    @classmethod
    def _regexes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(
                    f"skipPatterns: {pattern!r} is not a regular expression: {e}"
                ) from None
        return v

    @model_validator(mode="after")
    def _rows_in_order(self) -> CsvConfig:
        if self.header_row is None and self.units_row is not None:
            raise ValueError("unitsRow needs headerRow")
        last = max(r for r in (self.header_row, self.units_row, 0) if r is not None)
        if self.first_data_row is not None and self.first_data_row <= last:
            raise ValueError(f"firstDataRow ({self.first_data_row}) must come after line {last}")
        if self.header_row is None and self.first_data_row is None:
            return self
        return self

    @property
    def data_start_line(self) -> int:
        """1-based physical line of the first data row."""
        if self.first_data_row is not None:
            return self.first_data_row
        return max(r for r in (self.header_row, self.units_row, 0) if r is not None) + 1


DatasetKind = Literal["generic", "tower", "site", "automation", "seeding"]
FARM_KINDS = frozenset({"tower", "site", "automation", "seeding"})


class DatasetConfig(Model):
    """How the files of one dataset are read, typed and published."""

    kind: DatasetKind = "generic"
    csv: CsvConfig = CsvConfig()
    columns: dict[str, ColumnConfig] = Field(default_factory=dict)
    topic: str = "dt/edge-agent/{thingName}/{dataset}"

    @field_validator("topic")
    @classmethod
    def _template(cls, v: str) -> str:
        TopicTemplate(v)  # raises ValueError naming the bad placeholder
        return v


# --------------------------------------------------------------------------- publish


class TlsConfig(Model):
    """Mutual TLS files for a direct MQTT connection (AWS IoT Core or a local broker)."""

    ca: str
    cert: str | None = None
    key: str | None = None

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert is None) != (self.key is None):
            raise ValueError(
                "cert and key go together (the device certificate and its private key)"
            )
        return self


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MqttConfig(Model):
    """A direct MQTT connection with paho-mqtt."""

    host: str = "localhost"
    port: int = Field(default=8883, ge=1, le=65535)
    client_id: str | None = Field(default=None, max_length=128)
    protocol: Literal[5, "3.1.1"] = 5
    tls: TlsConfig | None = None
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    keep_alive_seconds: int = Field(default=60, ge=30, le=1200)
    connect_timeout_seconds: PositiveSeconds = 10
    max_inflight: int = Field(default=16, ge=1, le=1000)
    reconnect_min_seconds: PositiveSeconds = 1
    reconnect_max_seconds: PositiveSeconds = 60

    @model_validator(mode="after")
    def _no_clear_text_password(self) -> MqttConfig:
        if self.password is not None and self.tls is None and not _is_loopback(self.host):
            raise ValueError(
                f"password: it would cross the network to {self.host} in clear text — add a "
                "tls section (ca, and cert/key for mutual TLS), or reach the broker on localhost"
            )
        return self

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol(cls, v: Any) -> Any:
        if v in (5, 5.0, "5", "5.0"):
            return 5
        if v in ("3.1.1", 311, "311", 4, "4"):
            return "3.1.1"
        return v


class GreengrassConfig(Model):
    """Publishing through the Greengrass nucleus (IPC)."""

    connect_timeout_seconds: PositiveSeconds = 30
    max_inflight: int = Field(default=8, ge=1, le=100)
    local_alerts_topic: str = "edge-agent/alerts"


class PublishConfig(Model):
    """Where batches go and how fast."""

    target: Literal["mqtt", "greengrass"] = "mqtt"
    mqtt: MqttConfig = MqttConfig()
    greengrass: GreengrassConfig = GreengrassConfig()
    qos: Literal[1] = 1
    max_payload_bytes: int = Field(default=IOT_MAX_PAYLOAD, ge=2048, le=IOT_MAX_PAYLOAD)
    max_publishes_per_second: float | None = Field(default=IOT_MAX_PUBLISHES_PER_SECOND, gt=0)
    max_bytes_per_second: float | None = Field(default=IOT_MAX_BYTES_PER_SECOND, gt=0)
    retry_rejected_seconds: PositiveSeconds = 300

    @field_validator("qos", mode="before")
    @classmethod
    def _qos(cls, v: Any) -> Any:
        if v in (0, 0.0, "0"):
            raise ValueError("QoS 0 has no acknowledgement, so rows could be lost; use qos: 1")
        if v in (1.0, "1"):
            return 1
        return v


class OutboxConfig(Model):
    """Bounds of the durable outbox in the state database."""

    max_bytes: int = Field(default=512 * 1024 * 1024, ge=1024 * 1024)
    min_free_disk_bytes: int = Field(default=64 * 1024 * 1024, ge=0)


class LoggingConfig(Model):
    """Log level and shape."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


# --------------------------------------------------------------------------- health


class HealthConfig(Model):
    """What the agent tells operators: /healthz and /metrics, the heartbeat, progress lines.

    ``port``: 9108 by default; ``null`` turns the HTTP endpoint off, ``0`` takes any free port
    (logged at start). ``unhealthyAfterSeconds``: how long the publisher may stay disconnected,
    a source may stay unreadable, or a non-empty outbox may go without an acknowledgement
    before /healthz answers 503.
    """

    host: str = "127.0.0.1"
    port: int | None = Field(default=9108, ge=0, le=65535)
    heartbeat_seconds: PositiveSeconds | None = 60.0
    status_topic: str = "dt/edge-agent/{thingName}/status"
    progress_seconds: PositiveSeconds = 10.0
    unhealthy_after_seconds: PositiveSeconds = 120.0

    @field_validator("host")
    @classmethod
    def _loopback(cls, v: str) -> str:
        if v == "localhost":
            return v
        try:
            loopback = ipaddress.ip_address(v).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(
                f"{v!r} is not a loopback address: /metrics and /healthz answer anyone who can "
                "connect, without a password or TLS, and a gateway sits on the plant network — "
                "use 127.0.0.1 (or ::1), and scrape from elsewhere through an authenticated "
                "proxy or an SSH tunnel"
            )
        return v

    @field_validator("status_topic")
    @classmethod
    def _status_topic(cls, v: str) -> str:
        template = TopicTemplate(v)  # raises ValueError naming the bad placeholder
        if template.fields - {"thingName"}:
            raise ValueError("the status topic can only use {thingName}")
        problem = check_topic(template.render(thingName="thing"))
        if problem:
            raise ValueError(f"{v!r}: {problem}")
        return v


# --------------------------------------------------------------------------- agent


class AgentConfig(Model):
    """The whole agent configuration (the component's DefaultConfiguration)."""

    thing_name: str = Field(
        default_factory=lambda: os.environ.get("AWS_IOT_THING_NAME", ""), validate_default=True
    )
    state_dir: str = "/var/lib/edge-agent"
    sources: tuple[SourceConfig, ...] = Field(min_length=1)
    datasets: dict[str, DatasetConfig] = Field(min_length=1)
    publish: PublishConfig = PublishConfig()
    outbox: OutboxConfig = OutboxConfig()
    logging: LoggingConfig = LoggingConfig()
    health: HealthConfig = HealthConfig()
    cea: CeaConfig | None = None
    shutdown_timeout_seconds: PositiveSeconds = 10.0
    status_interval_seconds: PositiveSeconds = 30.0

    @field_validator("thing_name")
    @classmethod
    def _thing(cls, v: str) -> str:
        if not v:
            raise ValueError(
                "missing: set thingName, or the environment variable AWS_IOT_THING_NAME"
            )
        if not re.fullmatch(r"[A-Za-z0-9:_-]{1,128}", v):
            raise ValueError(
                "an AWS IoT thing name has 1-128 characters among letters, digits, ':', '_' and '-'"
            )
        return v

    @model_validator(mode="after")
    def _cross_references(self) -> AgentConfig:
        # Each problem is "key.path: message — hint" on a line of its own; the loader turns
        # them back into separate problems with their key paths.
        problems: list[str] = []
        seen: set[str] = set()
        for i, source in enumerate(self.sources):
            if source.name in seen:
                problems.append(f"sources[{i}].name: {source.name!r} is used twice — rename one")
            seen.add(source.name)
            if source.dataset not in self.datasets:
                known = ", ".join(sorted(self.datasets)) or "none"
                problems.append(
                    f"sources[{i}].dataset: dataset {source.dataset!r} is not defined under "
                    f"datasets — defined: {known}"
                )
        for name, dataset in self.datasets.items():
            if not re.fullmatch(_NAME, name):
                problems.append(
                    f"datasets.{name}: use letters, digits, '_', '.', '-' (at most 64) in "
                    "dataset names"
                )
                continue
            # The longest source name reading this dataset: {source} renders to it.
            readers = [s.name for s in self.sources if s.dataset == name] or ["_"]
            for suffix in ("", "/quarantine"):
                topic = (
                    TopicTemplate(dataset.topic).render(
                        thingName=self.thing_name,
                        dataset=name,
                        kind=dataset.kind,
                        source=max(readers, key=len),
                    )
                    + suffix
                )
                problem = check_topic(topic)
                if problem:
                    problems.append(f"datasets.{name}.topic: renders to {topic!r}: {problem}")
                    break
            if dataset.kind in FARM_KINDS and self.cea is None:
                problems.append(
                    f"datasets.{name}.kind: {dataset.kind} data is fused on the farm's site — "
                    "add a cea section with at least siteId (e.g. cea: {siteId: site-01})"
                )
        problems += self._shared_topics()
        if self.cea is not None:
            problems += self.cea.problems()
            topic = TopicTemplate(self.cea.alerts_topic).render(
                thingName=self.thing_name, dataset="alerts", kind="alert"
            )
            problem = check_topic(topic)
            if problem:
                problems.append(f"cea.alertsTopic: renders to {topic!r}: {problem}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _shared_topics(self) -> list[str]:
        """The status and alerts topics must not be a dataset's (consumers tell them apart)."""
        data: dict[str, str] = {}
        for source in self.sources:
            dataset = self.datasets.get(source.dataset)
            if dataset is None:
                continue
            topic = TopicTemplate(dataset.topic).render(
                thingName=self.thing_name,
                dataset=source.dataset,
                kind=dataset.kind,
                source=source.name,
            )
            data[topic] = data[topic + "/quarantine"] = source.dataset
        own = [("health.statusTopic", self.health.status_topic)]
        if self.cea is not None:
            own.append(("cea.alertsTopic", self.cea.alerts_topic))
        problems = []
        for key, template in own:
            topic = TopicTemplate(template).render(
                thingName=self.thing_name, dataset="", kind="", source=""
            )
            if topic in data:
                problems.append(
                    f"{key}: renders to {topic!r}, a topic of dataset {data[topic]!r} — "
                    f"give {key} a topic of its own, or rename the dataset"
                )
        return problems

    def source(self, name: str) -> SourceConfig:
        """The source called ``name``."""
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)
