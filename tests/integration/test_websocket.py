"""WebSocket ingestion on /api/v1/events, driven by an independent client
(Python `websockets` 10.4) against the real binary and broker: the upgrade,
binary (protobuf) and text (JSON) requests with acks in the same message type,
exactly-once delivery to Kafka, pipelined requests with out-of-order acks,
bad and fragmented messages, identity (duplicate id, groups, custom id header,
an id free again as soon as its connection ends), the connection limit,
in-connection dedup, the Origin check, client pings and the message size
limit."""

import asyncio
import base64
import os
import socket
import time
import uuid

import pytest
import requests
import websockets

from conftest import (
    CLOSE_TOO_BIG,
    CODE_BAD_REQUEST,
    CODE_INTERNAL_ERROR,
    CODE_MAX_CONNECTION_LIMIT_REACHED,
    CODE_MAX_USER_LIMIT_REACHED,
    HOST,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    RawWebSocket,
    assert_arrived_once,
    assert_success,
    assert_ws_error,
    assert_ws_success,
    decode_ws_ack,
    encode_request,
    make_events,
    parse_ws_frames,
    post_events,
    proto_request,
    run_async,
    ws_connect,
    ws_expect_http_refusal,
    ws_expect_refusal,
    ws_frame,
    ws_message,
    ws_recv_ack,
    ws_send_ok,
)

TYPES = ("click", "page-view", "a.b_c", "Purchase")
GROUP_HEADER = "X-User-Group"


def uid(prefix="u"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# The event types the helpers send (ws_send_ok, connect_until_admitted, ...).
HELPER_TYPES = ("ws", "again", "click", "ws-rest")


def start(factory, kafka, event_ack=1, env=None, types=()):
    """Starts a server and creates the topics its tests use, so no ack waits
    for the broker to create a topic on first use."""
    server = factory.start(event_ack=event_ack, env=env)
    kafka.ensure_topics([server.topic(t) for t in HELPER_TYPES + tuple(types)])
    return server


@pytest.fixture(scope="module")
def server(module_raccoon, kafka):
    """A server with defaults but for the group header, shared by the tests
    that do not read Kafka; each test uses ids of its own."""
    return start(module_raccoon, kafka, env={"SERVER_WEBSOCKET_CONN_GROUP_HEADER": GROUP_HEADER})


def upgrade_headers(extra=None):
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
    }
    headers.update(extra or {})
    return headers


# --------------------------------------------------------------------------
# The upgrade.


def test_upgrade_on_the_rest_port_and_without_an_id(server):
    # REST and WebSocket share the listener.
    events = make_events(1, types=("ws-rest",))
    guid = str(uuid.uuid4())
    assert_success(post_events(server.events_url, "proto", encode_request("proto", events, guid)),
                   "proto", guid)

    # Only the events path upgrades.
    r = requests.get(server.url + "/api/v1/other", timeout=10,
                     headers=upgrade_headers({"X-User-ID": uid()}))
    assert r.status_code == 404, (r.status_code, r.text)

    async def main():
        # Without the id header (a browser's WebSocket cannot send one) the
        # upgrade succeeds, as upstream's does; each such connection is its
        # own user, so two of them in one group are both served.
        anonymous = [await ws_connect(server, None), await ws_connect(server, None)]
        try:
            for ws in anonymous:
                await ws_send_ok(ws, "proto")
                await ws_send_ok(ws, "json")
        finally:
            for ws in anonymous:
                await ws.close()
        ws = await ws_connect(server, uid())
        try:
            await ws_send_ok(ws, "proto")
        finally:
            await ws.close()

    run_async(main(), 30)


