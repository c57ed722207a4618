"""Running as an AWS IoT Greengrass v2 component: the IPC connection to the nucleus."""

from edge_agent.greengrass.errors import IpcNotFoundError, IpcRequestError
from edge_agent.greengrass.events import ConfigurationProposal, ConfigurationUpdate, Subscription
from edge_agent.greengrass.ipc import (
    ENV_AUTH_TOKEN,
    ENV_SOCKET_PATH,
    ENV_THING_NAME,
    GreengrassIpc,
    LifecycleState,
)

__all__ = [
    "ENV_AUTH_TOKEN",
    "ENV_SOCKET_PATH",
    "ENV_THING_NAME",
    "ConfigurationProposal",
    "ConfigurationUpdate",
    "GreengrassIpc",
    "IpcNotFoundError",
    "IpcRequestError",
    "LifecycleState",
    "Subscription",
]
