"""SMB passwords from AWS Secrets Manager, through the nucleus (GetSecretValue)."""

from __future__ import annotations

import asyncio
import threading

from edge_agent.config.models import AgentConfig
from edge_agent.errors import ConfigError, ConfigProblem
from edge_agent.greengrass.errors import IpcRequestError
from edge_agent.greengrass.ipc import GreengrassIpc
from edge_agent.sources.factory import SecretReader

_HINT = (
    "add the secret to the aws.greengrass.SecretManager component's cloudSecrets in the same "
    "deployment, and allow it under accessControl.aws.greengrass.SecretManager"
)


def secret_reader(ipc: GreengrassIpc, config: AgentConfig) -> SecretReader:
    """A blocking ``read_secret(secret_id) -> str`` for the Agent, which calls it from a worker
    thread while it starts. Call this on the event loop that ``ipc`` runs on.

    A secret that is missing or not allowed raises ConfigError naming the sources' key
    ``passwordSecretId``; a transient failure (no answer, connection lost) raises the IPC error
    as it is, so the start is retried.
    """
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()

    def read_secret(secret_id: str) -> str:
        if threading.get_ident() == loop_thread:
            raise RuntimeError("read_secret blocks: call it from a worker thread")
        where = (
            ", ".join(
                f"sources[{s.name}].smb.passwordSecretId"
                for s in config.sources
                if s.smb is not None and s.smb.password_secret_id == secret_id
            )
            or "passwordSecretId"
        )
        future = asyncio.run_coroutine_threadsafe(ipc.get_secret_value(secret_id), loop)
        try:
            value = future.result(timeout=ipc.request_timeout_seconds + 5)
        except TimeoutError:
            future.cancel()
            raise IpcRequestError(
                "GetSecretValue", f"no answer for {secret_id!r}", transient=True
            ) from None
        except IpcRequestError as e:
            if e.transient:
                raise
            raise ConfigError(
                [ConfigProblem(where, f"secret {secret_id!r}: {e.reason}", e.hint or _HINT)]
            ) from None
        if isinstance(value, str):
            return value
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            problem = ConfigProblem(
                where,
                f"secret {secret_id!r} holds binary data, not a password",
                "store the password as the secret's plain text (SecretString)",
            )
            raise ConfigError([problem]) from None

    return read_secret
