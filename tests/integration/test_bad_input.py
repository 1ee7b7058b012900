"""Bad input on the REST listener: each is answered as specified and the
server keeps serving (a good batch goes through after each)."""

import socket
import time
import uuid

import pytest
import requests

from conftest import (
    raw_exchange,
    CODE_BAD_REQUEST,
    HOST,
    assert_error,
    assert_success,
    decode_response,
    encode_request,
    make_events,
    post_events,
    proto_request,
    send_good_batch,
)

MAX_REQUEST_BYTES = 65536
IDLE_TIMEOUT_MS = 1000


@pytest.fixture(scope="module")
def server(module_raccoon):
    return module_raccoon.start(
        event_ack=1,
        env={
            "SERVER_MAX_REQUEST_BYTES": MAX_REQUEST_BYTES,
            "SERVER_HTTP_IDLE_TIMEOUT_MS": IDLE_TIMEOUT_MS,
        },
    )


@pytest.fixture(autouse=True)
def still_serving(server):
    """After each test the server is alive and takes a good batch."""
    yield
    assert server.running(), f"raccoon died:\n{server.stderr()}"
    send_good_batch(server, "proto")
    send_good_batch(server, "json")


# --------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
def test_unknown_content_type_is_400(server, content_type):
    events = make_events(2)
    headers = {} if content_type is None else {"Content-Type": content_type}
    resp = requests.post(
        server.events_url, data=encode_request("json", events, "g-ct"), headers=headers, timeout=10
    )
    decoded = assert_error(resp, 400, CODE_BAD_REQUEST, req_guid="")
    assert decoded["reason"]


def test_undecodable_proto_is_400(server):
    resp = post_events(server.events_url, "proto", b"\xff\xff\xff\xff\x0f garbage")
    assert_error(resp, 400, CODE_BAD_REQUEST, "proto", req_guid="")


@pytest.mark.parametrize(
    "body, readable_guid",
    [
        ('{"req_guid": "x", "events": [', ""),
        ("not json at all", ""),
        ('["an", "array"]', ""),
        ('{"req_guid": "x", "events": [{"type": "t", "event_bytes": "!!!not base64"}]}', "x"),
        ('{"req_guid": 7, "events": [{"type": "t", "event_bytes": "AA=="}]}', ""),
    ],
    ids=["truncated", "text", "array", "bad-base64", "guid-number"],
)
def test_invalid_json_is_400(server, body, readable_guid):
    # The answer names the request when its req_guid could be read.
    resp = post_events(server.events_url, "json", body)
    decoded = assert_error(resp, 400, CODE_BAD_REQUEST, "json", req_guid=readable_guid)
    keys = ("status", "code", "sent_time", "reason") + (("data",) if readable_guid else ())
    assert decoded.keys_in_order == keys


