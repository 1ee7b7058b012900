"""What the async and sync clients share: types, encoding, the retry policy
and its budget, the retry decisions, the errors (clients/README.md)."""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import random
import threading
import time
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from ._pb import raccoon_pb2 as pb


class WireType(enum.Enum):
    """How a request and its ack travel."""

    PROTOBUF = "protobuf"
    JSON = "json"


class Serialization(enum.Enum):
    """How an event's data becomes its event_bytes."""

    PROTOBUF = "protobuf"
    JSON = "json"


class Status(enum.IntEnum):
    UNSPECIFIED = pb.STATUS_UNSPECIFIED
    SUCCESS = pb.STATUS_SUCCESS
    ERROR = pb.STATUS_ERROR


class Code(enum.IntEnum):
    UNSPECIFIED = pb.CODE_UNSPECIFIED
    OK = pb.CODE_OK
    BAD_REQUEST = pb.CODE_BAD_REQUEST
    INTERNAL_ERROR = pb.CODE_INTERNAL_ERROR
    MAX_CONNECTION_LIMIT_REACHED = pb.CODE_MAX_CONNECTION_LIMIT_REACHED
    MAX_USER_LIMIT_REACHED = pb.CODE_MAX_USER_LIMIT_REACHED


def _enum(kind: type[enum.IntEnum], value: int) -> Any:
    try:
        return kind(value)
    except ValueError:
        return value


@dataclasses.dataclass(frozen=True)
class Event:
    """One event: `type` names the topic; `data` is bytes (sent as given), a
    protobuf message, or (JSON serialization) any JSON-able value."""

    type: str
    data: Any


@dataclasses.dataclass
class Ack:
    """The server's SendEventResponse for one request."""

    req_guid: str
    status: Status | int
    code: Code | int
    sent_time: int = 0
    reason: str = ""
    data: dict[str, str] = dataclasses.field(default_factory=dict)
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.status == Status.SUCCESS and self.code == Code.OK


# --------------------------------------------------------------------------
# Errors


class RaccoonError(Exception):
    """A send that failed for good. `kind` is one of the subclasses' KIND."""

    KIND = "error"
    # Set on the error of an attempt that ran out of time (it costs the
    # budget more).
    timed_out = False

    def __init__(
        self,
        message: str = "",
        *,
        req_guid: str = "",
        attempts: int = 0,
        http_status: int | None = None,
        grpc_code: Any = None,
        code: Code | int | None = None,
        reason: str = "",
        budget_exhausted: bool = False,
    ) -> None:
        self.message = message
        self.req_guid = req_guid
        self.attempts = attempts
        self.http_status = http_status
        self.grpc_code = grpc_code
        self.code = code
        self.reason = reason
        self.budget_exhausted = budget_exhausted
        super().__init__(str(self))

    @property
    def kind(self) -> str:
        return self.KIND

    def __str__(self) -> str:
        parts = [f"raccoon: {self.KIND.replace('_', ' ')}"]
        if self.req_guid:
            n = self.attempts
            parts[0] += f" (req_guid {self.req_guid}" + (
                f", {n} attempt{'s' if n != 1 else ''})" if n else ")"
            )
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.grpc_code is not None:
            parts.append(f"gRPC {getattr(self.grpc_code, 'name', self.grpc_code)}")
        if self.code is not None and self.code != Code.UNSPECIFIED:
            parts.append(getattr(self.code, "name", str(self.code)))
        if self.reason:
            parts.append(self.reason)
        if self.message:
            parts.append(self.message)
        text = ": ".join(parts)
        if self.budget_exhausted:
            text += " (retry budget exhausted)"
        return text

    def retryable(self) -> bool:
        return isinstance(self, (ServerError, TransportError))

    def with_send(self, req_guid: str, attempts: int) -> RaccoonError:
        self.req_guid = self.req_guid or req_guid
        self.attempts = self.attempts or attempts
        self.args = (str(self),)
        return self

    def copy(self) -> RaccoonError:
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.args = self.args
        return clone


