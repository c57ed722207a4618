"""Amazon event-stream framing and the RPC conventions Greengrass IPC puts on top of it.

Wire format (smithy "amazon-eventstream"): a 12-byte prelude (total length u32, headers length
u32, CRC32 of those 8 bytes), the headers, the payload, and a CRC32 of everything before it.
A header is: name length u8, name, value type u8, value. Integers are big-endian.

The RPC layer (aws-c-event-stream ``event_stream_rpc``) adds three int32 headers to every
message: ``:message-type``, ``:message-flags`` and ``:stream-id``; a new stream also carries
``operation`` (string). The server side of one connection is RpcServerConnection; the service
behind it (the nucleus double) supplies authentication and operation handlers. Standard library
only, so the nucleus double needs nothing else.
"""

from __future__ import annotations

import asyncio
import enum
import json
import struct
import uuid
import zlib
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")
PRELUDE_BYTES = 12
# aws-c-event-stream refuses larger messages; a peer sending them is broken, not slow.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_HEADERS_BYTES = 128 * 1024


class FrameError(ValueError):
    """The bytes are not a valid event-stream message (bad length, CRC or header)."""


class HeaderType(enum.IntEnum):
    """Header value types of the event-stream encoding."""

    BOOL_TRUE = 0
    BOOL_FALSE = 1
    BYTE = 2
    INT16 = 3
    INT32 = 4
    INT64 = 5
    BYTES = 6
    STRING = 7
    TIMESTAMP = 8  # int64 milliseconds since the epoch
    UUID = 9


class MessageType(enum.IntEnum):
    """Values of the ``:message-type`` header."""

    APPLICATION_MESSAGE = 0
    APPLICATION_ERROR = 1
    PING = 2
    PING_RESPONSE = 3
    CONNECT = 4
    CONNECT_ACK = 5
    PROTOCOL_ERROR = 6
    INTERNAL_ERROR = 7


class MessageFlag(enum.IntFlag):
    """Bits of the ``:message-flags`` header."""

    NONE = 0
    CONNECTION_ACCEPTED = 1
    TERMINATE_STREAM = 2


HeaderValue = bool | int | bytes | str | uuid.UUID

_FIXED = {
    HeaderType.BYTE: struct.Struct(">b"),
    HeaderType.INT16: struct.Struct(">h"),
    HeaderType.INT32: struct.Struct(">i"),
    HeaderType.INT64: struct.Struct(">q"),
    HeaderType.TIMESTAMP: struct.Struct(">q"),
}
_LENGTH16 = struct.Struct(">H")


@dataclass(frozen=True)
class Header:
    """One typed header."""

    name: str
    type: HeaderType
    value: HeaderValue

    @classmethod
    def string(cls, name: str, value: str) -> Header:
        """A string header."""
        return cls(name, HeaderType.STRING, value)

    @classmethod
    def int32(cls, name: str, value: int) -> Header:
        """An int32 header."""
        return cls(name, HeaderType.INT32, value)

    def encode(self) -> bytes:
        """The header's bytes on the wire."""
        name = self.name.encode("utf-8")
        if not 0 < len(name) < 256:
            raise FrameError(f"header name {self.name!r} must be 1-255 bytes")
        out = bytes([len(name)]) + name + bytes([self.type])
        kind = self.type
        if kind in (HeaderType.BOOL_TRUE, HeaderType.BOOL_FALSE):
            return out
        if kind in _FIXED:
            return out + _FIXED[kind].pack(int(self.value))
        if kind == HeaderType.UUID:
            value = self.value if isinstance(self.value, uuid.UUID) else uuid.UUID(str(self.value))
            return out + value.bytes
        if isinstance(self.value, str):
            raw = self.value.encode("utf-8")
        elif isinstance(self.value, bytes):
            raw = self.value
        else:
            raise FrameError(f"header {self.name!r} of type {kind.name} needs str or bytes")
        if len(raw) > 0xFFFF:
            raise FrameError(f"header {self.name!r} value is longer than 65535 bytes")
        return out + _LENGTH16.pack(len(raw)) + raw


