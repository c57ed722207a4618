"""What ``run`` needs from this machine that can be checked without connecting anywhere.

Folders exist and are readable (writable where files are moved or deleted, and for stateDir),
TLS files load and belong together and are in their validity period, an SMB password variable
is set. ``edge-agent check`` runs these checks, and inside Greengrass they decide whether a
configuration update is accepted. They read the machine, so they are not in the models: a
model stays loadable where the files are not (tests, building the Greengrass artifact).

Every finding names its key path and the fix; a warning (a certificate expiring within 30
days, plain MQTT across the network) does not make the configuration fail.
"""

from __future__ import annotations

import os
import pwd
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge_agent.config.publish import MqttConfig, TlsConfig, is_loopback
from edge_agent.config.sections import Sections
from edge_agent.config.sources import SmbConfig, SourceConfig
from edge_agent.config.x509 import CertificateError, pem_validities
from edge_agent.errors import ConfigProblem

# A certificate that expires sooner than this is named in a warning.
EXPIRY_WARNING = timedelta(days=30)
_CA_HINT = "the CA that signed the broker's certificate (AWS IoT Core: AmazonRootCA1.pem)"


@dataclass
class Findings:
    """Problems (the configuration cannot run here), warnings (it can, but look), and what
    was verified by connecting (``--probe``)."""

    problems: list[ConfigProblem] = field(default_factory=list)
    warnings: list[ConfigProblem] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)

    def extend(self, other: Findings) -> None:
        """Add what ``other`` found."""
        self.problems += other.problems
        self.warnings += other.warnings
        self.passed += other.passed

    def problem(self, path: str, message: str, hint: str = "") -> None:
        """Add a problem at key ``path``."""
        self.problems.append(ConfigProblem(path, message, hint))

    def warning(self, path: str, message: str, hint: str = "") -> None:
        """Add a warning at key ``path``."""
        self.warnings.append(ConfigProblem(path, message, hint))


def environment_findings(
    sections: Sections, *, greengrass: bool = False, now: datetime | None = None
) -> Findings:
    """Check this machine for the valid ``sections`` of a configuration (paths resolved).

    ``greengrass``: running as a component (secrets can be read through the nucleus).
    """
    now = now or datetime.now(UTC)
    found = Findings()
    if sections.state_dir is not None:
        reason = _unwritable_folder(Path(sections.state_dir))
        if reason:
            found.problem(
                "stateDir",
                f"{sections.state_dir} {reason}",
                "create it and let the agent's user write to it, or choose another stateDir",
            )
    for i, entry in enumerate(sections.sources):
        if entry.config is not None and entry.config.type == "local":
            _local_source(found, f"sources[{i}]", entry.config)
        elif entry.config is not None and entry.config.smb is not None:
            _smb_password(found, f"sources[{i}].smb", entry.config.smb, greengrass=greengrass)
    publish = sections.publish
    if publish is not None and publish.target == "mqtt":
        _mqtt(found, publish.mqtt, now)
    return found


# --------------------------------------------------------------------------- folders


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def _unreadable_folder(path: Path) -> str | None:
    """Why files cannot be listed and read in folder ``path``, or None."""
    if not os.path.exists(path):
        return "does not exist"
    if not os.path.isdir(path):
        return "is not a folder"
    if not os.access(path, os.R_OK | os.X_OK):
        return f"is not readable by user {_user()}"
    return None


def _unwritable_folder(path: Path) -> str | None:
    """Why files cannot be written in folder ``path`` (created when missing), or None."""
    if os.path.exists(path):
        if not os.path.isdir(path):
            return "is not a folder"
        return None if os.access(path, os.W_OK | os.X_OK) else f"is not writable by user {_user()}"
    parent = next(p for p in path.absolute().parents if os.path.exists(p))
    if not os.path.isdir(parent):
        return f"cannot be created: {parent} is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created: {parent} is not writable by user {_user()}"
    return None


def _local_source(found: Findings, key: str, source: SourceConfig) -> None:
    assert source.path is not None  # a local source has one (SourceConfig)
    reason = _unreadable_folder(Path(source.path))
    if reason:
        found.problem(
            f"{key}.path",
            f"folder {source.path} {reason}",
            "create it (or mount the share there), or correct path; a relative path starts "
            "at the configuration file's folder",
        )
    elif source.after_ingest != "keep" and not os.access(source.path, os.W_OK | os.X_OK):
        found.problem(
            f"{key}.path",
            f"files cannot be removed from {source.path} (afterIngest: {source.after_ingest}): "
            f"it is not writable by user {_user()}",
            "let the agent's user write to it, or use afterIngest: keep",
        )
    if source.after_ingest == "move" and source.move_to:
        reason = _unwritable_folder(Path(source.move_to))
        if reason:
            found.problem(
                f"{key}.moveTo",
                f"{source.move_to} {reason}",
                "create it and let the agent's user write to it, or choose another folder",
            )


def _smb_password(found: Findings, key: str, smb: SmbConfig, *, greengrass: bool) -> None:
    if smb.password_env is not None and not os.environ.get(smb.password_env):
        state = "empty" if smb.password_env in os.environ else "not set"
        found.problem(
            f"{key}.passwordEnv",
            f"the environment variable {smb.password_env} is {state}",
            "set it where the agent runs (systemd: Environment= or EnvironmentFile=; "
            "Greengrass: the recipe's Setenv), or use passwordSecretId under Greengrass",
        )
    if smb.password_secret_id is not None and not greengrass:
        found.warning(
            f"{key}.passwordSecretId",
            "secrets are read through Greengrass: `edge-agent run --config` cannot read it",
            "fine for a Greengrass deployment; to run the agent by itself, use passwordEnv",
        )