@pytest.mark.parametrize("fmt", ["proto", "json"])
def test_body_over_limit_is_413(server, fmt):
    events = make_events(4, types=("big",))
    events = [e._replace(bytes=e.bytes * (MAX_REQUEST_BYTES // 40)) for e in events]
    body = encode_request(fmt, events, "g-big")
    assert len(body) > MAX_REQUEST_BYTES
    resp = post_events(server.events_url, fmt, body)
    assert_error(resp, 413, CODE_BAD_REQUEST, fmt, req_guid="")


def test_chunked_body_over_limit_is_413(server):
    chunk = b"\x0a\x00" * 8192

    def body():
        for _ in range(4 * MAX_REQUEST_BYTES // len(chunk)):
            yield chunk

    resp = requests.post(
        server.events_url, data=body(), headers={"Content-Type": "application/proto"}, timeout=10
    )
    assert resp.request.headers.get("Transfer-Encoding") == "chunked"
    assert_error(resp, 413, CODE_BAD_REQUEST, "proto", req_guid="")


def test_chunked_body_under_limit_is_accepted(server, kafka):
    events = make_events(5, types=("chunked",))
    body = proto_request(events, "g-chunked")

    def chunks():
        for i in range(0, len(body), 7):
            yield body[i : i + 7]

    resp = requests.post(
        server.events_url, data=chunks(), headers={"Content-Type": "application/proto"}, timeout=10
    )
    assert resp.request.headers.get("Transfer-Encoding") == "chunked"
    assert_success(resp, "proto", "g-chunked")
    got = kafka.read([server.topic("chunked")], len(events), timeout=15, settle=0.3)
    assert sorted(v for _, v in got) == sorted(e.bytes for e in events)


@pytest.mark.parametrize(
    "garbage",
    [
        b"GARBAGE\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n",
        b"POST /api/v1/events HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        b"POST /api/v1/events HTTP/9.9\r\n\r\n",
    ],
    ids=["word", "tls-hello", "bad-length", "bad-version"],
)
def test_garbage_request_line_is_400(server, garbage):
    received, closed = raw_exchange(server.port, garbage)
    assert received.startswith(b"HTTP/1.1 400 "), received[:200]
    assert closed, "the server kept a connection open after a malformed request"


def test_half_request_then_vanish(server):
    head = (
        b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5000\r\n\r\n{\"req_guid\": \"half\", \"events\": ["
    )
    # Closed politely, closed with a reset, and one that stays silent.
    for reset in (False, True):
        s = socket.create_connection((HOST, server.port), timeout=5)
        s.sendall(head)
        if reset:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    silent = socket.create_connection((HOST, server.port), timeout=5)
    try:
        silent.sendall(b"GET /pi")
        send_good_batch(server, "proto")
    finally:
        silent.close()


def test_slow_client_is_disconnected(server):
    """A request trickling in slower than the idle timeout is cut off."""
    request = (
        b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n" + b" " * 1000
    )
    limit = IDLE_TIMEOUT_MS / 1000.0 + 4.0
    s = socket.create_connection((HOST, server.port), timeout=5)
    started = time.monotonic()
    closed_after = None
    try:
        for byte in request:
            if time.monotonic() - started > limit:
                break
            try:
                s.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - started
                break
            s.settimeout(0.1)
            try:
                if s.recv(4096) == b"":
                    closed_after = time.monotonic() - started
                    break
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed_after = time.monotonic() - started
                break
    finally:
        s.close()
    assert closed_after is not None, f"still connected after {limit}s of trickling"
    assert closed_after >= IDLE_TIMEOUT_MS / 1000.0 * 0.8, closed_after


def test_idle_connection_is_closed(server):
    s = socket.create_connection((HOST, server.port), timeout=IDLE_TIMEOUT_MS / 1000.0 + 4)
    try:
        started = time.monotonic()
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        elapsed = time.monotonic() - started
    finally:
        s.close()
    assert data == b"", data
    assert IDLE_TIMEOUT_MS / 1000.0 * 0.8 <= elapsed < IDLE_TIMEOUT_MS / 1000.0 + 3, elapsed


def test_ping_and_unknown_path(server):
    r = requests.get(server.url + "/ping", timeout=5)
    assert (r.status_code, r.text) == (200, "pong")
    r = requests.get(server.url + "/ping?x=1", timeout=5)
    assert (r.status_code, r.text) == (200, "pong")
    for path in ("/", "/nope", "/api/v1/event", "/api/v2/events"):
        r = requests.get(server.url + path, timeout=5)
        assert r.status_code == 404, (path, r.status_code)
        r = requests.post(server.url + path, data=b"x", timeout=5)
        assert r.status_code == 404, (path, r.status_code)
    r = requests.get(server.events_url, timeout=5)
    assert r.status_code == 405


def test_keep_alive_serves_many_requests_on_one_connection(server):
    with requests.Session() as session:
        for i in range(5):
            r = session.get(server.url + "/ping", timeout=5)
            assert (r.status_code, r.text) == (200, "pong")
            send_good_batch(server, ("proto", "json")[i % 2], session=session)
            resp = post_events(server.events_url, "json", "{bad", session=session)
            assert_error(resp, 400, CODE_BAD_REQUEST, "json", req_guid="")
            r = session.get(server.url + "/nope", timeout=5)
            assert r.status_code == 404
        pool = session.get_adapter(server.url).poolmanager.connection_from_url(server.url)
        assert pool.num_connections == 1, f"{pool.num_connections} connections were opened"


def test_pipelined_requests_are_answered_in_order(server):
    guids = [f"pipe-{i}-{uuid.uuid4()}" for i in range(3)]
    data = b""
    for guid in guids:
        body = proto_request(make_events(2, types=("alive",)), guid)
        data += (
            b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/proto\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    data += b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    received, closed = raw_exchange(server.port, data, timeout=10)
    assert closed
    assert received.count(b"HTTP/1.1 200 OK\r\n") == 4, received
    for guid in guids:
        assert guid.encode() in received
    positions = [received.index(g.encode()) for g in guids]
    assert positions == sorted(positions)
    assert received.endswith(b"pong")


def test_connection_close_is_honoured(server):
    body = encode_request("json", make_events(1, types=("alive",)), "g-close")
    r = requests.post(
        server.events_url,
        data=body,
        headers={"Content-Type": "application/json", "Connection": "close"},
        timeout=10,
    )
    assert r.headers.get("Connection", "").lower() == "close"
    assert_success(r, "json", "g-close")
    assert decode_response(r)["data"]["req_guid"] == "g-close"