def _decode_headers(data: bytes) -> Iterator[Header]:
    pos = 0
    while pos < len(data):
        try:
            name_length = data[pos]
            name = data[pos + 1 : pos + 1 + name_length].decode("utf-8")
            pos += 1 + name_length
            kind = HeaderType(data[pos])
            pos += 1
        except (IndexError, ValueError) as e:
            raise FrameError(f"malformed header at byte {pos}: {e}") from None
        value: HeaderValue
        if kind == HeaderType.BOOL_TRUE:
            value = True
        elif kind == HeaderType.BOOL_FALSE:
            value = False
        elif kind in _FIXED:
            fixed = _FIXED[kind]
            if pos + fixed.size > len(data):
                raise FrameError(f"header {name!r} is truncated")
            (value,) = fixed.unpack_from(data, pos)
            pos += fixed.size
        elif kind == HeaderType.UUID:
            if pos + 16 > len(data):
                raise FrameError(f"header {name!r} is truncated")
            value = uuid.UUID(bytes=data[pos : pos + 16])
            pos += 16
        else:
            if pos + 2 > len(data):
                raise FrameError(f"header {name!r} is truncated")
            (length,) = _LENGTH16.unpack_from(data, pos)
            raw = data[pos + 2 : pos + 2 + length]
            if len(raw) != length:
                raise FrameError(f"header {name!r} is truncated")
            pos += 2 + length
            value = raw.decode("utf-8") if kind == HeaderType.STRING else raw
        yield Header(name, kind, value)


@dataclass(frozen=True)
class Message:
    """One decoded event-stream message."""

    headers: tuple[Header, ...]
    payload: bytes = b""

    def get(self, name: str) -> HeaderValue | None:
        """The value of header ``name`` (case-insensitive, as aws-c-event-stream reads it)."""
        wanted = name.lower()
        return next((h.value for h in self.headers if h.name.lower() == wanted), None)

    def _int(self, name: str) -> int:
        value = self.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise FrameError(f"RPC message without int32 header {name}")
        return value

    @property
    def message_type(self) -> int:
        """``:message-type`` (see MessageType)."""
        return self._int(":message-type")

    @property
    def flags(self) -> MessageFlag:
        """``:message-flags``."""
        return MessageFlag(self._int(":message-flags"))

    @property
    def stream_id(self) -> int:
        """``:stream-id`` (0 for connection-level messages)."""
        return self._int(":stream-id")

    @property
    def operation(self) -> str | None:
        """The ``operation`` header that opens a stream."""
        value = self.get("operation")
        return value if isinstance(value, str) else None

    def encode(self) -> bytes:
        """The message's bytes on the wire."""
        return encode_message(self.headers, self.payload)


def encode_message(headers: Iterable[Header], payload: bytes = b"") -> bytes:
    """Frame headers and payload with prelude and both CRCs."""
    header_bytes = b"".join(h.encode() for h in headers)
    total = PRELUDE_BYTES + len(header_bytes) + len(payload) + _CRC.size
    if total > MAX_MESSAGE_BYTES or len(header_bytes) > MAX_HEADERS_BYTES:
        raise FrameError(f"message of {total} bytes is too large for event-stream")
    prelude = _PRELUDE.pack(total, len(header_bytes))
    body = prelude + _CRC.pack(zlib.crc32(prelude)) + header_bytes + payload
    return body + _CRC.pack(zlib.crc32(body))


def check_prelude(prelude: bytes) -> tuple[int, int]:
    """Validate the 12-byte prelude; return (total length, headers length)."""
    if len(prelude) != PRELUDE_BYTES:
        raise FrameError("truncated prelude")
    total, headers_length = _PRELUDE.unpack_from(prelude)
    (crc,) = _CRC.unpack_from(prelude, 8)
    if crc != zlib.crc32(prelude[:8]):
        raise FrameError("prelude CRC mismatch")
    if not PRELUDE_BYTES + _CRC.size + headers_length <= total <= MAX_MESSAGE_BYTES:
        raise FrameError(f"implausible message length {total} (headers {headers_length})")
    return total, headers_length


def decode_message(data: bytes) -> Message:
    """Decode exactly one complete message."""
    total, headers_length = check_prelude(data[:PRELUDE_BYTES])
    if len(data) != total:
        raise FrameError(f"message is {len(data)} bytes, prelude says {total}")
    (crc,) = _CRC.unpack_from(data, total - _CRC.size)
    if crc != zlib.crc32(data[: total - _CRC.size]):
        raise FrameError("message CRC mismatch")
    headers_end = PRELUDE_BYTES + headers_length
    headers = tuple(_decode_headers(data[PRELUDE_BYTES:headers_end]))
    return Message(headers, data[headers_end : total - _CRC.size])


