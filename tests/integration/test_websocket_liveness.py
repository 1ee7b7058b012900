"""WebSocket liveness and misbehaving peers: the server pings every
SERVER_WEBSOCKET_PING_INTERVAL_MS, drops a peer silent past
SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS, keeps one that answers; and a client
that sends but never reads its acks is disconnected (queued-ack cap or write
wait) without growing the server's memory, while others keep being served.

The misbehaving peers are raw sockets (the upgrade by hand, masked frames of
our own), since `websockets` always answers pings and always reads."""

import asyncio
import select
import socket
import threading
import time
import uuid

import pytest

from conftest import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    CODE_BAD_REQUEST,
    RawWebSocket,
    assert_ws_success,
    decode_ws_ack,
    make_events,
    parse_ws_frames,
    proto_request,
    RSS_IS_MEANINGFUL,
    rss_kib,
    run_async,
    ws_connect,
    ws_frame,
    ws_message,
    ws_recv_ack,
    ws_send_ok,
)

PING_INTERVAL_MS = 200
PONG_WAIT_MS = 600


def uid(prefix="u"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def server(module_raccoon, kafka):
    server = module_raccoon.start(
        event_ack=1,
        env={
            "SERVER_WEBSOCKET_PING_INTERVAL_MS": PING_INTERVAL_MS,
            "SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS": PONG_WAIT_MS,
        },
    )
    # The topics of the helpers' events, so no ack waits for their creation.
    kafka.ensure_topics([server.topic(t) for t in ("ws", "click")])
    return server


def test_peer_that_never_answers_pings_is_dropped(server):
    raw = RawWebSocket(server, uid("mute"))
    try:
        # Never read, never send: the pings pile up unanswered in our buffer.
        took = raw.peer_closed(timeout=5.0)
        assert took is not None, "a peer that answers no ping is still connected after 5s"
        assert took >= PONG_WAIT_MS / 1000.0 * 0.8, f"dropped after {took:.2f}s, before the pong wait"
        frames, closed = raw.read_all(timeout=3.0)
        assert closed, "the server signalled a hang-up but the stream did not end"
        pings = [p for op, p in frames if op == OP_PING]
        assert pings, f"dropped without being pinged; frames {[op for op, _ in frames]}"
        print(f"dropped after {took:.2f}s, {len(pings)} pings sent")
    finally:
        raw.close()
    # The server is fine and its id free.
    async def main():
        ws = await ws_connect(server, uid("mute"))
        await ws_send_ok(ws, "proto")
        await ws.close()

    run_async(main(), 20)


def test_peer_that_answers_pings_stays(server):
    """A raw peer that answers each ping (and nothing else) for several pong
    waits: pinged about once per interval, never dropped, still served."""
    raw = RawWebSocket(server, uid("pong"))
    try:
        sock = raw.sock
        buffered = raw.pending
        pings = 0
        watch = 5 * PONG_WAIT_MS / 1000.0
        deadline = time.monotonic() + watch
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            assert chunk, f"dropped after {pings} answered pings"
            frames, buffered = parse_ws_frames(buffered + chunk)
            for op, payload in frames:
                assert op == OP_PING, f"unexpected frame {op}: {payload!r}"
                pings += 1
                sock.sendall(ws_frame(OP_PONG, payload))
        expected = watch / (PING_INTERVAL_MS / 1000.0)
        assert expected * 0.5 <= pings <= expected * 1.5 + 2, (
            f"{pings} pings in {watch:.1f}s at one per {PING_INTERVAL_MS} ms"
        )
        # Still served.
        guid = str(uuid.uuid4())
        sock.sendall(ws_frame(OP_BINARY, proto_request(make_events(1), guid)))
        ack = None
        deadline = time.monotonic() + 10
        while ack is None and time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            assert chunk, "closed instead of answering"
            frames, buffered = parse_ws_frames(buffered + chunk)
            for op, payload in frames:
                if op == OP_PING:
                    sock.sendall(ws_frame(OP_PONG, payload))
                elif op == OP_BINARY:
                    ack = decode_ws_ack(payload)
        assert ack is not None, "no ack within 10s"
        assert_ws_success(ack, "proto", guid)
        sock.sendall(ws_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
        print(f"{pings} pings answered in {watch:.1f}s")
    finally:
        raw.close()


def test_idle_websockets_client_stays_connected_and_can_send(server):
    async def main():
        # The client sends no pings of its own: only its pongs keep it alive.
        ws = await ws_connect(server, uid("idle"), ping_interval=None)
        try:
            await ws_send_ok(ws, "proto")
            await asyncio.sleep(4 * PONG_WAIT_MS / 1000.0)
            assert ws.open, f"closed while idle: {ws.close_code} {ws.close_reason}"
            await ws_send_ok(ws, "json")
            await ws_send_ok(ws, "proto")
        finally:
            await ws.close()

    run_async(main(), 30)


IDLE_WRITE_WAIT_MS = 300


def test_idle_after_an_ack_does_not_time_out(raccoon, kafka):
    """SERVER_WEBSOCKET_WRITE_WAIT_INTERVAL_MS bounds a stalled write, not an
    idle read: whatever the last ack was (one written at once while reading,
    as for a bad request or a deduplicated repeat, or one written while
    reading waited for room in the channel), a client that then stays quiet
    for several write waits is still connected and served. Pings are far
    apart here, so only the read itself is watched."""
    server = raccoon.start(
        event_ack=1,
        env={
            "SERVER_WEBSOCKET_WRITE_WAIT_INTERVAL_MS": IDLE_WRITE_WAIT_MS,
            "SERVER_BATCH_DEDUP_IN_CONNECTION_ENABLED": "true",
            # One batch in the channel, one worker, and a producer queue of
            # two events: a burst of requests makes the session wait for room
            # (and stop reading) while earlier acks are written.
            "WORKER_BUFFER_CHANNEL_SIZE": 1,
            "WORKER_POOL_SIZE": 1,
            "PUBLISHER_KAFKA_CLIENT_QUEUE_BUFFERING_MAX_MESSAGES": 2,
            "PUBLISHER_KAFKA_CLIENT_LINGER_MS": 5,
        },
    )
    kafka.ensure_topics([server.topic(t) for t in ("ws", "click")])

    async def good(ws):
        await ws_send_ok(ws, "proto")

    async def malformed(ws):
        await ws.send(b"\xff\xff\xff")
        ack = await ws_recv_ack(ws, 10)
        assert ack["code"] == CODE_BAD_REQUEST, ack

    async def dedup_repeat(ws):
        events, guid = make_events(1), str(uuid.uuid4())
        for _ in range(2):
            await ws.send(ws_message("proto", events, guid))
            assert_ws_success(await ws_recv_ack(ws, 10), "proto", guid)

    async def backpressure(ws):
        guids = [str(uuid.uuid4()) for _ in range(40)]
        for guid in guids:
            await ws.send(ws_message("json", make_events(3), guid))
        acks = [await ws_recv_ack(ws, 30) for _ in guids]
        assert sorted(a["data"]["req_guid"] for a in acks) == sorted(guids)

    async def main():
        scenarios = (good, malformed, dedup_repeat, backpressure)
        sockets = []
        try:
            for scenario in scenarios:
                ws = await ws_connect(server, uid(scenario.__name__))
                sockets.append(ws)
                await scenario(ws)
            await asyncio.sleep(4 * IDLE_WRITE_WAIT_MS / 1000.0)
            dropped = [(scenario.__name__, ws.close_code)
                       for scenario, ws in zip(scenarios, sockets) if not ws.open]
            assert not dropped, (
                f"dropped while idle after their last ack (scenario, close code; 1006 is a TCP "
                f"close without a close frame): {dropped}"
            )
            for ws in sockets:
                await ws_send_ok(ws, "json")
        finally:
            for ws in sockets:
                await ws.close()

    run_async(main(), 60)


# Well under Beast's suggested handshake timeout (30 s), which would otherwise
# bound the close.
CLOSE_WRITE_WAIT_MS = 300
CLOSE_BOUND_S = 5.0


def test_peer_that_never_answers_the_close_is_dropped_within_the_write_wait(raccoon, kafka):
    """A close handshake the peer never answers (here a refused duplicate that
    reads nothing) ends at SERVER_WEBSOCKET_WRITE_WAIT_INTERVAL_MS, and the
    first connection of that id keeps being served."""
    server = raccoon.start(env={"SERVER_WEBSOCKET_WRITE_WAIT_INTERVAL_MS": CLOSE_WRITE_WAIT_MS})
    kafka.ensure_topics([server.topic("ws")])
    user = uid("dup")

    async def main():
        first = await ws_connect(server, user)
        try:
            await ws_send_ok(first, "proto")
            duplicate = RawWebSocket(server, user)
            try:
                closed_after = duplicate.peer_closed(CLOSE_BOUND_S)
            finally:
                duplicate.close()
            await ws_send_ok(first, "json")
            return closed_after
        finally:
            await first.close()

    closed_after = run_async(main(), 60)
    assert closed_after is not None, (
        f"the refused connection was still open {CLOSE_BOUND_S} s after its close frame")
    print(f"refused peer dropped after {closed_after:.3f} s")


# --------------------------------------------------------------------------
# A client that never reads its acks.

FLOOD_TIME_BOUND_S = 15.0
FLOOD_FRAME_BOUND = 1_000_000
RSS_GROWTH_BOUND_KIB = 96 * 1024


def flood(raw, result):
    """Sends small valid masked frames as fast as the server takes them and
    reads nothing; stops when the server ends the connection or a bound is
    reached. Fills result: closed_after (s or None), frames, elapsed."""
    sock = raw.sock
    sock.setblocking(False)
    # Many copies of a few valid requests, one event each.
    frames = [ws_frame(OP_BINARY, proto_request(make_events(1, types=("flood",)), f"flood-{i}"))
              for i in range(64)]
    chunk = b"".join(frames)
    per_chunk = len(frames)
    poller = select.poll()
    poller.register(sock, select.POLLOUT | select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    started = time.monotonic()
    sent_frames = 0
    offset = 0
    result["closed_after"] = None
    while time.monotonic() - started < FLOOD_TIME_BOUND_S and sent_frames < FLOOD_FRAME_BOUND:
        try:
            n = sock.send(chunk[offset:])
            offset += n
            if offset == len(chunk):
                offset = 0
                sent_frames += per_chunk
            continue
        except BlockingIOError:
            pass
        except (BrokenPipeError, ConnectionResetError):
            result["closed_after"] = time.monotonic() - started
            break
        for _, ev in poller.poll(50):
            if ev & (select.POLLRDHUP | select.POLLHUP | select.POLLERR):
                result["closed_after"] = time.monotonic() - started
        if result["closed_after"] is not None:
            break
    result["frames"] = sent_frames
    result["elapsed"] = time.monotonic() - started


@pytest.mark.parametrize(
    "max_queued_acks, write_wait_ms, deaf_clients, closed_within_s",
    [
        # The cap on unread acks closes it, long before the write wait (60 s)
        # could. It counts acks the socket has not taken: on loopback the
        # kernel first grows the send buffer to a few MB, which takes the
        # server one to five seconds of acks (a burst of pipelined requests
        # alone must not trip the cap).
        (50, 60_000, 5, 14.0),
        # No practical cap: the write that stalls past the write wait closes it.
        # Filling the socket buffers first takes a few seconds on a loaded
        # machine (8 s seen under ASan); the bound still tells it from never.
        (1_000_000, 1000, 1, 1.0 + 12.0),
    ],
    ids=["queued-ack-cap", "write-wait"],
)
def test_client_that_never_reads_is_disconnected(raccoon, kafka, max_queued_acks, write_wait_ms,
                                                  deaf_clients, closed_within_s):
    server = raccoon.start(
        event_ack=0,
        env={
            "SERVER_WEBSOCKET_MAX_QUEUED_ACKS": max_queued_acks,
            "SERVER_WEBSOCKET_WRITE_WAIT_INTERVAL_MS": write_wait_ms,
        },
    )
    kafka.ensure_topics([server.topic(t) for t in ("ws", "flood")])
    pid = server.proc.pid
    results = []

    async def main():
        bystander = await ws_connect(server, uid("by"))
        await ws_send_ok(bystander, "proto")
        baseline = rss_kib(pid)
        peak = baseline
        served = 0
        for _ in range(deaf_clients):
            # A small receive buffer, so the acks back up quickly.
            raw = RawWebSocket(server, uid("deaf"), rcvbuf=4096)
            result = {}
            results.append(result)
            flooding = threading.Thread(target=flood, args=(raw, result), daemon=True)
            flooding.start()
            try:
                # Others are served while the flood runs.
                while flooding.is_alive():
                    await ws_send_ok(bystander, ("proto", "json")[served % 2], timeout=10)
                    served += 1
                    peak = max(peak, rss_kib(pid))
                    await asyncio.sleep(0.05)
                flooding.join(timeout=5)
                peak = max(peak, rss_kib(pid))
            finally:
                raw.close()
            if result.get("closed_after") is None:
                break
        try:
            for _ in range(3):
                await ws_send_ok(bystander, "json")
                served += 1
            # And new ones are admitted.
            fresh = await ws_connect(server, uid("by"))
            await ws_send_ok(fresh, "proto")
            await fresh.close()
        finally:
            await bystander.close()
        return baseline, peak, served

    baseline, peak, served = run_async(main(), deaf_clients * (FLOOD_TIME_BOUND_S + 5) + 30)
    print(f"floods: {[(r.get('frames'), round(r['closed_after'], 3) if r.get('closed_after') else None) for r in results]} "
          f"(frames, closed after s); RSS {baseline} KiB -> peak {peak} KiB; bystander served {served} times")
    for r in results:
        assert r.get("closed_after") is not None, (
            f"a client that never reads was not disconnected: {r.get('frames')} frames in "
            f"{r.get('elapsed', 0):.1f}s"
        )
        assert r["closed_after"] < closed_within_s, r
    assert not RSS_IS_MEANINGFUL or peak - baseline < RSS_GROWTH_BOUND_KIB, (
        f"RSS grew by {(peak - baseline) // 1024} MiB during the floods"
    )
    assert server.running()


# A client that reads slowly but steadily: the cap counts what the socket has
# not taken, so it is not disconnected however many acks pass.
SLOW_READER_CAP = 200
SLOW_READER_UNREAD = 90  # acks it leaves unread: more than the socket buffers hold
SLOW_READER_ROUNDS = 600  # three times the cap
SLOW_READER_GUID_BYTES = 64 * 1024  # each ack echoes its req_guid: 64 KiB acks
SLOW_READER_TIME_BOUND_S = 60.0


def test_client_that_reads_slowly_but_steadily_is_not_disconnected(raccoon, kafka):
    """The cap on unread acks counts the acks the socket has not taken since
    the server's last completed write, not acks since the client fell behind.
    This client leaves 90 acks of 64 KiB unread (5.6 MiB: more than the
    server's send buffer, 4 MiB at most here, and its own 4 KiB hold), so the
    server always has acks queued and writes them as the client reads; then,
    600 times, it reads one ack and sends one request. Three times the cap
    (200) pass through the full pipe; at most twice 90 wait at once (a write
    in progress and what came after it), so it gets every ack. With the count
    never going down it would be closed after 200."""
    server = raccoon.start(event_ack=0,
                           env={"SERVER_WEBSOCKET_MAX_QUEUED_ACKS": SLOW_READER_CAP,
                                "SERVER_MAX_REQ_GUID_BYTES": 2 * SLOW_READER_GUID_BYTES,
                                "SERVER_WEBSOCKET_MAX_QUEUED_ACK_BYTES": 64 * 1024 * 1024})
    kafka.ensure_topics([server.topic("slow")])
    raw = RawWebSocket(server, uid("slow"), rcvbuf=4096)
    sock = raw.sock
    events = make_events(1, types=("slow",))
    pad = "g" * SLOW_READER_GUID_BYTES
    total = SLOW_READER_UNREAD + SLOW_READER_ROUNDS
    acks = []
    data = raw.pending
    try:
        for i in range(SLOW_READER_UNREAD):
            sock.sendall(ws_frame(OP_BINARY, proto_request(events, f"{i}-{pad}")))
        time.sleep(0.5)  # the server reads them all and queues what the pipe does not take
        sent = SLOW_READER_UNREAD
        sock.settimeout(10.0)
        started = time.monotonic()
        while len(acks) < total and time.monotonic() - started < SLOW_READER_TIME_BOUND_S:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            assert chunk, f"closed by the server after {len(acks)} acks"
            frames, data = parse_ws_frames(data + chunk)
            for opcode, payload in frames:
                if opcode == OP_PING:
                    sock.sendall(ws_frame(OP_PONG, payload))
                    continue
                assert opcode == OP_BINARY, (opcode, payload[:64], len(acks))
                acks.append(decode_ws_ack(payload))
            while sent < total and sent - len(acks) < SLOW_READER_UNREAD:
                sock.sendall(ws_frame(OP_BINARY, proto_request(events, f"{sent}-{pad}")))
                sent += 1
    finally:
        raw.close()
    assert len(acks) == total, f"{len(acks)} of {total} acks"
    assert [a["data"].get("req_guid", "").split("-")[0] for a in acks] == [
        str(i) for i in range(total)]
    assert all(a["status"] == 1 for a in acks), [a for a in acks if a["status"] != 1][:1]
    assert server.running()


PING_FLOOD_S = 4.0
PING_FLOOD_RSS_BOUND_KIB = 32 * 1024


def test_pings_of_a_client_that_never_reads_do_not_grow_the_server(raccoon, kafka):
    """Pongs are answers the peer must read too: while its socket is full only
    the latest ping waits for one, so a ping flood costs the server no memory
    even before the write wait (60 s here) ends the connection."""
    server = raccoon.start(env={"SERVER_WEBSOCKET_WRITE_WAIT_INTERVAL_MS": 60_000})
    kafka.ensure_topics([server.topic("ws")])
    pid = server.proc.pid
    raw = RawWebSocket(server, uid("pings"), rcvbuf=4096)
    sock = raw.sock
    sock.setblocking(False)
    chunk = b"".join(ws_frame(OP_PING, b"p" * 125) for _ in range(256))
    baseline = peak = rss_kib(pid)
    sent = offset = 0
    started = time.monotonic()
    try:
        while time.monotonic() - started < PING_FLOOD_S:
            try:
                n = sock.send(chunk[offset:])
            except BlockingIOError:
                select.select([], [sock], [], 0.05)
                peak = max(peak, rss_kib(pid))
                continue
            offset += n
            if offset == len(chunk):
                offset = 0
                sent += 256
        peak = max(peak, rss_kib(pid))
    finally:
        raw.close()
    print(f"{sent} pings in {PING_FLOOD_S} s; RSS {baseline} KiB -> peak {peak} KiB")
    assert sent > 10_000, f"the flood was too small to tell: {sent} pings"
    assert not RSS_IS_MEANINGFUL or peak - baseline < PING_FLOOD_RSS_BOUND_KIB, (
        f"RSS grew by {(peak - baseline) // 1024} MiB during a ping flood")
    assert server.running()