def test_custom_id_header(raccoon, kafka):
    server = start(raccoon, kafka, env={"SERVER_WEBSOCKET_CONN_ID_HEADER": "X-Device-Key"})

    async def main():
        # The default header name means nothing now: connections naming
        # only it are anonymous, each its own user.
        others = [await ws_connect(server, "someone"), await ws_connect(server, "someone")]
        try:
            for other in others:
                await ws_send_ok(other, "proto")
        finally:
            for other in others:
                await other.close()
        key = uid("dev")
        ws = await ws_connect(server, key, id_header="X-Device-Key")
        try:
            await ws_send_ok(ws, "proto")
            # The identity is taken from the configured header.
            dup = await ws_connect(server, key, id_header="X-Device-Key")
            await ws_expect_refusal(dup, CODE_MAX_USER_LIMIT_REACHED)
            await ws_send_ok(ws, "json")
        finally:
            await ws.close()

    run_async(main(), 30)


# --------------------------------------------------------------------------
# Requests and acks.


@pytest.mark.parametrize("event_ack", [1, 0], ids=["ack1", "ack0"])
def test_binary_and_text_messages_arrive_once_untouched(raccoon, kafka, event_ack):
    server = start(raccoon, kafka, event_ack=event_ack, types=TYPES + ("bytes",))
    sent = []

    async def main():
        ws = await ws_connect(server, uid())
        try:
            for fmt, aliases in (("proto", False), ("json", False), ("json", True)):
                events = make_events(7, types=TYPES)
                guid = f"ws-{fmt}-{aliases}-{uuid.uuid4()}"
                await ws.send(ws_message(fmt, events, guid, aliases=aliases))
                message = await asyncio.wait_for(ws.recv(), 30)
                # Binary answered with binary, text with text.
                assert isinstance(message, bytes if fmt == "proto" else str), (fmt, message)
                assert_ws_success(decode_ws_ack(message), fmt, guid)
                sent.extend(events)
            # Every byte value, in both formats.
            every_byte = make_events(1, types=("bytes",))[0]._replace(bytes=bytes(range(256)) * 3)
            for fmt in ("proto", "json"):
                guid = str(uuid.uuid4())
                await ws.send(ws_message(fmt, [every_byte], guid))
                assert_ws_success(await ws_recv_ack(ws), fmt, guid)
                sent.append(every_byte)
        finally:
            await ws.close()

    run_async(main(), 60)
    assert_arrived_once(kafka, server, sent)


def test_pipelined_requests_are_all_acked_and_matched_by_guid(raccoon, kafka):
    fast_types = ("pipe-a", "pipe-b", "pipe-c")
    server = start(raccoon, kafka, env={"WORKER_POOL_SIZE": 4}, types=fast_types)
    requests_sent = {}  # guid -> (fmt, events)
    send_order, ack_order = [], []
    count = 300

    warm_up = []  # (fmt, events) sent before the pipeline

    async def main():
        ws = await ws_connect(server, uid("pipe"))
        acks = {}
        # The server learns the existing topics first, so that of the
        # pipelined batches only the first waits for a topic (one the broker
        # must create); once, under ASan, all 300 acks came in send order
        # when the server met all four topics at the same time.
        for fast_type in fast_types:
            events = make_events(1, types=(fast_type,))
            guid = f"warm-{fast_type}-{uuid.uuid4()}"
            await ws.send(ws_message("proto", events, guid))
            assert_ws_success(await ws_recv_ack(ws, 30), "proto", guid)
            warm_up.append(("proto", events))

        async def reader():
            while len(ack_order) < count:
                ack = await ws_recv_ack(ws, 30)
                guid = ack["data"].get("req_guid")
                assert guid not in acks, f"two acks for {guid}"
                acks[guid] = ack
                ack_order.append(guid)

        reading = asyncio.create_task(reader())
        try:
            for i in range(count):
                fmt = ("proto", "json")[i % 2]
                # The first batch goes to a topic that does not exist yet: its
                # delivery waits for the topic, the later ones need not.
                types = (f"pipe-new-{uuid.uuid4().hex[:6]}",) if i == 0 else fast_types
                events = make_events(1 + i % 4, types=types)
                guid = f"pipe-{i}-{uuid.uuid4()}"
                requests_sent[guid] = (fmt, events)
                send_order.append(guid)
                await ws.send(ws_message(fmt, events, guid))
            await asyncio.wait_for(reading, 60)
        finally:
            reading.cancel()
            await ws.close()
        return acks

    acks = run_async(main(), 90)
    assert set(acks) == set(requests_sent), (
        f"{len(set(requests_sent) - set(acks))} unanswered, "
        f"{len(set(acks) - set(requests_sent))} acks for unknown guids"
    )
    for guid, (fmt, _) in requests_sent.items():
        assert_ws_success(acks[guid], fmt, guid)
    reordered = sum(1 for a, b in zip(send_order, ack_order) if a != b)
    print(f"{count} pipelined requests, {reordered} acks not in send order; "
          f"the first request's ack came {ack_order.index(send_order[0]) + 1}th")
    # The first batch waited for its topic to be created: acks come as
    # deliveries complete, not in the order the requests were read.
    assert ack_order[0] != send_order[0], (
        "under EVENT_ACK=1 the ack of a batch waiting for its topic held back the acks of "
        "batches delivered meanwhile"
    )
    assert_arrived_once(kafka, server, [e for _, events in [*requests_sent.values(), *warm_up]
                                        for e in events])


