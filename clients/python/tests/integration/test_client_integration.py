"""The Python client against the real raccoon and the real Kafka: every
protocol x wire type x serialization (10), a server restart under a
WebSocket client, 503 then 200, 400, a refusal at the upgrade."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import urllib.request

import pytest
from conftest import assert_topic_holds, read_topic
from google.protobuf import struct_pb2

from raccoon_client import (
    AsyncClient,
    BadRequestError,
    Client,
    Code,
    Event,
    RefusedError,
    RetryPolicy,
    Serialization,
    WireType,
    serialize,
)
from raccoon_client._pb import raccoon_pb2 as pb

FAST = RetryPolicy(initial_backoff=0.02, max_backoff=0.5)


def make_events(event_type, serialization, tag, count=4):
    events = []
    for i in range(count):
        if i % 3 == 2:
            data = f"{tag}:{i}:".encode() + bytes([0, 0xFF, 0x80, 0, 0xC3, 0x28, 0x0A, i])
        elif serialization is Serialization.PROTOBUF:
            data = struct_pb2.Struct()
            data.update({"tag": tag, "i": i, "ok": True})
        else:
            data = {"tag": tag, "i": i, "text": 'héllo "x"'}
        events.append(Event(event_type, data))
    return events


def serialized(events, serialization):
    return [serialize(e.data, serialization) for e in events]


COMBOS = [
    (protocol, wire, ser) for protocol in ("websocket", "rest") for wire in WireType for ser in Serialization
] + [("grpc", WireType.PROTOBUF, ser) for ser in Serialization]


def target(server, protocol):
    return {"websocket": server.ws_url, "rest": server.rest_url, "grpc": server.grpc_address}[protocol]


@pytest.mark.parametrize("protocol,wire,ser", COMBOS, ids=lambda v: getattr(v, "value", v))
def test_every_combination_async(server, protocol, wire, ser):
    """Three batches in flight at once; each ack matches its guid; every
    event is in Kafka once, byte for byte."""
    event_type = f"{protocol}-{wire.value}-{ser.value}"

    async def run():
        async with AsyncClient(
            target(server, protocol), conn_id=event_type, wire_type=wire, serialization=ser
        ) as client:
            batches = [make_events(event_type, ser, f"{event_type}/{b}") for b in range(3)]
            pendings = [await client.send(batch) for batch in batches]
            for p in pendings:
                ack = await p
                assert ack.ok and ack.req_guid == p.req_guid and ack.attempts == 1, ack
            return [data for batch in batches for data in serialized(batch, ser)]

    want = asyncio.run(asyncio.wait_for(run(), 60))
    assert_topic_holds(server.topic(event_type), want)


@pytest.mark.parametrize("protocol", ["websocket", "rest", "grpc"])
def test_sync_client(server, protocol):
    """The blocking twin, from several threads at once."""
    event_type = f"sync-{protocol}"
    want = []
    lock = threading.Lock()
    errors = []
    with Client(target(server, protocol), conn_id=event_type, serialization=Serialization.JSON) as client:

        def worker(n):
            try:
                events = make_events(event_type, Serialization.JSON, f"{event_type}/{n}", 2)
                ack = client.send_wait(events)
                assert ack.ok
                with lock:
                    want.extend(serialized(events, Serialization.JSON))
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors, errors
    assert_topic_holds(server.topic(event_type), want)


def test_websocket_server_restart(server):
    """The server restarted under a sending WebSocket client: it reconnects,
    re-sends the unacked, every send ends acked and its events are in Kafka
    (at least once)."""
    states = {"disconnects": 0, "reconnects": 0}

    async def run():
        client = AsyncClient(
            server.ws_url,
            conn_id="restart",
            serialization=Serialization.JSON,
            retry=FAST,
            on_disconnect=lambda e: states.__setitem__("disconnects", states["disconnects"] + 1),
            on_reconnect=lambda: states.__setitem__("reconnects", states["reconnects"] + 1),
        )
        async with client:
            pendings, want = [], []

            async def sender():
                for b in range(60):
                    events = make_events("restart", Serialization.JSON, f"restart/{b}", 3)
                    pendings.append(await client.send(events))
                    want.extend(serialized(events, Serialization.JSON))
                    await asyncio.sleep(0.04)

            task = asyncio.create_task(sender())
            await asyncio.sleep(0.6)
            await asyncio.to_thread(server.restart)
            await task
            acks = [await p for p in pendings]
            assert all(a.ok and a.req_guid == p.req_guid for a, p in zip(acks, pendings, strict=True))
            return want

    want = asyncio.run(asyncio.wait_for(run(), 120))
    assert states["disconnects"] >= 1 and states["reconnects"] >= 1, states
    assert_topic_holds(server.topic("restart"), want, exact=False)


class RecordingProxy:
    """Forwards POSTs to the real server, answering the first `fail` itself
    with `status`; records every request's req_guid. With `corrupt` it cuts
    the last bytes off the JSON body, so that the real server answers 400."""

    def __init__(self, upstream, fail=0, status=503, corrupt=False):
        self.guids = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers["Content-Type"] == "application/json":
                    proxy.guids.append(json.loads(body)["req_guid"])
                else:
                    proxy.guids.append(pb.SendEventRequest.FromString(body).req_guid)
                if len(proxy.guids) <= fail:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if corrupt:
                    body = body[:-5]
                req = urllib.request.Request(
                    upstream, data=body, method="POST", headers={"Content-Type": self.headers["Content-Type"]}
                )
                try:
                    with urllib.request.urlopen(req, timeout=10) as resp:
                        code, headers, payload = resp.status, resp.headers, resp.read()
                except urllib.error.HTTPError as e:
                    code, headers, payload = e.code, e.headers, e.read()
                self.send_response(code)
                self.send_header("Content-Type", headers["Content-Type"])
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v1/events"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_rest_503_then_200(server):
    proxy = RecordingProxy(server.rest_url, fail=1, status=503)
    try:
        events = make_events("retry503", Serialization.PROTOBUF, "503", 3)
        with Client(proxy.url, retry=FAST) as client:
            p = client.send(events)
            ack = p.result(30)
        assert ack.ok and ack.attempts == 2 and ack.req_guid == p.req_guid, ack
        assert proxy.guids == [p.req_guid, p.req_guid]
    finally:
        proxy.close()
    assert_topic_holds(server.topic("retry503"), serialized(events, Serialization.PROTOBUF))


def test_bad_request_is_not_retried(server):
    """The real server answers a JSON body cut short (by the proxy) with 400
    / CODE_BAD_REQUEST: one attempt, a clear error."""
    proxy = RecordingProxy(server.rest_url, corrupt=True)
    try:
        with Client(
            proxy.url, retry=FAST, wire_type=WireType.JSON, serialization=Serialization.JSON
        ) as client:
            p = client.send(make_events("bad", Serialization.JSON, "400", 2))
            with pytest.raises(BadRequestError) as info:
                p.result(30)
        e = info.value
        assert e.http_status == 400 and e.code == Code.BAD_REQUEST and e.attempts == 1, e
        assert e.reason and e.req_guid == p.req_guid, e
        assert proxy.guids == [p.req_guid]
    finally:
        proxy.close()


def test_websocket_refusal(server):
    """A second connection with the same id is refused at the upgrade; the
    client says so and does not reconnect; the first goes on."""
    reconnects = []
    with Client(server.ws_url, conn_id="twin") as first:
        assert first.send_wait([Event("twin", b"one")]).ok
        with Client(server.ws_url, conn_id="twin", on_reconnect=lambda: reconnects.append(1)) as second:
            with pytest.raises(RefusedError) as info:
                second.send_wait([Event("twin", b"two")])
            assert info.value.code == Code.MAX_USER_LIMIT_REACHED and info.value.reason
            with pytest.raises(RefusedError):
                second.send_wait([Event("twin", b"three")])
        assert first.send_wait([Event("twin", b"four")]).ok
    assert not reconnects
    assert sorted(read_topic(server.topic("twin"), 2)) == [b"four", b"one"]
