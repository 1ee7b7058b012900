"""The clients against fake servers on 127.0.0.1: retries keep the
req_guid, 4xx is final, the budget, timeouts, acks out of order, reconnect
and re-send, refusals, close."""

from __future__ import annotations

import asyncio
import http
import http.server
import json
import threading

import grpc
import grpc.aio
import pytest
import websockets.asyncio.server

from raccoon_client import (
    AsyncClient,
    BadRequestError,
    Client,
    ClosedError,
    Code,
    EncodingError,
    Event,
    RefusedError,
    RetryPolicy,
    SendTimeoutError,
    Serialization,
    ServerError,
    TransportError,
    WireType,
)
from raccoon_client._pb import raccoon_pb2 as pb

QUICK = RetryPolicy(initial_backoff=0.001, max_backoff=0.005)
EVENTS = [Event("t", b"x")]


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def ok_ack(guid):
    return pb.SendEventResponse(
        status=pb.STATUS_SUCCESS, code=pb.CODE_OK, sent_time=1, data={"req_guid": guid}
    )


def err_ack(guid, code):
    return pb.SendEventResponse(status=pb.STATUS_ERROR, code=code, reason="because", data={"req_guid": guid})


class FakeREST:
    """Answers request n with statuses[n] (the last repeats); `hang` makes
    it never answer. Records req_guids and headers."""

    def __init__(self, statuses, hang=False):
        self.guids, self.headers = [], []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                guid = pb.SendEventRequest.FromString(body).req_guid
                fake.guids.append(guid)
                fake.headers.append(dict(self.headers))
                if hang:
                    fake.release.wait(10)
                    return
                st = statuses[min(len(fake.guids) - 1, len(statuses) - 1)]
                ack = (
                    ok_ack(guid)
                    if st == 200
                    else err_ack(guid, pb.CODE_INTERNAL_ERROR if st >= 500 else pb.CODE_BAD_REQUEST)
                )
                payload = ack.SerializeToString()
                self.send_response(st)
                self.send_header("Content-Type", "application/proto")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.release = threading.Event()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v1/events"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_rest():
    made = []

    def make(statuses, hang=False):
        made.append(FakeREST(statuses, hang))
        return made[-1]

    yield make
    for f in made:
        f.close()


def test_rest_retries_with_the_same_guid(fake_rest):
    f = fake_rest([503, 429, 500, 200])
    acks = []
    with Client(
        f.url,
        retry=QUICK,
        conn_id="u1",
        conn_group="g1",
        headers={"X-Extra": "e"},
        on_ack=lambda g, a, e: acks.append((g, a, e)),
    ) as c:
        ack = c.send_wait(EVENTS)
    assert ack.ok and ack.attempts == 4 and f.guids == [ack.req_guid] * 4
    h = f.headers[0]
    assert (h["X-User-ID"], h["X-User-Group"], h["X-Extra"], h["Content-Type"]) == (
        "u1",
        "g1",
        "e",
        "application/proto",
    )
    assert len(acks) == 1 and acks[0][0] == ack.req_guid and acks[0][2] is None


@pytest.mark.parametrize("status", [400, 404, 413])
def test_rest_does_not_retry_4xx(fake_rest, status):
    f = fake_rest([status, 200])
    with Client(f.url, retry=QUICK) as c, pytest.raises(BadRequestError) as info:
        c.send_wait(EVENTS)
    assert info.value.http_status == status and info.value.attempts == 1 and len(f.guids) == 1


def test_rest_gives_up_after_max_attempts(fake_rest):
    f = fake_rest([503])
    policy = RetryPolicy(max_attempts=3, initial_backoff=0.001, max_backoff=0.005)
    with Client(f.url, retry=policy) as c, pytest.raises(ServerError) as info:
        c.send_wait(EVENTS)
    e = info.value
    assert (e.attempts, e.http_status, e.code, len(f.guids)) == (3, 503, Code.INTERNAL_ERROR, 3)


def test_retry_budget(fake_rest):
    f = fake_rest([503])
    policy = RetryPolicy(
        max_attempts=100, initial_backoff=0.001, max_backoff=0.005, budget_capacity=12, retry_cost=5
    )
    with Client(f.url, retry=policy) as c:
        with pytest.raises(ServerError) as info:
            c.send_wait(EVENTS)
        assert info.value.budget_exhausted and info.value.attempts == 3
        with pytest.raises(ServerError) as info:
            c.send_wait(EVENTS)
        assert info.value.budget_exhausted and info.value.attempts == 1


def test_transport_error_is_retried():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    policy = RetryPolicy(max_attempts=3, initial_backoff=0.001, max_backoff=0.005)
    with (
        Client(f"http://127.0.0.1:{port}/api/v1/events", retry=policy) as c,
        pytest.raises(TransportError) as info,
    ):
        c.send_wait(EVENTS)
    assert info.value.attempts == 3