class BadRequestError(RaccoonError):
    """The server refused the request (4xx, CODE_BAD_REQUEST,
    INVALID_ARGUMENT): never retried."""

    KIND = "bad_request"


class ServerError(RaccoonError):
    """A retryable server failure left after the last attempt."""

    KIND = "server"


class TransportError(RaccoonError):
    """A connection failure left after the last attempt."""

    KIND = "transport"


class RefusedError(RaccoonError):
    """The WebSocket was refused at the upgrade (duplicate connection, server
    full, or an HTTP 4xx instead of 101)."""

    KIND = "refused"


class SendTimeoutError(RaccoonError):
    """The send timeout passed before the ack."""

    KIND = "timeout"


class ClosedError(RaccoonError):
    """The client was closed before the ack."""

    KIND = "closed"


class EncodingError(RaccoonError):
    """Data that cannot be serialized as asked, or options that do not fit."""

    KIND = "encoding"


# --------------------------------------------------------------------------
# Retry policy and budget


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter, a maximum number of
    attempts (the first included) and a retry budget shared by the sends of
    one client: a token bucket of `budget_capacity` tokens; a retry takes
    `retry_cost` (`timeout_cost` after a timed-out attempt); a send that
    succeeds puts one token back. Capacity 0 disables the budget."""

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    multiplier: float = 2.0
    budget_capacity: int = 100
    retry_cost: int = 5
    timeout_cost: int = 10

    def backoff_cap(self, attempt: int) -> float:
        """The upper bound of the sleep before attempt `attempt` (>= 2)."""
        if attempt < 2:
            return 0.0
        try:
            value = self.initial_backoff * self.multiplier ** (attempt - 2)
        except OverflowError:
            return self.max_backoff
        return min(self.max_backoff, value)

    def backoff(self, attempt: int, rand: Any = random.random) -> float:
        """Full jitter: uniform in [0, backoff_cap(attempt))."""
        return rand() * self.backoff_cap(attempt)


class Budget:
    """The retry token bucket; thread-safe."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._tokens = capacity
        self._lock = threading.Lock()

    def take(self, cost: int) -> bool:
        if self.capacity <= 0:
            return True
        with self._lock:
            if self._tokens < cost:
                return False
            self._tokens -= cost
            return True

    def refund(self) -> None:
        with self._lock:
            if self._tokens < self.capacity:
                self._tokens += 1

    @property
    def available(self) -> int:
        with self._lock:
            return self._tokens


