"""SIGTERM with WebSocket clients connected and requests in flight under
EVENT_ACK=1: every request read before the signal is acked (success, or
CODE_INTERNAL_ERROR when it could not be delivered), requests sent after it
are acked or dropped unread (never published unanswered), each client sees a
1001 (going away) close, and the server exits 0 within its drain bounds."""

import asyncio
import collections
import time
import uuid

import websockets

from conftest import (
    CLOSE_GOING_AWAY,
    CODE_INTERNAL_ERROR,
    CODE_OK,
    STATUS_ERROR,
    STATUS_SUCCESS,
    decode_ws_ack,
    make_events,
    run_async,
    ws_connect,
    ws_message,
    ws_send_ok,
)

CLIENTS = 6
BURST = 20
EVENTS_PER_REQUEST = 5
TYPES = ("wsd-a", "wsd-b", "wsd-c")
FLUSH_TIMEOUT_MS = 3000
FLUSH_INTERVAL_MS = 2000
# Deliveries wait this long in the producer, so the burst is still in flight
# (read, not yet acked) when the signal comes; the drain's flush sends it.
LINGER_MS = 1500
# Between the burst and the signal: time for the server to read the burst.
READ_PAUSE_S = 0.4
# The server waits up to 2 s after its flush for the last acks to be written.
EXIT_BOUND_S = (FLUSH_TIMEOUT_MS + FLUSH_INTERVAL_MS) / 1000.0 + 2.0 + 5.0


class Sent:
    def __init__(self, fmt, guid, events, before_signal):
        self.fmt, self.guid, self.events, self.before_signal = fmt, guid, events, before_signal
        self.ack = None


class Client:
    def __init__(self, index):
        self.index = index
        self.ws = None
        self.sent = {}
        self.unknown_acks = []
        self.duplicate_acks = []
        self.closed = asyncio.Event()

    async def read(self):
        try:
            while True:
                ack = decode_ws_ack(await self.ws.recv())
                s = self.sent.get(ack["data"].get("req_guid"))
                if s is None:
                    self.unknown_acks.append(ack)
                elif s.ack is not None:
                    self.duplicate_acks.append(ack)
                else:
                    s.ack = ack
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            self.closed.set()

    async def send(self, n, before_signal):
        fmt = ("proto", "json")[(self.index + n) % 2]
        events = make_events(EVENTS_PER_REQUEST, types=TYPES, tag=f"wsd{self.index}-{n}-{uuid.uuid4().hex[:6]}")
        guid = f"wsd-{self.index}-{n}-{uuid.uuid4()}"
        s = Sent(fmt, guid, events, before_signal)
        self.sent[guid] = s
        await self.ws.send(ws_message(fmt, events, guid))


