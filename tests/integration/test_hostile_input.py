"""Hostile input, issue 18: what an attacker sends is refused at once, and the
server keeps serving well-behaved clients."""

import socket
import time
import uuid

import pytest

from conftest import (
    HOST,
    free_port,
    make_events,
    proto_request,
    send_good_batch,
)


@pytest.fixture(scope="module")
def server(module_raccoon):
    return module_raccoon.start(event_ack=1)


@pytest.fixture(autouse=True)
def still_serving(server):
    yield
    assert server.running(), f"raccoon died:\n{server.stderr()}"
    send_good_batch(server, "proto")


def exchange(port, data, timeout=5.0):
    """Sends raw bytes, reads until the server closes or `timeout`; returns
    (bytes read, whether the server closed)."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(data)
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return received, False
            except ConnectionResetError:
                return received, True
            if not chunk:
                return received, True
            received += chunk
        return received, False


def events_request(body, framing, version=b"HTTP/1.1"):
    return (
        b"POST /api/v1/events " + version + b"\r\nHost: x\r\nContent-Type: application/proto\r\n"
        + framing + b"\r\n" + body
    )


def chunked(body):
    return f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"


# --------------------------------------------------------------------------
# 1. Request smuggling (RFC 9112 §6.3): every ambiguous framing is a 400 and
# a closed connection; nothing behind it is read as a request.


@pytest.mark.parametrize(
    "transfer_encoding",
    [b"xchunked", b"chunked, identity", b"identity", b"chunked;x=1"],
)
def test_transfer_encoding_not_ending_in_chunked_is_400_and_closes(server, transfer_encoding):
    # The body is itself a request: read as the next one, it would be published.
    guid = f"smuggled-{uuid.uuid4()}"
    inner = proto_request(make_events(1, types=("smuggled",)), guid)
    smuggled = events_request(inner, f"Content-Length: {len(inner)}\r\n".encode())
    request = events_request(smuggled, b"Transfer-Encoding: " + transfer_encoding + b"\r\n")
    received, closed = exchange(server.port, request)
    assert received.startswith(b"HTTP/1.1 400 "), received[:300]
    assert received.count(b"HTTP/1.1 ") == 1, received
    assert guid.encode() not in received
    assert closed, "the connection stayed open after an ambiguous framing"


@pytest.mark.parametrize(
    "framing",
    [
        # A coding before chunked that the server does not apply.
        b"Transfer-Encoding: gzip, chunked\r\n",
        # Folded onto the next line: one parser sees no Transfer-Encoding.
        b"Transfer-Encoding:\r\n chunked\r\n",
        b"X-Note: a\r\n\tTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        # Two fields, read differently by different parsers.
        b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n",
    ],
    ids=["gzip-chunked", "obs-fold", "obs-fold-other-field", "two-fields"],
)
def test_ambiguous_chunked_framing_is_400_and_closes(server, framing):
    guid = f"ambiguous-{uuid.uuid4()}"
    body = chunked(proto_request(make_events(1, types=("ambiguous",)), guid))
    received, closed = exchange(server.port, events_request(body, framing))
    assert received.startswith(b"HTTP/1.1 400 "), received[:300]
    assert guid.encode() not in received
    assert closed


def test_transfer_encoding_in_http_1_0_is_400_and_closes(server):
    body = chunked(proto_request(make_events(1, types=("ambiguous",)), "g-10"))
    received, closed = exchange(
        server.port, events_request(body, b"Transfer-Encoding: chunked\r\n", b"HTTP/1.0")
    )
    assert received.startswith(b"HTTP/1.1 400 "), received[:300]
    assert closed


@pytest.mark.parametrize("spelling", [b"chunked", b"Chunked", b" CHUNKED "])
def test_plain_chunked_is_still_accepted(server, spelling):
    guid = f"chunked-{uuid.uuid4()}"
    body = chunked(proto_request(make_events(2, types=("alive",)), guid))
    request = events_request(body, b"Transfer-Encoding: " + spelling + b"\r\n")
    received, closed = exchange(server.port, request + b"GET /ping HTTP/1.1\r\nHost: x\r\n"
                                b"Connection: close\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 200 "), received[:300]
    assert guid.encode() in received
    assert received.endswith(b"pong")


# --------------------------------------------------------------------------
# 6. Events acked under EVENT_ACK=0 and then not delivered are no bad
# requests: the log's summaries say what they are.


def test_undelivered_after_ack_is_not_summed_up_as_bad_requests(raccoon):
    server = raccoon.start(
        event_ack=0,
        env={
            # Nothing listens there: every event fails after the message timeout.
            "PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS": f"{HOST}:{free_port()}",
            "PUBLISHER_KAFKA_CLIENT_MESSAGE_TIMEOUT_MS": 300,
            "LOG_REQUEST_ERRORS_PER_SECOND": 1,
        },
    )
    # Two rounds a second and more apart: the second's first line sums up
    # what the first round's limit held back.
    for _ in range(2):
        for _ in range(5):
            send_good_batch(server, "proto", count=3)
        time.sleep(1.5)
    code, _ = server.stop()
    assert code == 0
    stderr = server.stderr()
    assert "was acked but not delivered" in stderr, stderr
    assert "about bad requests" not in stderr, stderr
    assert "more lines about batches acked but not delivered were not logged" in stderr, stderr
    assert "30 events acked under EVENT_ACK=0 were not delivered" in stderr, stderr