def retryable_http_status(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


RETRYABLE_GRPC_CODES = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED"})


def retryable_grpc_code(code: Any) -> bool:
    return getattr(code, "name", str(code)) in RETRYABLE_GRPC_CODES


def retryable_ack(ack: Ack) -> bool:
    return ack.status == Status.ERROR and ack.code == Code.INTERNAL_ERROR


def ack_error(ack: Ack) -> RaccoonError:
    """The error a failed ack means."""
    kind = ServerError if retryable_ack(ack) else BadRequestError
    return kind(req_guid=ack.req_guid, code=ack.code, reason=ack.reason)


def is_refusal(ack: Ack) -> bool:
    """The server's refusal at the upgrade: STATUS_ERROR, code 4 or 5, no data."""
    return (
        not ack.req_guid
        and ack.status == Status.ERROR
        and ack.code in (Code.MAX_CONNECTION_LIMIT_REACHED, Code.MAX_USER_LIMIT_REACHED)
    )


# --------------------------------------------------------------------------
# Encoding


def serialize(data: Any, serialization: Serialization) -> bytes:
    """An event's data as its event_bytes: bytes as given; a protobuf message
    by its deterministic binary encoding or its proto3 JSON (compact); any
    other value as compact JSON (JSON serialization only)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, Message):
        if serialization is Serialization.JSON:
            return json.dumps(
                json_format.MessageToDict(data), separators=(",", ":"), ensure_ascii=False
            ).encode()
        return data.SerializeToString(deterministic=True)
    if serialization is Serialization.PROTOBUF:
        raise EncodingError(
            f"protobuf serialization needs a protobuf message or bytes, got {type(data).__name__}"
        )
    try:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as e:
        raise EncodingError(f"not JSON-able: {e}") from None


@dataclasses.dataclass
class Request:
    """One encoded SendEventRequest: the same bytes go out on every attempt."""

    req_guid: str
    body: bytes | str
    wire: WireType
    events: list[tuple[str, bytes]]


def encode_request(
    req_guid: str,
    events: list[Event],
    wire: WireType,
    serialization: Serialization,
    sent_time: float | None = None,
) -> Request:
    now = time.time() if sent_time is None else sent_time
    seconds = int(now)
    nanos = int(round((now - seconds) * 1e9))
    if nanos >= 1_000_000_000:
        seconds, nanos = seconds + 1, nanos - 1_000_000_000
    encoded = []
    for i, event in enumerate(events):
        try:
            encoded.append((event.type, serialize(event.data, serialization)))
        except EncodingError as e:
            raise EncodingError(f"event {i} ({event.type}): {e.message}", req_guid=req_guid) from None
    body: bytes | str
    if wire is WireType.PROTOBUF:
        msg = pb.SendEventRequest(req_guid=req_guid)
        msg.sent_time.seconds = seconds
        msg.sent_time.nanos = nanos
        for event_type, data in encoded:
            msg.events.add(event_bytes=data, type=event_type)
        body = msg.SerializeToString()
    else:
        body = json.dumps(
            {
                "req_guid": req_guid,
                "sent_time": {"seconds": seconds, "nanos": nanos},
                "events": [
                    {"event_bytes": base64.b64encode(data).decode("ascii"), "type": event_type}
                    for event_type, data in encoded
                ],
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )
    return Request(req_guid=req_guid, body=body, wire=wire, events=encoded)


def body_bytes(request: Request) -> bytes:
    body = request.body
    return body.encode() if isinstance(body, str) else body


def decode_ack(message: bytes | str) -> Ack:
    """A SendEventResponse: bytes are protobuf, str is JSON (numeric enums,
    as the server writes them)."""
    if isinstance(message, str):
        try:
            doc = json.loads(message)
        except ValueError as e:
            raise DecodeError(f"a JSON ack that is not JSON: {e}") from None
        if not isinstance(doc, Mapping):
            raise DecodeError("a JSON ack that is not an object")
        data = {str(k): str(v) for k, v in (doc.get("data") or {}).items()}
        return Ack(
            req_guid=data.get("req_guid", ""),
            status=_enum(Status, int(doc.get("status", 0))),
            code=_enum(Code, int(doc.get("code", 0))),
            sent_time=int(doc.get("sent_time", 0)),
            reason=str(doc.get("reason", "")),
            data=data,
        )
    msg = pb.SendEventResponse.FromString(bytes(message))
    return ack_from_proto(msg)


def ack_from_proto(msg: Any) -> Ack:
    data = dict(msg.data)
    return Ack(
        req_guid=data.get("req_guid", ""),
        status=_enum(Status, msg.status),
        code=_enum(Code, msg.code),
        sent_time=msg.sent_time,
        reason=msg.reason,
        data=data,
    )


def decode_http_ack(content: bytes, content_type: str, wire: WireType) -> Ack:
    """A REST response body, by its Content-Type (the request's wire type
    when it names none)."""
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json" or (not media and wire is WireType.JSON):
        return decode_ack(content.decode("utf-8", "replace"))
    return decode_ack(content)


CONTENT_TYPES = {WireType.PROTOBUF: "application/proto", WireType.JSON: "application/json"}
