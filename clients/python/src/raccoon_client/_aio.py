"""The asyncio client: the one core that the sync client drives too."""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlparse

import grpc
import grpc.aio
import httpx
import websockets
import websockets.asyncio.client
import websockets.exceptions
from google.protobuf.message import DecodeError

from . import _core
from ._core import (
    CONTENT_TYPES,
    Ack,
    BadRequestError,
    Budget,
    ClosedError,
    EncodingError,
    Event,
    RaccoonError,
    RefusedError,
    Request,
    RetryPolicy,
    SendTimeoutError,
    Serialization,
    ServerError,
    TransportError,
    WireType,
)

_log = logging.getLogger("raccoon_client")
_log.addHandler(logging.NullHandler())

GRPC_METHOD = "/raystack.raccoon.v1beta1.EventService/SendEvent"
PROTOCOLS = ("websocket", "rest", "grpc")

AckCallback = Callable[[str, "Ack | None", "RaccoonError | None"], Any]


def _protocol_of(target: str) -> str:
    scheme = urlparse(target).scheme if "://" in target else ""
    if scheme in ("ws", "wss"):
        return "websocket"
    if scheme in ("http", "https"):
        return "rest"
    return "grpc"


class AsyncPendingSend:
    """One send in flight: `req_guid` at once; `await pending` (or
    `await pending.wait(timeout)`) gives its Ack or raises its RaccoonError."""

    def __init__(self, client: AsyncClient, request: Request) -> None:
        self.req_guid = request.req_guid
        self.request = request
        self.attempts = 0
        self._client = client
        self._future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_error: RaccoonError | None = None

    def done(self) -> bool:
        return self._future.done()

    async def wait(self, timeout: float | None = None) -> Ack:
        """The ack; raises the send's RaccoonError, or TimeoutError if
        `timeout` passes first (the send itself goes on)."""
        return await asyncio.wait_for(asyncio.shield(self._future), timeout)

    def __await__(self):
        return asyncio.shield(self._future).__await__()

    def add_done_callback(self, fn: Callable[[asyncio.Future[Ack]], Any]) -> None:
        self._future.add_done_callback(fn)