def test_send_timeout(fake_rest):
    f = fake_rest([200], hang=True)
    with Client(f.url, send_timeout=0.3, attempt_timeout=60) as c, pytest.raises(SendTimeoutError):
        c.send_wait(EVENTS)


def test_attempt_timeout_is_retried(fake_rest):
    f = fake_rest([200], hang=True)
    policy = RetryPolicy(max_attempts=2, initial_backoff=0.001, max_backoff=0.005)
    with Client(f.url, attempt_timeout=0.2, retry=policy) as c, pytest.raises(TransportError) as info:
        c.send_wait(EVENTS)
    assert info.value.attempts == 2 and len(f.guids) == 2 and f.guids[0] == f.guids[1]


def test_close_refuses_new_sends_and_encoding_errors_are_immediate(fake_rest):
    f = fake_rest([200])
    c = Client(f.url)
    with pytest.raises(EncodingError):
        c.send([Event("t", 3)])
    c.close()
    with pytest.raises(ClosedError):
        c.send(EVENTS)


def test_grpc_refuses_json_wire():
    with pytest.raises(EncodingError):
        AsyncClient("127.0.0.1:1", wire_type=WireType.JSON)


async def grpc_fake(codes):
    calls = []

    async def send_event(request, context):
        calls.append((request.req_guid, dict(context.invocation_metadata())))
        code = codes[min(len(calls) - 1, len(codes) - 1)]
        if code is not grpc.StatusCode.OK:
            await context.abort(code, f"fake says {code.name}")
        return ok_ack(request.req_guid)

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "raystack.raccoon.v1beta1.EventService",
                {
                    "SendEvent": grpc.unary_unary_rpc_method_handler(
                        send_event,
                        request_deserializer=pb.SendEventRequest.FromString,
                        response_serializer=pb.SendEventResponse.SerializeToString,
                    )
                },
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}", calls


def test_grpc_retries_retryable_codes():
    async def main():
        server, address, calls = await grpc_fake(
            [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.OK]
        )
        try:
            async with AsyncClient(address, retry=QUICK, conn_id="u2") as c:
                ack = await c.send_wait(EVENTS)
            assert ack.attempts == 3 and [g for g, _ in calls] == [ack.req_guid] * 3
            assert calls[0][1]["x-user-id"] == "u2"
        finally:
            await server.stop(None)

    run(main())


def test_grpc_does_not_retry_invalid_argument():
    async def main():
        server, address, calls = await grpc_fake([grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OK])
        try:
            async with AsyncClient(address, retry=QUICK) as c:
                with pytest.raises(BadRequestError) as info:
                    await c.send_wait(EVENTS)
            assert info.value.grpc_code == grpc.StatusCode.INVALID_ARGUMENT and len(calls) == 1
        finally:
            await server.stop(None)

    run(main())


async def ws_fake(handler, process_request=None):
    connections = []

    async def handle(ws):
        connections.append(ws)
        await handler(len(connections), ws)

    server = await websockets.asyncio.server.serve(handle, "127.0.0.1", 0, process_request=process_request)
    port = server.sockets[0].getsockname()[1]
    return server, f"ws://127.0.0.1:{port}/api/v1/events", connections


def guid_of(message):
    if isinstance(message, str):
        return json.loads(message)["req_guid"]
    return pb.SendEventRequest.FromString(message).req_guid


def test_websocket_matches_acks_out_of_order():
    async def handler(_, ws):
        guids = [guid_of(await ws.recv()) for _ in range(5)]
        for g in reversed(guids):
            await ws.send(ok_ack(g).SerializeToString())
        await ws.send(ok_ack("nobody-sent-this").SerializeToString())
        await ws.wait_closed()

    async def main():
        server, url, _ = await ws_fake(handler)
        order = []
        async with server, AsyncClient(url, conn_id="u", on_ack=lambda g, a, e: order.append(g)) as c:
            pendings = [await c.send([Event("t", bytes([i]))]) for i in range(5)]
            for p in pendings:
                assert (await p).req_guid == p.req_guid
            assert order == [p.req_guid for p in reversed(pendings)]

    run(main())


def test_websocket_retries_internal_error_and_not_bad_request():
    seen = []

    async def handler(_, ws):
        async for message in ws:
            g = guid_of(message)
            seen.append(g)
            if g.startswith("bad"):
                await ws.send(err_ack(g, pb.CODE_BAD_REQUEST).SerializeToString())
            elif len(seen) == 1:
                await ws.send(err_ack(g, pb.CODE_INTERNAL_ERROR).SerializeToString())
            else:
                await ws.send(ok_ack(g).SerializeToString())

    async def main():
        server, url, _ = await ws_fake(handler)
        async with server, AsyncClient(url, conn_id="u", retry=QUICK) as c:
            ack = await c.send_wait(EVENTS, req_guid="good-1")
            assert ack.attempts == 2 and seen == ["good-1", "good-1"]
            with pytest.raises(BadRequestError) as info:
                await c.send_wait(EVENTS, req_guid="bad-1")
            assert info.value.attempts == 1 and info.value.reason == "because"

    run(main())


