"""A client for Raccoon, the clickstream ingestion server (wire-compatible
with raystack/raccoon), over WebSocket, REST and gRPC: `AsyncClient` for
asyncio and its blocking twin `Client`, on one core. The design is shared
with the other languages' clients: clients/README.md in the repository."""

from ._aio import AsyncClient, AsyncPendingSend
from ._core import (
    Ack,
    BadRequestError,
    ClosedError,
    Code,
    EncodingError,
    Event,
    RaccoonError,
    RefusedError,
    RetryPolicy,
    SendTimeoutError,
    Serialization,
    ServerError,
    Status,
    TransportError,
    WireType,
    serialize,
)
from ._sync import Client, PendingSend

__all__ = [
    "Ack",
    "AsyncClient",
    "AsyncPendingSend",
    "BadRequestError",
    "Client",
    "ClosedError",
    "Code",
    "EncodingError",
    "Event",
    "PendingSend",
    "RaccoonError",
    "RefusedError",
    "RetryPolicy",
    "SendTimeoutError",
    "Serialization",
    "ServerError",
    "Status",
    "TransportError",
    "WireType",
    "serialize",
]
__version__ = "0.1.0"