async def read_message(reader: asyncio.StreamReader) -> Message:
    """Read one message; raises asyncio.IncompleteReadError at end of stream."""
    prelude = await reader.readexactly(PRELUDE_BYTES)
    total, _ = check_prelude(prelude)
    rest = await reader.readexactly(total - PRELUDE_BYTES)
    return decode_message(prelude + rest)


@dataclass
class MessageBuffer:
    """Incremental decoder for blocking sockets: feed bytes, take complete messages."""

    _data: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Message]:
        """Add received bytes; return every message completed by them."""
        self._data += data
        messages = []
        while len(self._data) >= PRELUDE_BYTES:
            total, _ = check_prelude(bytes(self._data[:PRELUDE_BYTES]))
            if len(self._data) < total:
                break
            messages.append(decode_message(bytes(self._data[:total])))
            del self._data[:total]
        return messages


def rpc_message(
    message_type: MessageType,
    *,
    stream_id: int = 0,
    flags: MessageFlag = MessageFlag.NONE,
    headers: Iterable[Header] = (),
    payload: bytes = b"",
) -> Message:
    """An RPC message: the given headers plus type, flags and stream id."""
    return Message(
        (
            *headers,
            Header.int32(":message-type", int(message_type)),
            Header.int32(":message-flags", int(flags)),
            Header.int32(":stream-id", stream_id),
        ),
        payload,
    )


# --------------------------------------------------------------------------- RPC server side

REFUSED_GRACE_SECONDS = 0.5
_JSON = Header.string(":content-type", "application/json")