# --------------------------------------------------------------------------- TLS


def _mqtt(found: Findings, mqtt: MqttConfig, now: datetime) -> None:
    if mqtt.tls is None:
        if not is_loopback(mqtt.host):
            found.warning(
                "publish.mqtt.tls",
                f"missing: rows cross the network to {mqtt.host} in clear text, and the broker "
                "cannot tell this gateway from anyone else",
                "add tls (ca, and cert/key for mutual TLS), or reach the broker on localhost",
            )
        return
    _ca(found, mqtt.tls, now)
    if mqtt.tls.cert is not None and mqtt.tls.key is not None:
        _device_certificate(found, mqtt.tls.cert, mqtt.tls.key, now)


def _read_pem(found: Findings, key: str, path: str, hint: str) -> str | None:
    """The text of a PEM file, or None with a problem at ``key`` (its content never shown)."""
    try:
        with open(path, encoding="ascii") as file:
            return file.read()
    except FileNotFoundError:
        found.problem(key, f"no such file: {path}", hint)
    except IsADirectoryError:
        found.problem(key, f"{path} is a folder, not a file", hint)
    except PermissionError:
        found.problem(key, f"{path} is not readable by user {_user()}", "let the user read it")
    except UnicodeDecodeError:
        found.problem(
            key,
            f"{path} is not a PEM file (binary: DER?)",
            f"convert it: openssl x509 -inform der -in {path} -out {path}.pem",
        )
    except OSError as e:
        found.problem(key, f"cannot read {path}: {e.strerror}", hint)
    return None


def _ca(found: Findings, tls: TlsConfig, now: datetime) -> None:
    key = "publish.mqtt.tls.ca"
    text = _read_pem(found, key, tls.ca, _CA_HINT)
    if text is None:
        return
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=tls.ca)
        validities = pem_validities(text)
    except (ssl.SSLError, CertificateError) as e:
        found.problem(key, f"{tls.ca} holds no usable certificate ({_reason(e)})", _CA_HINT)
        return
    if validities and all(v.not_after < now for v in validities):
        last = max(v.not_after for v in validities)
        found.problem(key, f"{tls.ca} expired on {last:%Y-%m-%d}", _CA_HINT)


def _device_certificate(found: Findings, cert: str, key: str, now: datetime) -> None:
    cert_hint = "the device certificate (PEM) registered for this thing"
    cert_text = _read_pem(found, "publish.mqtt.tls.cert", cert, cert_hint)
    key_text = _read_pem(found, "publish.mqtt.tls.key", key, "the device certificate's key")
    if cert_text is not None and _certificate_dates(found, cert, cert_text, now):
        cert_text = None
    if key_text is not None and "ENCRYPTED" in key_text:
        found.problem(
            "publish.mqtt.tls.key",
            f"{key} is protected by a passphrase",
            f"the agent needs the key unencrypted: openssl pkey -in {key} -out <new file>",
        )
        key_text = None
    elif key_text is not None and "PRIVATE KEY-----" not in key_text:
        found.problem(
            "publish.mqtt.tls.key",
            f"{key} holds no private key",
            "the private key created with the device certificate",
        )
        key_text = None
    if cert_text is None or key_text is None:
        return
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert, key)
    except ssl.SSLError as e:
        if e.reason == "KEY_VALUES_MISMATCH":
            found.problem(
                "publish.mqtt.tls.key",
                f"{key} does not belong to the certificate {cert}",
                "use the private key created with this certificate (AWS IoT: the "
                "private.pem.key downloaded with it)",
            )
        else:
            found.problem(
                "publish.mqtt.tls.cert", f"cannot load {cert} with {key} ({_reason(e)})", cert_hint
            )


def _certificate_dates(found: Findings, cert: str, text: str, now: datetime) -> bool:
    """Check the device certificate's validity period; True when it cannot be used."""
    key = "publish.mqtt.tls.cert"
    try:
        validities = pem_validities(text)
    except CertificateError as e:
        found.problem(key, f"{cert} is not a readable certificate ({e})", "a PEM certificate")
        return True
    if not validities:
        found.problem(key, f"{cert} holds no certificate", "a PEM certificate")
        return True
    leaf = validities[0]
    if leaf.not_before > now:
        found.problem(
            key,
            f"{cert} is valid only from {leaf.not_before:%Y-%m-%d %H:%M} UTC",
            f"check this gateway's clock (now {now:%Y-%m-%d %H:%M} UTC)",
        )
        return True
    if leaf.not_after < now:
        found.problem(
            key,
            f"{cert} expired on {leaf.not_after:%Y-%m-%d}",
            "create a new device certificate and register it for this thing",
        )
        return True
    if leaf.not_after - now < EXPIRY_WARNING:
        days = (leaf.not_after - now).days
        found.warning(
            key,
            f"{cert} expires on {leaf.not_after:%Y-%m-%d} (in {days} days)",
            "renew it before then, or the gateway stops publishing",
        )
    return False


def _reason(error: Exception) -> str:
    if isinstance(error, ssl.SSLError):
        return str(error.reason or error.strerror or error)
    return str(error)