class AsyncClient:
    """Sends batches of events to one Raccoon server over one protocol.

    `target` is ws://host:port/api/v1/events (WebSocket),
    http://host:port/api/v1/events (REST) or host:port (gRPC); `protocol`
    overrides what the scheme says. Use as `async with AsyncClient(...) as c`,
    which connects and, on exit, closes with `close_timeout`. Safe for many
    tasks of one event loop."""

    def __init__(
        self,
        target: str,
        *,
        protocol: str | None = None,
        headers: Mapping[str, str] | None = None,
        conn_id: str | None = None,
        conn_id_header: str = "X-User-ID",
        conn_group: str | None = None,
        conn_group_header: str = "X-User-Group",
        wire_type: WireType = WireType.PROTOBUF,
        serialization: Serialization = Serialization.PROTOBUF,
        send_timeout: float = 30.0,
        attempt_timeout: float = 10.0,
        dial_timeout: float = 10.0,
        close_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        logger: logging.Logger | None = None,
        on_ack: AckCallback | None = None,
        on_disconnect: Callable[[BaseException | None], Any] | None = None,
        on_reconnect: Callable[[], Any] | None = None,
        max_reconnects: int = 60,
        max_pending: int = 10_000,
        ssl_context: ssl.SSLContext | None = None,
        grpc_credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.protocol = protocol or _protocol_of(target)
        if self.protocol not in PROTOCOLS:
            raise EncodingError(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        if self.protocol == "grpc" and wire_type is not WireType.PROTOBUF:
            raise EncodingError("gRPC carries protobuf only, not wire type json")
        self.target = target
        self.wire_type = WireType(wire_type)
        self.serialization = Serialization(serialization)
        self.send_timeout = send_timeout
        self.attempt_timeout = attempt_timeout
        self.dial_timeout = dial_timeout
        self.close_timeout = close_timeout
        self.retry = retry or RetryPolicy()
        self.logger = logger or _log
        self.on_ack = on_ack
        self.on_disconnect = on_disconnect
        self.on_reconnect = on_reconnect
        self.max_reconnects = max_reconnects
        self.max_pending = max_pending
        self.ssl_context = ssl_context
        self.grpc_credentials = grpc_credentials
        self.headers: dict[str, str] = dict(headers or {})
        if conn_id:
            self.headers[conn_id_header] = conn_id
        if conn_group and conn_group_header:
            self.headers[conn_group_header] = conn_group
        self.budget = Budget(self.retry.budget_capacity)
        self._outstanding: dict[AsyncPendingSend, None] = {}
        self._closed = False
        self._transport: _Transport | None = None
        self._connect_lock: asyncio.Lock | None = None

    # -- lifecycle --------------------------------------------------------

    async def connect(self) -> AsyncClient:
        """Opens the connection (WebSocket: dials; a refusal raises
        RefusedError). `send` connects on first use too."""
        if self._transport is not None:
            return self
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self._transport is None:
                kind = {"websocket": _WebSocket, "rest": _REST, "grpc": _GRPC}[self.protocol]
                transport = kind(self)
                await transport.open()
                self._transport = transport
        return self

    async def __aenter__(self) -> AsyncClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close(self.close_timeout)

    async def flush(self, timeout: float | None = None) -> None:
        """Waits until every send made before it finished; raises
        TimeoutError naming how many are pending if `timeout` passes."""
        pending = [p._future for p in self._outstanding]
        if not pending:
            return
        done, not_done = await asyncio.wait(pending, timeout=timeout)
        if not_done:
            raise TimeoutError(f"raccoon: flush: {len(not_done)} sends still pending")

    async def close(self, timeout: float | None = None) -> None:
        """Refuses new sends, flushes up to `timeout` (default
        close_timeout), fails what is left with ClosedError, closes."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.flush(self.close_timeout if timeout is None else timeout)
        except TimeoutError:
            pass
        for p in list(self._outstanding):
            self._finish(p, None, ClosedError(req_guid=p.req_guid))
        if self._transport is not None:
            await self._transport.close()

    @property
    def pending_count(self) -> int:
        return len(self._outstanding)

    # -- sending ----------------------------------------------------------

    async def send(self, events: Iterable[Event], *, req_guid: str | None = None) -> AsyncPendingSend:
        """Sends one batch; returns once it is handed to the connection, with
        its req_guid (a random UUID unless given)."""
        guid = req_guid or str(uuid.uuid4())
        if self._closed:
            raise ClosedError(req_guid=guid)
        request = _core.encode_request(guid, list(events), self.wire_type, self.serialization)
        await self.connect()
        if self.max_pending and len(self._outstanding) >= self.max_pending:
            raise TransportError(f"buffer full: {self.max_pending} sends pending", req_guid=guid)
        p = AsyncPendingSend(self, request)
        self._outstanding[p] = None
        p._timer = asyncio.get_running_loop().call_later(self.send_timeout, self._timed_out, p)
        assert self._transport is not None
        await self._transport.start(p)
        return p

    async def send_wait(self, events: Iterable[Event], *, req_guid: str | None = None) -> Ack:
        """`send`, then the ack."""
        return await (await self.send(events, req_guid=req_guid))

    def _timed_out(self, p: AsyncPendingSend) -> None:
        last = p._last_error
        self._finish(
            p, None, SendTimeoutError(f"no ack within {self.send_timeout}s" + (f" ({last})" if last else ""))
        )

    def _finish(self, p: AsyncPendingSend, ack: Ack | None, error: RaccoonError | None) -> None:
        if p._future.done():
            return
        if p._timer is not None:
            p._timer.cancel()
        if ack is not None:
            ack.attempts = p.attempts
            self.budget.refund()
            p._future.set_result(ack)
        else:
            assert error is not None
            error.with_send(p.req_guid, p.attempts)
            p._future.set_exception(error)
            # Retrieved or not, a failed send is reported through its future.
            p._future.exception()
        self._outstanding.pop(p, None)
        if self._transport is not None:
            self._transport.forget(p)
        if self.on_ack is not None:
            try:
                self.on_ack(p.req_guid, ack, error)
            except Exception:  # a user's callback must not break the client
                self.logger.exception("raccoon: on_ack raised")

    def _may_retry(self, p: AsyncPendingSend, error: RaccoonError, cost: int) -> bool:
        """Whether a failed attempt gets another; finishes p when not."""
        p._last_error = error
        if not error.retryable() or p.attempts >= self.retry.max_attempts:
            self._finish(p, None, error)
            return False
        if not self.budget.take(cost):
            error.budget_exhausted = True
            self._finish(p, None, error)
            return False
        return True

    async def _run_attempts(self, p: AsyncPendingSend, attempt: Callable[[AsyncPendingSend], Any]) -> None:
        """The retry loop of REST and gRPC."""
        while not p.done():
            p.attempts += 1
            timed_out = False
            try:
                ack = await attempt(p)
                error = None if ack.ok else _core.ack_error(ack)
            except RaccoonError as e:
                ack, error = None, e
                timed_out = e.timed_out
            except asyncio.CancelledError:
                if p.done():
                    return
                raise
            if p.done():
                return
            if error is None:
                self._finish(p, ack, None)
                return
            cost = self.retry.timeout_cost if timed_out else self.retry.retry_cost
            if not self._may_retry(p, error, cost):
                return
            delay = self.retry.backoff(p.attempts + 1)
            self.logger.debug("raccoon: retrying %s in %.3fs: %s", p.req_guid, delay, error)
            await asyncio.sleep(delay)


class _Transport:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def open(self) -> None: ...

    async def start(self, p: AsyncPendingSend) -> None: ...

    def forget(self, p: AsyncPendingSend) -> None:
        task = p._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def close(self) -> None: ...


class _REST(_Transport):
    async def open(self) -> None:
        c = self.client
        self.http = httpx.AsyncClient(
            verify=c.ssl_context if c.ssl_context is not None else True,
            # httpcore's pool does work per pooled connection on every
            # request: 8 connections sent 5x what 64 did (bench/client_bench.py).
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
        )
        self.headers = {**c.headers, "Content-Type": CONTENT_TYPES[c.wire_type]}

    async def start(self, p: AsyncPendingSend) -> None:
        p._task = asyncio.create_task(self.client._run_attempts(p, self.attempt))

    async def attempt(self, p: AsyncPendingSend) -> Ack:
        c = self.client
        try:
            resp = await self.http.post(
                c.target, content=_core.body_bytes(p.request), headers=self.headers, timeout=c.attempt_timeout
            )
        except httpx.TimeoutException as e:
            error = TransportError(f"no answer within {c.attempt_timeout}s: {type(e).__name__}")
            error.timed_out = True
            raise error from None
        except httpx.HTTPError as e:
            raise TransportError(f"{type(e).__name__}: {e}") from None
        try:
            ack = _core.decode_http_ack(resp.content, resp.headers.get("content-type", ""), c.wire_type)
        except (DecodeError, ValueError, UnicodeDecodeError):
            ack = None
        if resp.status_code == 200:
            if ack is None:
                raise ServerError("undecodable ack", http_status=200)
            if ack.req_guid != p.req_guid:
                c.logger.warning("raccoon: REST ack names req_guid %r, sent %r", ack.req_guid, p.req_guid)
            return ack
        kind = ServerError if _core.retryable_http_status(resp.status_code) else BadRequestError
        if ack is not None:
            raise kind(http_status=resp.status_code, code=ack.code, reason=ack.reason)
        raise kind(http_status=resp.status_code, reason=resp.text[:200].strip())

    async def close(self) -> None:
        await self.http.aclose()


class _GRPC(_Transport):
    async def open(self) -> None:
        c = self.client
        address = c.target.split("://", 1)[1] if "://" in c.target else c.target
        if c.grpc_credentials is not None:
            self.channel = grpc.aio.secure_channel(address, c.grpc_credentials)
        else:
            self.channel = grpc.aio.insecure_channel(address)
        # The request's bytes as they are: the same on every attempt.
        self.call = self.channel.unary_unary(
            GRPC_METHOD,
            request_serializer=lambda body: body,
            response_deserializer=_core.pb.SendEventResponse.FromString,
        )
        self.metadata = tuple((k.lower(), v) for k, v in c.headers.items())

    async def start(self, p: AsyncPendingSend) -> None:
        p._task = asyncio.create_task(self.client._run_attempts(p, self.attempt))

    async def attempt(self, p: AsyncPendingSend) -> Ack:
        c = self.client
        try:
            resp = await self.call(p.request.body, timeout=c.attempt_timeout, metadata=self.metadata)
        except grpc.aio.AioRpcError as e:
            code = e.code()
            if code == grpc.StatusCode.UNAVAILABLE:
                raise TransportError(grpc_code=code, reason=e.details() or "") from None
            if _core.retryable_grpc_code(code):
                error = ServerError(grpc_code=code, reason=e.details() or "")
                error.timed_out = code == grpc.StatusCode.DEADLINE_EXCEEDED
                raise error from None
            raise BadRequestError(grpc_code=code, reason=e.details() or "") from None
        ack = _core.ack_from_proto(resp)
        if ack.req_guid != p.req_guid:
            c.logger.warning("raccoon: gRPC ack names req_guid %r, sent %r", ack.req_guid, p.req_guid)
        return ack

    async def close(self) -> None:
        await self.channel.close()


class _WsSend:
    __slots__ = ("p", "gen", "timer")

    def __init__(self, p: AsyncPendingSend) -> None:
        self.p = p
        # The connection generation it was last written on; 0: due for a (re-)send.
        self.gen = 0
        self.timer: asyncio.TimerHandle | None = None


class _WebSocket(_Transport):
    """One connection; acks matched by req_guid; reconnect and re-send."""

    async def open(self) -> None:
        self.conn: websockets.asyncio.client.ClientConnection | None = None
        self.gen = 0
        # Insertion order is send order: re-sends keep it.
        self.inflight: collections.OrderedDict[str, _WsSend] = collections.OrderedDict()
        self.write_lock = asyncio.Lock()
        self.refused: RaccoonError | None = None
        self.dead: RaccoonError | None = None
        self.closing = False
        conn = await self.dial()
        await self.attach(conn)
        self.manager = asyncio.create_task(self.manage(conn))

    async def dial(self) -> websockets.asyncio.client.ClientConnection:
        c = self.client
        try:
            return await websockets.asyncio.client.connect(
                c.target,
                additional_headers=c.headers,
                open_timeout=c.dial_timeout,
                ping_interval=None,
                close_timeout=5,
                max_size=1 << 20,
                ssl=c.ssl_context if c.target.startswith("wss:") else None,
            )
        except websockets.exceptions.InvalidStatus as e:
            status = e.response.status_code
            body = (e.response.body or b"").decode("utf-8", "replace").strip()
            if 400 <= status < 500 and status != 429:
                raise RefusedError(http_status=status, reason=body) from None
            raise TransportError(http_status=status, reason=body) from None
        except (TimeoutError, OSError, websockets.exceptions.WebSocketException) as e:
            raise TransportError(f"{type(e).__name__}: {e}") from None

    async def manage(self, conn: websockets.asyncio.client.ClientConnection) -> None:
        c = self.client
        while True:
            error = await self.read_loop(conn)
            self.conn = None
            if c.on_disconnect is not None:
                c.on_disconnect(error)
            if self.closing or self.refused is not None:
                return
            c.logger.info("raccoon: WebSocket dropped (%s); reconnecting", error)
            new_conn = None
            last: RaccoonError | None = None
            n = 0
            while c.max_reconnects < 0 or n < c.max_reconnects:
                n += 1
                await asyncio.sleep(c.retry.backoff(n + 1))
                if self.closing:
                    return
                try:
                    new_conn = await self.dial()
                    break
                except RefusedError as e:
                    self.fail_all(e, refused=True)
                    return
                except TransportError as e:
                    last = e
                    c.logger.debug("raccoon: reconnect %d failed: %s", n, e)
            if new_conn is None:
                if last is None:
                    last = TransportError(f"connection lost: {error}")
                last.message = f"gave up reconnecting after {n}: {last.message}"
                self.fail_all(last, refused=False)
                return
            if self.closing:
                await new_conn.close()
                return
            conn = new_conn
            await self.attach(conn)
            if c.on_reconnect is not None:
                c.on_reconnect()

    async def read_loop(self, conn: websockets.asyncio.client.ClientConnection) -> BaseException | None:
        c = self.client
        try:
            async for message in conn:
                try:
                    ack = _core.decode_ack(message)
                except (DecodeError, ValueError) as e:
                    c.logger.warning("raccoon: undecodable message from the server: %s", e)
                    continue
                if _core.is_refusal(ack):
                    self.fail_all(RefusedError(code=ack.code, reason=ack.reason), refused=True)
                    return RefusedError(code=ack.code, reason=ack.reason)
                s = self.inflight.get(ack.req_guid)
                if s is None:
                    c.logger.debug("raccoon: ack for no pending send: %s", ack.req_guid)
                    continue
                if ack.ok:
                    c._finish(s.p, ack, None)
                    continue
                self.retry_later(s, _core.ack_error(ack), c.retry.retry_cost)
            return None
        except websockets.exceptions.ConnectionClosed as e:
            return e
        except Exception as e:  # a broken connection of any kind: reconnect
            return e

    def fail_all(self, error: RaccoonError, *, refused: bool) -> None:
        if refused:
            self.refused = error
        else:
            self.dead = error
        for s in list(self.inflight.values()):
            self.client._finish(s.p, None, error.copy())

    async def attach(self, conn: websockets.asyncio.client.ClientConnection) -> None:
        async with self.write_lock:
            self.conn = conn
            self.gen += 1
            for s in list(self.inflight.values()):
                if s.gen != self.gen:
                    await self.write(s, conn, self.gen)

    async def start(self, p: AsyncPendingSend) -> None:
        failed = self.refused or self.dead
        if failed is not None:
            self.client._finish(p, None, failed.copy())
            return
        s = _WsSend(p)
        self.inflight[p.req_guid] = s
        async with self.write_lock:
            if self.conn is not None and s.gen == 0 and not p.done():
                await self.write(s, self.conn, self.gen)

    async def write(self, s: _WsSend, conn: Any, gen: int) -> None:
        """One more attempt of s on conn; write_lock is held."""
        c = self.client
        p = s.p
        if p.done():
            return
        if p.attempts >= c.retry.max_attempts:
            last = p._last_error or TransportError("connection lost before the ack")
            c._finish(p, None, last)
            return
        # Counted and marked before the write: the ack may be read while
        # the send is still being awaited.
        p.attempts += 1
        s.gen = gen
        if s.timer is not None:
            s.timer.cancel()
        s.timer = asyncio.get_running_loop().call_later(c.attempt_timeout, self.attempt_timed_out, s, gen)
        try:
            await asyncio.wait_for(conn.send(p.request.body), c.attempt_timeout)
        except Exception as e:  # the reader sees the drop; the next connection re-sends
            c.logger.debug("raccoon: write of %s failed: %s", p.req_guid, e)
            if not p.done():
                p.attempts -= 1
                s.gen = 0
            p._last_error = TransportError(f"{type(e).__name__}: {e}")

    def attempt_timed_out(self, s: _WsSend, gen: int) -> None:
        if self.inflight.get(s.p.req_guid) is s and s.gen == gen:
            error = TransportError(f"no ack within {self.client.attempt_timeout}s")
            self.retry_later(s, error, self.client.retry.timeout_cost)

    def retry_later(self, s: _WsSend, error: RaccoonError, cost: int) -> None:
        c = self.client
        if not c._may_retry(s.p, error, cost):
            return
        s.gen = 0
        if s.timer is not None:
            s.timer.cancel()
        delay = c.retry.backoff(s.p.attempts + 1)
        s.timer = asyncio.get_running_loop().call_later(delay, lambda: asyncio.ensure_future(self.resend(s)))

    async def resend(self, s: _WsSend) -> None:
        async with self.write_lock:
            if self.inflight.get(s.p.req_guid) is s and s.gen == 0 and self.conn is not None:
                await self.write(s, self.conn, self.gen)

    def forget(self, p: AsyncPendingSend) -> None:
        s = self.inflight.get(p.req_guid)
        if s is not None and s.p is p:
            del self.inflight[p.req_guid]
            if s.timer is not None:
                s.timer.cancel()

    async def close(self) -> None:
        self.closing = True
        conn = self.conn
        if conn is not None:
            await conn.close()
        else:
            # Between connections: nothing to wait for but a back-off.
            self.manager.cancel()
        try:
            await asyncio.wait_for(self.manager, 10)
        except (TimeoutError, asyncio.CancelledError):
            self.manager.cancel()
