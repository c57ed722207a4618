"""The source implementation a configuration names, with its SMB password where it comes from."""

from __future__ import annotations

import os
from collections.abc import Callable

from edge_agent.config.sources import SourceConfig
from edge_agent.errors import ConfigError, ConfigProblem
from edge_agent.sources.base import Source

SecretReader = Callable[[str], str]
"""Reads a secret by id (Greengrass GetSecretValue)."""


def smb_password(source: SourceConfig, read_secret: SecretReader | None) -> str:
    """The SMB password from the configuration, an environment variable, or a secret."""
    smb = source.smb
    assert smb is not None
    if smb.password is not None:
        return smb.password
    if smb.password_env is not None:
        value = os.environ.get(smb.password_env)
        if value is None:
            raise ConfigError(
                [
                    ConfigProblem(
                        f"sources[{source.name}].smb.passwordEnv",
                        f"environment variable {smb.password_env} is not set",
                        "set it in the service environment (or use passwordSecretId in Greengrass)",
                    )
                ]
            )
        return value
    assert smb.password_secret_id is not None
    if read_secret is None:
        raise ConfigError(
            [
                ConfigProblem(
                    f"sources[{source.name}].smb.passwordSecretId",
                    "secrets are read through Greengrass, which is not available here",
                    "run as a Greengrass component, or use password / passwordEnv",
                )
            ]
        )
    return read_secret(smb.password_secret_id)


def make_source(config: SourceConfig, read_secret: SecretReader | None = None) -> Source:
    """The source implementation the configuration names."""
    if config.type == "smb":
        from edge_agent.sources.smb import SmbSource  # noqa: PLC0415 - the smb extra

        return SmbSource(config, smb_password(config, read_secret))
    from edge_agent.sources.local import LocalSource  # noqa: PLC0415

    return LocalSource(config)