def test_sigterm_with_open_connections_and_requests_in_flight(raccoon, kafka):
    server = raccoon.start(
        event_ack=1,
        env={
            "WORKER_BUFFER_FLUSH_TIMEOUT_MS": FLUSH_TIMEOUT_MS,
            "PUBLISHER_KAFKA_FLUSH_INTERVAL_MS": FLUSH_INTERVAL_MS,
            "PUBLISHER_KAFKA_CLIENT_LINGER_MS": LINGER_MS,
            "WORKER_POOL_SIZE": 2,
        },
    )
    topics = [server.topic(t) for t in TYPES]
    kafka.ensure_topics(topics)
    clients = [Client(i) for i in range(CLIENTS)]
    timing = {}

    async def main():
        loop = asyncio.get_running_loop()
        for c in clients:
            c.ws = await ws_connect(server, f"wsd-{c.index}-{uuid.uuid4().hex[:8]}")
        # Warm up (metadata of the topics), one request each, all at once.
        warm = await asyncio.gather(*(ws_send_ok(c.ws, "proto", types=TYPES) for c in clients))
        readers = [asyncio.create_task(c.read()) for c in clients]
        for c in clients:
            for n in range(BURST):
                await c.send(n, before_signal=True)
        await asyncio.sleep(READ_PAUSE_S)
        timing["acked_before_signal"] = sum(
            1 for c in clients for s in c.sent.values() if s.ack is not None
        )
        timing["signal"] = time.monotonic()
        server.send_signal()

        # Clients go on sending after the signal until their connection ends.
        async def keep_sending(c):
            for n in range(BURST, BURST + 1000):
                if c.closed.is_set():
                    return
                try:
                    await c.send(n, before_signal=False)
                except websockets.exceptions.ConnectionClosed:
                    return
                await asyncio.sleep(0.02)

        senders = [asyncio.create_task(keep_sending(c)) for c in clients]
        done, pending = await asyncio.wait(readers, timeout=EXIT_BOUND_S)
        timing["all_closed"] = time.monotonic() - timing["signal"]
        for t in senders:
            t.cancel()
        still_open = [c.index for c in clients if not c.closed.is_set()]
        for c in clients:
            await c.ws.close()
        code = await loop.run_in_executor(None, _wait_exit, server.proc, EXIT_BOUND_S)
        timing["exit"] = time.monotonic() - timing["signal"]
        return warm, still_open, code

    warm, still_open, code = run_async(main(), EXIT_BOUND_S * 2 + 30)
    stderr = server.stderr()
    code_after, _ = server.stop()
    sent = [s for c in clients for s in c.sent.values()]
    before = [s for s in sent if s.before_signal]
    after = [s for s in sent if not s.before_signal]
    summary = collections.Counter(
        ("before" if s.before_signal else "after",
         "unanswered" if s.ack is None else f"{s.ack['status']}/{s.ack['code']}")
        for s in sent
    )
    print(f"acked before the signal {timing['acked_before_signal']} of {len(before)}; "
          f"all closed {timing['all_closed']:.2f}s, exit {timing['exit']:.2f}s after the signal; "
          f"{dict(summary)}")

    assert not still_open, f"clients {still_open} not closed {EXIT_BOUND_S}s after SIGTERM"
    assert code == 0 and code_after == 0, (
        f"exit {code} ({timing['exit']:.1f}s after SIGTERM):\n{stderr[-3000:]}"
    )
    assert timing["exit"] < EXIT_BOUND_S
    # The signal landed with the burst in flight, or the test proves nothing.
    assert timing["acked_before_signal"] < len(before), (
        "every request was acked before the signal; nothing was in flight"
    )

    for c in clients:
        assert not c.unknown_acks, c.unknown_acks[:3]
        assert not c.duplicate_acks, c.duplicate_acks[:3]
        assert c.ws.close_code == CLOSE_GOING_AWAY, (c.index, c.ws.close_code, c.ws.close_reason)

    def valid(s):
        a = s.ack
        assert a.fmt == s.fmt, (s.fmt, a)
        assert a["data"].get("req_guid") == s.guid, a
        if a["status"] == STATUS_SUCCESS:
            assert a["code"] == CODE_OK, a
        else:
            assert (a["status"], a["code"]) == (STATUS_ERROR, CODE_INTERNAL_ERROR), a
            assert a["reason"], a

    unanswered = [s.guid for s in before if s.ack is None]
    assert not unanswered, f"{len(unanswered)} of {len(before)} requests sent before SIGTERM unanswered"
    for s in sent:
        if s.ack is not None:
            valid(s)

    # What Kafka holds now is final: the server is gone.
    total = kafka.message_count(topics)
    got = collections.Counter(v for _, v in kafka.read(topics, total, timeout=60, settle=0.5))
    assert sum(got.values()) == total
    warm_bytes = {e.bytes for events in warm for e in events}
    sent_bytes = {e.bytes for s in sent for e in s.events} | warm_bytes
    assert not set(got) - sent_bytes, "messages nobody sent"
    repeated = [v for v, n in got.items() if n > 1]
    assert not repeated, f"{len(repeated)} events arrived more than once"
    incomplete = [s.guid for s in sent
                  if s.ack is not None and s.ack["status"] == STATUS_SUCCESS
                  and any(got[e.bytes] != 1 for e in s.events)]
    assert not incomplete, f"{len(incomplete)} batches acked as success are not in Kafka"
    published_unanswered = [s.guid for s in after
                            if s.ack is None and any(got[e.bytes] for e in s.events)]
    assert not published_unanswered, (
        f"{len(published_unanswered)} requests were published but never answered: "
        f"{published_unanswered[:3]}"
    )


def _wait_exit(proc, timeout):
    try:
        return proc.wait(timeout=timeout)
    except Exception:
        return "still running"


def test_a_repeat_still_in_flight_at_sigterm_is_answered_before_the_close(raccoon, kafka):
    """With SERVER_BATCH_DEDUP_IN_CONNECTION_ENABLED a repeat of a guid in
    flight waits for the first one's result. A drain answers both, then
    closes with 1001: the close does not slip in between the two acks."""
    server = raccoon.start(
        event_ack=1,
        env={
            "SERVER_BATCH_DEDUP_IN_CONNECTION_ENABLED": "true",
            "WORKER_BUFFER_FLUSH_TIMEOUT_MS": FLUSH_TIMEOUT_MS,
            "PUBLISHER_KAFKA_FLUSH_INTERVAL_MS": FLUSH_INTERVAL_MS,
            "PUBLISHER_KAFKA_CLIENT_LINGER_MS": LINGER_MS,
        },
    )
    kafka.ensure_topics([server.topic(t) for t in TYPES])

    async def main():
        ws = await ws_connect(server, f"wsd-repeat-{uuid.uuid4().hex[:8]}")
        await ws_send_ok(ws, "proto", types=TYPES)
        events = make_events(EVENTS_PER_REQUEST, types=TYPES, tag=f"repeat-{uuid.uuid4().hex[:6]}")
        guid = f"wsd-repeat-{uuid.uuid4()}"
        for fmt in ("proto", "json"):
            await ws.send(ws_message(fmt, events, guid))
        await asyncio.sleep(READ_PAUSE_S)
        server.send_signal()
        acks = []
        try:
            while True:
                acks.append(decode_ws_ack(await asyncio.wait_for(ws.recv(), EXIT_BOUND_S)))
        except websockets.exceptions.ConnectionClosed:
            pass
        return guid, acks, ws.close_code

    guid, acks, close_code = run_async(main(), EXIT_BOUND_S * 2 + 30)
    server.stop()
    assert close_code == CLOSE_GOING_AWAY, close_code
    assert [(a.fmt, a["data"].get("req_guid")) for a in acks] == [("proto", guid), ("json", guid)], acks
    assert all(a["status"] == STATUS_SUCCESS for a in acks), acks