class RpcError(Exception):
    """Raised by an operation handler; answered as a modeled APPLICATION_ERROR ending the stream."""

    def __init__(self, model: str, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", model))
        self.model = model
        self.body = body


@dataclass
class Reply:
    """An operation's initial response; a streaming operation keeps its stream for events."""

    body: dict[str, Any]
    keep_open: bool = False


Handler = Callable[["RpcServerConnection", int, dict[str, Any]], Awaitable[Reply]]


class RpcService(Protocol):
    """What a server connection asks of the service behind it (called on the server's loop)."""

    def authenticate(self, connect: Message) -> bool:
        """Whether to accept this CONNECT."""
        ...

    def handler(self, operation: str) -> Handler | None:
        """The handler of an operation, or None (answered as unsupported)."""
        ...

    def bad_request(self, reason: str) -> RpcError:
        """The modeled error for a request that is not a JSON object."""
        ...

    def on_event(self, name: str) -> None:
        """Count a connection event: "connect" (before its ack is sent) or "ping"."""
        ...

    def stream_closed(self, connection: RpcServerConnection, stream_id: int) -> None:
        """The client ended an open stream."""
        ...

    def connection_closed(self, connection: RpcServerConnection) -> None:
        """The connection is gone (its streams with it)."""
        ...


class RpcServerConnection:
    """The server side of one client connection: handshake, ping, one task per operation stream.

    Behaviour follows the Java server (``ServiceOperationMappingContinuationHandler`` and
    ``OperationContinuationHandler``): final replies carry TERMINATE_STREAM, modeled errors are
    APPLICATION_ERROR with TERMINATE_STREAM, a late TERMINATE on an ended stream is ignored.
    """

    def __init__(
        self, service: RpcService, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.service = service
        self.reader = reader
        self.writer = writer
        self.connected = False
        self.open_streams: set[int] = set()
        self.last_stream_id = 0
        self.tasks: set[asyncio.Task[None]] = set()

    def send(self, message: Message) -> None:
        # Every write happens on the server's loop thread, so messages never interleave.
        if not self.writer.is_closing():
            self.writer.write(message.encode())

    def send_reply(self, stream_id: int, model: str, body: dict[str, Any], *, final: bool) -> None:
        self.send(
            rpc_message(
                MessageType.APPLICATION_MESSAGE,
                stream_id=stream_id,
                flags=MessageFlag.TERMINATE_STREAM if final else MessageFlag.NONE,
                headers=(_JSON, Header.string("service-model-type", model)),
                payload=json.dumps(body).encode(),
            )
        )

    def send_error(self, stream_id: int, error: RpcError) -> None:
        self.open_streams.discard(stream_id)
        self.send(
            rpc_message(
                MessageType.APPLICATION_ERROR,
                stream_id=stream_id,
                flags=MessageFlag.TERMINATE_STREAM,
                headers=(_JSON, Header.string("service-model-type", error.model)),
                payload=json.dumps(error.body).encode(),
            )
        )

    def protocol_error(self, text: str) -> None:
        self.send(
            rpc_message(
                MessageType.PROTOCOL_ERROR,
                headers=(_JSON,),
                payload=json.dumps({"message": text}).encode(),
            )
        )
        self.writer.close()

    def abort(self) -> None:
        self.writer.transport.abort()

    async def serve(self) -> None:
        try:
            while True:
                message = await read_message(self.reader)
                self.dispatch(message)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away; its streams end with it
        except FrameError as e:
            self.protocol_error(f"invalid message: {e}")
        finally:
            self.service.connection_closed(self)
            for task in self.tasks:
                task.cancel()
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)
            self.writer.close()

    def dispatch(self, message: Message) -> None:
        kind = message.message_type
        if not self.connected:
            if kind != MessageType.CONNECT or message.stream_id != 0:
                self.protocol_error("the first message must be CONNECT")
                return
            accepted = self.service.authenticate(message)
            if accepted:  # counted before the ack, so a connected client always sees it
                self.connected = True
                self.service.on_event("connect")
            self.send(
                rpc_message(
                    MessageType.CONNECT_ACK,
                    flags=MessageFlag.CONNECTION_ACCEPTED if accepted else MessageFlag.NONE,
                )
            )
            if not accepted:
                # The Java server closes once the ack is flushed; the real client closes on
                # reading it. Closing first races with the client reading the ack (it then
                # reports "socket closed" instead of access denied), so give it a moment.
                asyncio.get_running_loop().call_later(REFUSED_GRACE_SECONDS, self.writer.close)
            return
        if kind == MessageType.PING:
            headers = tuple(h for h in message.headers if not h.name.startswith(":"))
            self.service.on_event("ping")
            self.send(
                rpc_message(MessageType.PING_RESPONSE, headers=headers, payload=message.payload)
            )
        elif kind == MessageType.PING_RESPONSE:
            pass
        elif kind == MessageType.APPLICATION_MESSAGE and message.stream_id > 0:
            self.on_stream_message(message)
        else:
            self.protocol_error(f"unexpected message type {kind} on stream {message.stream_id}")

    def on_stream_message(self, message: Message) -> None:
        stream_id = message.stream_id
        terminate = bool(message.flags & MessageFlag.TERMINATE_STREAM)
        if stream_id in self.open_streams:
            if terminate:
                self.open_streams.discard(stream_id)
                self.service.stream_closed(self, stream_id)
            return  # none of the served operations take stream events from the client
        if stream_id <= self.last_stream_id:
            return  # late TERMINATE on a stream we already ended, as the real server ignores
        self.last_stream_id = stream_id
        operation = message.operation
        if terminate and not message.payload:
            return
        if operation is None:
            self.protocol_error(f"stream {stream_id} opened without an operation header")
            return
        task = asyncio.get_running_loop().create_task(
            self.run_operation(stream_id, operation, message)
        )
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run_operation(self, stream_id: int, operation: str, message: Message) -> None:
        handler = self.service.handler(operation)
        if handler is None:
            body = {
                "error": "Unsupported Operation",
                "message": f"{operation} is an unsupported operation.",
            }
            self.send(
                rpc_message(
                    MessageType.APPLICATION_ERROR,
                    stream_id=stream_id,
                    flags=MessageFlag.TERMINATE_STREAM,
                    headers=(_JSON,),
                    payload=json.dumps(body).encode(),
                )
            )
            return
        try:
            request = json.loads(message.payload or b"{}")
            if not isinstance(request, dict):
                raise self.service.bad_request("the request must be a JSON object")
            reply = await handler(self, stream_id, request)
        except json.JSONDecodeError as e:
            self.send_error(stream_id, self.service.bad_request(f"invalid JSON: {e}"))
            return
        except RpcError as e:
            self.send_error(stream_id, e)
            return
        if reply.keep_open:
            self.open_streams.add(stream_id)
        self.send_reply(stream_id, f"{operation}Response", reply.body, final=not reply.keep_open)