def test_websocket_reconnects_and_resends_unacked():
    per_conn = {}

    async def handler(n, ws):
        async for message in ws:
            g = guid_of(message)
            per_conn.setdefault(n, []).append(g)
            if n == 1 and len(per_conn[1]) == 3:
                await ws.close(1011)  # drop with two unacked
                return
            if n == 1 and len(per_conn[1]) > 1:
                continue
            await ws.send(ok_ack(g).SerializeToString())

    async def main():
        server, url, _ = await ws_fake(handler)
        states = []
        async with (
            server,
            AsyncClient(
                url,
                conn_id="u",
                retry=QUICK,
                on_disconnect=lambda e: states.append("down"),
                on_reconnect=lambda: states.append("up"),
            ) as c,
        ):
            first = await c.send_wait([Event("t", b"0")])
            p1 = await c.send([Event("t", b"1")])
            p2 = await c.send([Event("t", b"2")])
            a1, a2 = await p1, await p2
            assert (first.attempts, a1.attempts, a2.attempts) == (1, 2, 2)
            assert per_conn[2] == [p1.req_guid, p2.req_guid]
            assert states == ["down", "up"]

    run(main())


def test_websocket_refusal():
    async def handler(_, ws):
        refusal = pb.SendEventResponse(
            status=pb.STATUS_ERROR, code=pb.CODE_MAX_CONNECTION_LIMIT_REACHED, reason="server full"
        )
        await ws.send(refusal.SerializeToString())
        await ws.close(1008)

    async def main():
        server, url, connections = await ws_fake(handler)
        async with server, AsyncClient(url, conn_id="u", retry=QUICK) as c:
            with pytest.raises(RefusedError) as info:
                await c.send_wait(EVENTS)
            assert info.value.code == Code.MAX_CONNECTION_LIMIT_REACHED and info.value.reason == "server full"
            await asyncio.sleep(0.1)
            with pytest.raises(RefusedError):
                await c.send_wait(EVENTS)
            assert len(connections) == 1

    run(main())


def test_websocket_http_refusal():
    def no_id(connection, request):
        if "X-User-ID" not in request.headers:
            return connection.respond(http.HTTPStatus.BAD_REQUEST, "missing header X-User-ID\n")
        return None

    async def main():
        server, url, _ = await ws_fake(lambda n, ws: ws.wait_closed(), process_request=no_id)
        async with server:
            with pytest.raises(RefusedError) as info:
                await AsyncClient(url).connect()
            assert info.value.http_status == 400 and "missing header" in info.value.reason

    run(main())


def test_websocket_json_wire_uses_text_frames():
    async def handler(_, ws):
        message = await ws.recv()
        assert isinstance(message, str)
        ack = {"status": 1, "code": 1, "sent_time": 3, "data": {"req_guid": guid_of(message)}}
        await ws.send(json.dumps(ack))
        await ws.wait_closed()

    async def main():
        server, url, _ = await ws_fake(handler)
        async with (
            server,
            AsyncClient(url, conn_id="u", wire_type=WireType.JSON, serialization=Serialization.JSON) as c,
        ):
            ack = await c.send_wait([Event("t", {"a": 1})])
            assert ack.ok and ack.sent_time == 3

    run(main())


def test_close_waits_then_fails_pending():
    async def handler(_, ws):
        await ws.wait_closed()

    async def main():
        server, url, _ = await ws_fake(handler)
        async with server:
            c = await AsyncClient(url, conn_id="u").connect()
            p = await c.send(EVENTS)
            await c.close(timeout=0.15)
            with pytest.raises(ClosedError):
                await p

    run(main())


def test_websocket_fast_acks_keep_the_connection():
    """Acks that come while their request is still being written end their
    sends; the connection stays up and every send took one attempt."""

    async def handler(_, ws):
        async for message in ws:
            await ws.send(ok_ack(guid_of(message)).SerializeToString())

    async def main():
        server, url, connections = await ws_fake(handler)
        drops = []
        async with server, AsyncClient(url, conn_id="u", on_disconnect=drops.append) as c:
            payload = bytes(16 << 10)
            pendings = [await c.send([Event("t", payload)]) for _ in range(300)]
            acks = [await p for p in pendings]
            assert all(a.attempts == 1 for a in acks)
            assert not drops and len(connections) == 1

    run(main())


def test_close_while_reconnecting_is_quick():
    """A client whose server went away closes at once, failing what is
    pending, without waiting for its reconnect back-off."""

    async def handler(_, ws):
        await ws.recv()
        await ws.close(1011)

    async def main():
        server, url, _ = await ws_fake(handler)
        c = await AsyncClient(url, conn_id="u", retry=RetryPolicy(initial_backoff=5, max_backoff=5)).connect()
        p = await c.send(EVENTS)
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.2)
        started = asyncio.get_running_loop().time()
        await c.close(timeout=0.1)
        assert asyncio.get_running_loop().time() - started < 2
        with pytest.raises(ClosedError):
            await p

    run(main())