def test_malformed_messages_get_bad_request_and_the_connection_stays_open(server):
    async def main():
        ws = await ws_connect(server, uid("bad"))
        try:
            cases = [
                # (message, expected req_guid in the answer)
                (b"\xff\xff\xff\xff\x0f garbage", ""),
                ("{not json", ""),
                ('{"req_guid": "x", "events": [', ""),
                ('{"req_guid": "g-b64", "events": [{"type": "t", "event_bytes": "!!!not base64"}]}',
                 "g-b64"),
                ("[1, 2, 3]", ""),
            ]
            for message, guid in cases:
                await ws.send(message)
                ack = await ws_recv_ack(ws, 10)
                fmt = "proto" if isinstance(message, bytes) else "json"
                assert_ws_error(ack, CODE_BAD_REQUEST, fmt=fmt, req_guid=guid)
                # Still open: a good request goes through after each.
                await ws_send_ok(ws, ("proto", "json")[len(guid) % 2])
            assert ws.open
        finally:
            await ws.close()

    run_async(main(), 60)


def test_fragmented_messages_are_reassembled(server):
    async def main():
        ws = await ws_connect(server, uid("frag"))
        try:
            for fmt in ("proto", "json"):
                guid = str(uuid.uuid4())
                message = ws_message(fmt, make_events(5), guid)
                third = len(message) // 3
                # websockets sends an iterable as one fragmented message.
                await ws.send([message[:third], message[third:2 * third], message[2 * third:]])
                assert_ws_success(await ws_recv_ack(ws), fmt, guid)
        finally:
            await ws.close()

    run_async(main(), 30)

    # A ping between the fragments is answered at once, and the message
    # still reassembles.
    raw = RawWebSocket(server, uid("frag"))
    try:
        guid = str(uuid.uuid4())
        message = proto_request(make_events(3), guid)
        half = len(message) // 2
        raw.sock.sendall(
            ws_frame(OP_BINARY, message[:half], fin=False)
            + ws_frame(OP_PING, b"between")
            + ws_frame(0x0, message[half:], fin=True)
        )
        data, frames = raw.pending, []
        deadline = time.monotonic() + 10
        while len(frames) < 2 and time.monotonic() < deadline:
            raw.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = raw.sock.recv(65536)
            assert chunk, f"closed; frames so far {frames}"
            got, data = parse_ws_frames(data + chunk)
            frames += got
        assert (OP_PONG, b"between") in frames, frames
        acks = [decode_ws_ack(p) for op, p in frames if op == OP_BINARY]
        assert len(acks) == 1, frames
        assert_ws_success(acks[0], "proto", guid)
    finally:
        raw.close()


# --------------------------------------------------------------------------
# Identity and limits.


