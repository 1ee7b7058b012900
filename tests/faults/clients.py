"""The load of a fault run: clients of the three transports (REST, WebSocket,
gRPC) sending batches back to back from threads, every request and its
outcome written in a ledger. A client sends one request at a time and never
retries, so each event is sent once and an event found twice in the broker
was duplicated on the way."""

import asyncio
import contextlib
import dataclasses
import threading
import time
import uuid

import grpc
import requests
import websockets
import websockets.exceptions

from integration_helpers import (
    HOST,
    Event,
    STATUS_SUCCESS,
    decode_response,
    decode_ws_ack,
    json_request,
    pb,
    post_events,
    proto_request,
    ws_url,
)
from raystack.raccoon.v1beta1 import raccoon_pb2_grpc

TRANSPORTS = ("rest", "websocket", "grpc")
CLIENTS_PER_TRANSPORT = 2
EVENTS_PER_BATCH = 5
EVENT_TYPE = "fault"
ANSWER_TIMEOUT_S = 30.0
# Each client's bounds, whatever the scenario does.
CLIENT_LIMIT_S = 240.0
CLIENT_MAX_REQUESTS = 20000
# A client whose server cannot be reached this many times in a row stops: it is gone.
UNREACHABLE_LIMIT = 5
PAUSE_AFTER_FAILURE_S = 0.1


@dataclasses.dataclass
class Request:
    transport: str
    guid: str
    payloads: list
    sent_at: float
    answered_at: float = float("inf")
    outcome: str = "none"  # success, error, or none (no answer)
    detail: str = ""


class Unreachable(Exception):
    """The request could not have reached the server (connection refused)."""


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []

    def add(self, request):
        with self.lock:
            self.requests.append(request)

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def successes(self, transport, sent_after=0.0):
        return sum(1 for r in self.snapshot()
                   if r.transport == transport and r.outcome == "success"
                   and r.sent_at > sent_after)

    def wait_for_successes(self, count, sent_after=0.0, timeout=60.0):
        """Waits until every transport has `count` successes sent after
        `sent_after`; returns the seconds it took, or None at the deadline."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if all(self.successes(t, sent_after) >= count for t in TRANSPORTS):
                return time.monotonic() - started
            time.sleep(0.05)
        return None


def event_payloads(tag):
    """Unique payloads holding bytes a text path would mangle."""
    return [f"{tag}/{i}/".encode() + bytes([0, 0xFF, 0x80, 0xC3, 0x28, i]) * 4
            for i in range(EVENTS_PER_BATCH)]


def settle(request, decoded):
    request.answered_at = time.monotonic()
    if decoded["status"] == STATUS_SUCCESS:
        request.outcome = "success"
    else:
        request.outcome = "error"
        request.detail = f"code {decoded['code']}: {decoded['reason']}"


class Client(threading.Thread):
    transport = ""

    def __init__(self, index, server, ledger, stopping, going):
        super().__init__(daemon=True, name=f"{self.transport}-{index}")
        self.index = index
        self.server = server
        self.ledger = ledger
        self.stopping = stopping
        self.going = going
        self.idle = threading.Event()
        self.idle.set()
        self.user_id = f"fault-{self.transport}-{index}-{uuid.uuid4().hex[:6]}"

    def run(self):
        deadline = time.monotonic() + CLIENT_LIMIT_S
        unreachable = 0
        sequence = 0
        while (not self.stopping.is_set() and time.monotonic() < deadline
               and sequence < CLIENT_MAX_REQUESTS and unreachable < UNREACHABLE_LIMIT):
            if not self.going.wait(timeout=1.0):
                continue
            # Busy before looking again, so held() sees either this request or none.
            self.idle.clear()
            if not self.going.is_set():
                self.idle.set()
                continue
            try:
                unreachable = self.step(sequence, unreachable)
            finally:
                self.idle.set()
            sequence += 1
        self.close()

    def step(self, sequence, unreachable):
        """Sends request number `sequence`; returns the count of failures to reach the server."""
        guid = f"{self.user_id}-{sequence}"
        fmt = "proto" if sequence % 2 == 0 else "json"
        request = Request(self.transport, guid, event_payloads(guid), time.monotonic())
        try:
            self.send(request, fmt)
        except Unreachable:
            time.sleep(PAUSE_AFTER_FAILURE_S)
            return unreachable + 1
        except Exception as e:  # noqa: BLE001 - any failure is an unanswered request
            request.outcome = "none"
            request.detail = f"{type(e).__name__}: {e}"[:300]
            self.reset()
        self.ledger.add(request)
        if request.outcome != "success":
            time.sleep(PAUSE_AFTER_FAILURE_S)
        return 0

    def reset(self):
        """Forgets a connection a failure may have broken."""

    def close(self):
        pass


def encoded(fmt, request):
    events = [Event(EVENT_TYPE, p) for p in request.payloads]
    if fmt == "proto":
        return proto_request(events, request.guid)
    return json_request(events, request.guid)


class RestClient(Client):
    transport = "rest"

    def __init__(self, *args):
        super().__init__(*args)
        self.session = requests.Session()

    def send(self, request, fmt):
        try:
            resp = post_events(self.server.events_url, fmt, encoded(fmt, request),
                               session=self.session, timeout=ANSWER_TIMEOUT_S,
                               headers={"X-User-ID": self.user_id})
        except requests.ConnectionError as e:
            if "Connection refused" in str(e):
                raise Unreachable() from e
            raise
        settle(request, decode_response(resp))

    def reset(self):
        self.session.close()
        self.session = requests.Session()

    def close(self):
        self.session.close()


class WebSocketClient(Client):
    """One connection at a time, opened again after a failure; the asyncio
    client runs on this thread's own event loop."""

    transport = "websocket"

    def __init__(self, *args):
        super().__init__(*args)
        self.loop = asyncio.new_event_loop()
        self.ws = None

    def run(self):
        asyncio.set_event_loop(self.loop)
        try:
            super().run()
        finally:
            self.loop.close()

    def send(self, request, fmt):
        if self.ws is None:
            try:
                self.ws = self.loop.run_until_complete(asyncio.wait_for(websockets.connect(
                    ws_url(self.server), extra_headers={"X-User-ID": self.user_id},
                    open_timeout=10, close_timeout=2, ping_interval=None), 15))
            except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as e:
                raise Unreachable() from e
        request.sent_at = time.monotonic()
        message = encoded(fmt, request)
        ack = self.loop.run_until_complete(asyncio.wait_for(self._exchange(message),
                                                            ANSWER_TIMEOUT_S))
        if ack["data"].get("req_guid") != request.guid:
            raise AssertionError(f"the ack of {request.guid} names {ack['data']}")
        settle(request, ack)

    async def _exchange(self, message):
        await self.ws.send(message)
        return decode_ws_ack(await self.ws.recv())

    def reset(self):
        self.close()
        self.ws = None

    def close(self):
        if self.ws is not None:
            try:
                self.loop.run_until_complete(asyncio.wait_for(self.ws.close(), 5))
            except Exception:  # noqa: BLE001 - the connection is being dropped anyway
                pass


