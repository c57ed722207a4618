"""awsiot/awscrt errors mapped to the agent's own tree, at the IPC boundary.

- ``ServiceError`` (the nucleus is busy, e.g. its spooler is full) -> transient ``PublishError``;
- ``UnauthorizedError`` -> ``PublishRejectedError`` naming the recipe's ``accessControl`` fix;
- a connection that cannot be opened or is lost -> ``NotConnectedError`` (in ipc.py);
- for non-publish requests: ``IpcRequestError`` / ``IpcNotFoundError``.
"""

from __future__ import annotations

from edge_agent.errors import EdgeAgentError, PublishError, PublishRejectedError
from edge_agent.extras import optional_dependency

with optional_dependency("greengrass"):
    from awscrt.exceptions import AwsCrtError
    from awsiot.eventstreamrpc import (
        AccessDeniedError,
        ConnectionClosedError,
        DeserializeError,
        EventStreamError,
        SerializeError,
        StreamClosedError,
        UnmappedDataError,
    )
    from awsiot.greengrasscoreipc import model

MQTT_PROXY_POLICY = "aws.greengrass.ipc.mqttproxy"
PUBSUB_POLICY = "aws.greengrass.ipc.pubsub"
SECRETS_POLICY = "aws.greengrass.SecretManager"

# The connection is down or went down under a request: retry once reconnected.
CONNECTION_ERRORS = (
    AccessDeniedError,
    ConnectionClosedError,
    StreamClosedError,
    EventStreamError,
    AwsCrtError,
)
# The nucleus answered something this SDK cannot read: retrying will not help.
PROTOCOL_ERRORS = (UnmappedDataError, DeserializeError, SerializeError)


class IpcRequestError(EdgeAgentError):
    """A non-publish IPC request failed; ``transient`` says whether a retry may succeed."""

    def __init__(self, operation: str, reason: str, *, transient: bool, hint: str = "") -> None:
        self.operation = operation
        self.reason = reason
        self.transient = transient
        self.hint = hint
        super().__init__(f"{operation}: {reason}" + (f" — {hint}" if hint else ""))


class IpcNotFoundError(IpcRequestError):
    """The configuration key path or the secret does not exist (ResourceNotFoundError)."""

    def __init__(self, operation: str, reason: str) -> None:
        super().__init__(operation, reason, transient=False)


def error_text(error: BaseException) -> str:
    """The most useful text of an awsiot/awscrt error (modeled errors carry ``message``)."""
    return getattr(error, "message", None) or str(error) or type(error).__name__


def access_control_hint(policy: str, operation: str, resource: str) -> str:
    """How to allow ``operation`` on ``resource`` in the recipe."""
    return (
        f"allow it in the recipe: ComponentConfiguration.DefaultConfiguration.accessControl."
        f"{policy} needs a policy with operations [aws.greengrass#{operation}] whose resources "
        f"cover {resource!r}, then redeploy the component ({{iot:thingName}} in resources is "
        "replaced only when the nucleus has interpolateComponentConfiguration: true)"
    )


def publish_error(operation: str, policy: str, topic: str, error: BaseException) -> PublishError:
    """A failed publish as our error: transient (retry later) or rejected (refused as it is)."""
    text = error_text(error)
    if isinstance(error, model.UnauthorizedError):
        return PublishRejectedError(
            f"{operation} to {topic!r} not authorized: {text} — "
            + access_control_hint(policy, operation, topic)
        )
    # No answer at all is not mapped here: GreengrassIpc drops the connection for it
    # (NotConnectedError), as the publisher's acknowledgement timeout asks.
    if isinstance(error, model.ServiceError):
        return PublishError(
            f"{operation} to {topic!r}: the nucleus cannot take it now ({text}); retry later",
            transient=True,
        )
    if isinstance(error, model.GreengrassCoreIPCError) and error.is_retryable():
        return PublishError(f"{operation} to {topic!r}: {text}", transient=True)
    return PublishRejectedError(f"{operation} to {topic!r} refused: {type(error).__name__}: {text}")


def request_error(operation: str, error: BaseException, *, resource: str = "") -> IpcRequestError:
    """A failed non-publish request as our error."""
    text = error_text(error)
    if isinstance(error, model.ResourceNotFoundError):
        return IpcNotFoundError(operation, text)
    if isinstance(error, model.UnauthorizedError):
        policy = SECRETS_POLICY if operation == "GetSecretValue" else "the matching policy"
        return IpcRequestError(
            operation,
            f"not authorized: {text}",
            transient=False,
            hint=access_control_hint(policy, operation, resource or "*"),
        )
    transient = isinstance(error, TimeoutError) or (
        isinstance(error, model.GreengrassCoreIPCError) and error.is_retryable()
    )
    return IpcRequestError(operation, f"{type(error).__name__}: {text}", transient=transient)