async def connect_until_admitted(server, user_id, bound_s=2.0, **kwargs):
    """Connects `user_id` again and again until a request of it succeeds
    instead of being refused as a duplicate; bounded by `bound_s`.
    Returns (ws, attempts)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound_s
    for attempt in range(1, 101):
        ws = await ws_connect(server, user_id, **kwargs)
        guid = str(uuid.uuid4())
        await ws.send(ws_message("proto", make_events(1, types=("again",)), guid))
        ack = await ws_recv_ack(ws, 10)
        if ack["data"].get("req_guid") == guid:
            assert_ws_success(ack, "proto", guid)
            return ws, attempt
        assert ack["code"] == CODE_MAX_USER_LIMIT_REACHED, ack
        await ws.close()
        if loop.time() >= deadline:
            break
        await asyncio.sleep(0.02)
    raise AssertionError(f"{user_id} still refused {bound_s}s after its connection closed")


def test_duplicate_id_is_refused_and_the_first_keeps_working(server):
    user = uid("dup")

    async def main():
        first = await ws_connect(server, user)
        await ws_send_ok(first, "proto")
        for _ in range(2):
            second = await ws_connect(server, user)
            await ws_expect_refusal(second, CODE_MAX_USER_LIMIT_REACHED)
        # The first is untouched.
        await ws_send_ok(first, "json")
        await ws_send_ok(first, "proto")
        assert first.open
        await first.close()
        # Its id is free again at once.
        again, attempts = await connect_until_admitted(server, user)
        print(f"admitted again after {attempts} attempt(s) after a close handshake")
        await ws_send_ok(again, "json")
        await again.close()
        # A peer that vanishes without a close frame frees its id too.
        raw = RawWebSocket(server, user)
        dup = await ws_connect(server, user)
        await ws_expect_refusal(dup, CODE_MAX_USER_LIMIT_REACHED)
        raw.close()
        again, attempts = await connect_until_admitted(server, user)
        print(f"admitted again after {attempts} attempt(s) after a bare TCP close")
        await again.close()

    run_async(main(), 60)


LINGER_MS = 2000


def test_id_and_place_are_free_at_once_while_batches_are_in_flight(raccoon, kafka):
    """A connection that ends with batches still being delivered frees its id
    (and its place under SERVER_WEBSOCKET_MAX_CONN) when it ends, not when its
    deliveries complete: a client that drops and reconnects at once is not
    refused for as long as the broker takes."""
    server = start(raccoon, kafka, env={
        # Every delivery waits this long in the producer.
        "PUBLISHER_KAFKA_CLIENT_LINGER_MS": LINGER_MS,
        "SERVER_WEBSOCKET_MAX_CONN": 1,
    })
    user = uid("inflight")
    in_flight = make_events(2, types=("ws",))
    later = make_events(2, types=("ws",))

    async def admitted_without_refusal(ws, wait_s=0.3):
        """True if no refusal comes within `wait_s` (an admitted connection
        is sent nothing until it asks)."""
        try:
            message = await asyncio.wait_for(ws.recv(), wait_s)
        except asyncio.TimeoutError:
            return True
        except websockets.exceptions.ConnectionClosed:
            return False
        ack = decode_ws_ack(message)
        assert ack["code"] in (CODE_MAX_USER_LIMIT_REACHED, CODE_MAX_CONNECTION_LIMIT_REACHED), ack
        return False

    async def main():
        loop = asyncio.get_running_loop()
        first = await ws_connect(server, user)
        await first.send(ws_message("proto", in_flight, str(uuid.uuid4())))
        await asyncio.sleep(0.2)  # read by the server, not yet delivered
        await first.close()
        closed_at = loop.time()
        for attempt in range(1, 200):
            # The same id: refused while the old connection holds its id.
            again = await ws_connect(server, user)
            if await admitted_without_refusal(again):
                break
            await again.close()
            if loop.time() - closed_at >= 1.0:
                raise AssertionError(
                    f"the id is still taken {loop.time() - closed_at:.1f}s after its connection "
                    f"closed ({attempt} attempts; its batch waits {LINGER_MS} ms for delivery)"
                )
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("never admitted")
        took = loop.time() - closed_at
        print(f"same id admitted {took:.2f}s after the close, attempt {attempt}")
        # The server is full again (one place), and the new one works.
        other = await ws_connect(server, uid("inflight"))
        await ws_expect_refusal(other, CODE_MAX_CONNECTION_LIMIT_REACHED)
        guid = str(uuid.uuid4())
        await again.send(ws_message("json", later, guid))
        assert_ws_success(await ws_recv_ack(again, LINGER_MS / 1000.0 + 10), "json", guid)
        await again.close()

    run_async(main(), 60)
    # The batch of the connection that went away was still delivered.
    assert_arrived_once(kafka, server, in_flight + later)


def test_groups_separate_identities(server):
    user = uid("grp")

    async def main():
        a = await ws_connect(server, user, group="group-a")
        b = await ws_connect(server, user, group="group-b")
        # No group header: the default group.
        default = await ws_connect(server, user)
        for ws in (a, b, default):
            await ws_send_ok(ws, "proto")
        # Each (id, group) once: repeats are refused, in every group.
        for group in ("group-a", "group-b", None):
            dup = await ws_connect(server, user, group=group)
            await ws_expect_refusal(dup, CODE_MAX_USER_LIMIT_REACHED)
        # The default group is SERVER_WEBSOCKET_CONN_GROUP_DEFAULT; an empty
        # group header falls back to it too.
        for group in ("--default--", ""):
            dup = await ws_connect(server, user, group=group)
            await ws_expect_refusal(dup, CODE_MAX_USER_LIMIT_REACHED)
        # Another id in a used group is admitted.
        other = await ws_connect(server, uid("grp"), group="group-a")
        for ws in (a, b, default, other):
            await ws_send_ok(ws, "json")
            await ws.close()

    run_async(main(), 60)


def test_max_connections(raccoon, kafka):
    limit = 3
    server = start(raccoon, kafka, env={"SERVER_WEBSOCKET_MAX_CONN": limit})

    async def main():
        admitted = [await ws_connect(server, uid("max")) for _ in range(limit)]
        for ws in admitted:
            await ws_send_ok(ws, "proto")
        for _ in range(2):
            extra = await ws_connect(server, uid("max"))
            await ws_expect_refusal(extra, CODE_MAX_CONNECTION_LIMIT_REACHED)
        # The refused connections took no place.
        for ws in admitted:
            await ws_send_ok(ws, "json")
        # When one closes, its place is free again.
        await admitted.pop().close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        for _ in range(100):
            ws = await ws_connect(server, uid("max"))
            guid = str(uuid.uuid4())
            await ws.send(ws_message("proto", make_events(1), guid))
            ack = await ws_recv_ack(ws, 10)
            if ack["data"].get("req_guid") == guid:
                assert_ws_success(ack, "proto", guid)
                admitted.append(ws)
                break
            assert ack["code"] == CODE_MAX_CONNECTION_LIMIT_REACHED, ack
            await ws.close()
            assert loop.time() < deadline, "no place free 2s after a connection closed"
            await asyncio.sleep(0.02)
        extra = await ws_connect(server, uid("max"))
        await ws_expect_refusal(extra, CODE_MAX_CONNECTION_LIMIT_REACHED)
        for ws in admitted:
            await ws.close()

    run_async(main(), 60)


# --------------------------------------------------------------------------
# Dedup.


def test_dedup_in_connection(raccoon, kafka):
    server = start(raccoon, kafka, env={"SERVER_BATCH_DEDUP_IN_CONNECTION_ENABLED": "true"},
                   types=("dedup-a", "dedup-b"))
    once = make_events(3, types=("dedup-a", "dedup-b"))
    back_to_back = make_events(2, types=("dedup-a",))
    retried = make_events(2, types=("dedup-b",))
    guid, guid2 = f"dedup-{uuid.uuid4()}", f"dedup2-{uuid.uuid4()}"
    retry_guid = f"dedup-retry-{uuid.uuid4()}"

    async def main():
        ws = await ws_connect(server, uid("dedup"))
        try:
            # Sent, acked, then repeated: acked again, not published again.
            await ws.send(ws_message("proto", once, guid))
            assert_ws_success(await ws_recv_ack(ws), "proto", guid)
            await ws.send(ws_message("proto", once, guid))
            assert_ws_success(await ws_recv_ack(ws), "proto", guid)
            # A repeat in the other format is answered in its own format.
            await ws.send(ws_message("json", once, guid))
            assert_ws_success(await ws_recv_ack(ws), "json", guid)
            # Repeated while the first is in flight: both answered.
            await ws.send(ws_message("proto", back_to_back, guid2))
            await ws.send(ws_message("json", back_to_back, guid2))
            acks = [await ws_recv_ack(ws), await ws_recv_ack(ws)]
            assert sorted(a.fmt for a in acks) == ["json", "proto"], acks
            for ack in acks:
                assert_ws_success(ack, ack.fmt, guid2)
            # A failed guid is forgotten, so the client can retry it: the first
            # try fails (no Kafka topic can have a '/' in its name), the retry
            # is published.
            await ws.send(ws_message("proto", make_events(1, types=("bad/type",)), retry_guid))
            assert_ws_error(await ws_recv_ack(ws), CODE_BAD_REQUEST, fmt="proto",
                            req_guid=retry_guid)
            await ws.send(ws_message("proto", retried, retry_guid))
            assert_ws_success(await ws_recv_ack(ws), "proto", retry_guid)
        finally:
            await ws.close()
        # A new connection has its own memory: the guid is published again.
        other = await ws_connect(server, uid("dedup"))
        try:
            await other.send(ws_message("json", once, guid))
            assert_ws_success(await ws_recv_ack(other), "json", guid)
        finally:
            await other.close()

    run_async(main(), 60)
    assert_arrived_once(kafka, server, once + once + back_to_back + retried)


# --------------------------------------------------------------------------
# Origin.


def test_origin_must_match_host_by_default(server):
    async def main():
        for origin in ("http://evil.example.com", f"http://{HOST}:1", "https://127.0.0.2",
                       "null"):
            await ws_expect_http_refusal(server, 403, user_id=uid("org"), origin=origin)
        # The Origin names the Host the client connects to, or there is none.
        for origin in (f"http://{HOST}:{server.port}", f"https://{HOST}:{server.port}", None):
            ws = await ws_connect(server, uid("org"), origin=origin)
            await ws_send_ok(ws, "proto")
            await ws.close()

    run_async(main(), 30)
    r = requests.get(server.events_url, timeout=10,
                     headers=upgrade_headers({"X-User-ID": uid(), "Origin": "http://evil.example.com"}))
    assert r.status_code == 403, (r.status_code, r.text)


def test_any_origin_when_the_check_is_off(raccoon, kafka):
    server = start(raccoon, kafka, env={"SERVER_WEBSOCKET_CHECK_ORIGIN": "false"})

    async def main():
        for origin in ("http://evil.example.com", "null", None):
            ws = await ws_connect(server, uid("org"), origin=origin)
            await ws_send_ok(ws, "json")
            await ws.close()

    run_async(main(), 30)


# --------------------------------------------------------------------------
# Control frames and size.


def test_client_pings_are_answered(server):
    async def main():
        ws = await ws_connect(server, uid("ping"))
        try:
            for i in range(3):
                pong = await ws.ping(f"p{i}".encode())
                await asyncio.wait_for(pong, 5)
            # Pings interleaved with requests.
            events = make_events(2)
            guid = str(uuid.uuid4())
            pong = await ws.ping(b"mid")
            await ws.send(ws_message("proto", events, guid))
            await asyncio.wait_for(pong, 5)
            assert_ws_success(await ws_recv_ack(ws), "proto", guid)
        finally:
            await ws.close()

    run_async(main(), 30)


def test_ten_megabyte_frame_is_closed_with_1009(server):
    async def main():
        big = await ws_connect(server, uid("big"), close_timeout=3)
        bystander = await ws_connect(server, uid("big"))
        try:
            await ws_send_ok(big, "proto")
            try:
                await asyncio.wait_for(big.send(b"\x0a" * (10 * 1024 * 1024)), 15)
            except websockets.exceptions.ConnectionClosed:
                pass
            try:
                message = await asyncio.wait_for(big.recv(), 15)
                raise AssertionError(f"answered a 10 MB frame with {message!r}")
            except websockets.exceptions.ConnectionClosed:
                pass
            await asyncio.wait_for(big.wait_closed(), 15)
            assert big.close_code == CLOSE_TOO_BIG, (big.close_code, big.close_reason)
            # The others are served, and new ones admitted.
            await ws_send_ok(bystander, "json")
            fresh = await ws_connect(server, uid("big"))
            await ws_send_ok(fresh, "proto")
            await fresh.close()
        finally:
            await bystander.close()
            await big.close()

    run_async(main(), 60)
    assert server.running()


CLOSE_PROTOCOL_ERROR = 1002
CLOSE_BAD_PAYLOAD = 1007


@pytest.mark.parametrize(
    "breach, frame, code",
    [
        ("unmasked", ws_frame(OP_BINARY, b"\x0a\x00", mask=False), CLOSE_PROTOCOL_ERROR),
        ("reserved bit", bytes([0xC2]) + ws_frame(OP_BINARY, b"x")[1:], CLOSE_PROTOCOL_ERROR),
        ("unknown opcode", ws_frame(0x3, b"x"), CLOSE_PROTOCOL_ERROR),
        ("continuation first", ws_frame(0x0, b"x"), CLOSE_PROTOCOL_ERROR),
        ("long ping", ws_frame(OP_PING, b"p" * 126), CLOSE_PROTOCOL_ERROR),
        ("text not utf-8", ws_frame(OP_TEXT, b'{"a":"\xff"}'), CLOSE_BAD_PAYLOAD),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_protocol_breach_is_closed_with_its_code_and_others_keep_being_served(
        server, breach, frame, code):
    async def main():
        bystander = await ws_connect(server, uid("by"))
        try:
            raw = RawWebSocket(server, uid("breach"))
            try:
                raw.sock.sendall(frame)
                frames, closed = raw.read_all(timeout=5.0)
            finally:
                raw.close()
            closes = [payload for op, payload in frames if op == OP_CLOSE]
            assert closes, f"{breach}: no close frame, got {frames}"
            assert int.from_bytes(closes[0][:2], "big") == code, (breach, closes[0])
            assert closed, f"{breach}: the connection stayed open after the close frame"
            await ws_send_ok(bystander, "proto")
        finally:
            await bystander.close()

    run_async(main(), 30)
    assert server.running()


def test_a_client_close_is_answered_with_its_code_then_the_connection_ends(server):
    raw = RawWebSocket(server, uid("closer"))
    try:
        raw.sock.sendall(ws_frame(OP_CLOSE, (4000).to_bytes(2, "big") + b"bye"))
        frames, closed = raw.read_all(timeout=5.0)
    finally:
        raw.close()
    assert [op for op, _ in frames] == [OP_CLOSE], frames
    assert int.from_bytes(frames[0][1][:2], "big") == 4000, frames
    assert closed, "the server kept the connection open after the close handshake"


def test_after_a_breach_the_server_half_closes_and_reads_to_the_clients_end(server):
    """The close frame is followed by the server's FIN, and what the client
    still sends is read and dropped until its own end of stream. Closing with
    bytes unread would reset the connection instead, and on a real network a
    reset can overtake the close frame (on loopback the frame always arrives
    first, so the test checks that the client may still send)."""
    raw = RawWebSocket(server, uid("breach-fin"))
    try:
        raw.sock.sendall(ws_frame(OP_BINARY, b"x", mask=False) + b"\0" * 65536)
        data = raw.pending
        raw.sock.settimeout(5.0)
        while chunk := raw.sock.recv(65536):
            data += chunk
        frames, _ = parse_ws_frames(data)
        assert [op for op, _ in frames] == [OP_CLOSE], frames
        assert int.from_bytes(frames[0][1][:2], "big") == CLOSE_PROTOCOL_ERROR, frames
        time.sleep(0.2)
        # Half-closed, the server still takes what comes, then our FIN.
        raw.sock.sendall(b"\0" * 65536)
        raw.sock.shutdown(socket.SHUT_WR)
        assert raw.sock.recv(1) == b""
    finally:
        raw.close()