class GrpcClient(Client):
    transport = "grpc"

    def __init__(self, *args):
        super().__init__(*args)
        self.channel = grpc.insecure_channel(f"{HOST}:{self.server.env['SERVER_GRPC_PORT']}")
        self.stub = raccoon_pb2_grpc.EventServiceStub(self.channel)

    def send(self, request, fmt):
        message = pb.SendEventRequest(req_guid=request.guid)
        message.sent_time.seconds = int(time.time())
        for payload in request.payloads:
            message.events.add(event_bytes=payload, type=EVENT_TYPE)
        try:
            response = self.stub.SendEvent(message, timeout=ANSWER_TIMEOUT_S,
                                           metadata=(("x-user-id", self.user_id),))
        except grpc.RpcError as e:
            details = e.details() or ""
            if "failed to connect" in details or "Connection refused" in details:
                raise Unreachable() from e
            # The server's own UNAVAILABLE answers (src/server/grpc) name the
            # server; gRPC's for a broken connection do not.
            if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                            grpc.StatusCode.CANCELLED) and not details.startswith("server "):
                raise
            request.answered_at = time.monotonic()
            request.outcome = "error"
            request.detail = f"{e.code().name}: {details}"[:300]
            return
        settle(request, {"status": response.status, "code": response.code,
                         "reason": response.reason})

    def close(self):
        self.channel.close()


CLIENTS = {"rest": RestClient, "websocket": WebSocketClient, "grpc": GrpcClient}


class Load:
    """CLIENTS_PER_TRANSPORT clients of each transport against `server`."""

    def __init__(self, server):
        self.ledger = Ledger()
        self.stopping = threading.Event()
        self.going = threading.Event()
        self.going.set()
        self.clients = [CLIENTS[t](i, server, self.ledger, self.stopping, self.going)
                        for t in TRANSPORTS for i in range(CLIENTS_PER_TRANSPORT)]

    @contextlib.contextmanager
    def held(self):
        """No request in flight while inside: new ones wait, and those in
        flight are answered (or fail) first."""
        self.going.clear()
        try:
            deadline = time.monotonic() + ANSWER_TIMEOUT_S + 15
            for client in self.clients:
                assert client.idle.wait(timeout=max(0.0, deadline - time.monotonic())), \
                    f"{client.name} still waits for an answer"
            yield
        finally:
            self.going.set()

    def __enter__(self):
        for client in self.clients:
            client.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.stopping.set()
        for client in self.clients:
            client.join(timeout=ANSWER_TIMEOUT_S + 15)
        stuck = [c.name for c in self.clients if c.is_alive()]
        assert not stuck, f"clients still running: {stuck}"
