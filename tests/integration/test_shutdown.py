"""SIGTERM while many clients post: every batch acked as a success is in
Kafka, every request the server accepted is answered, and the server exits 0
within its drain bounds."""

import collections
import re
import signal
import threading
import time
import uuid

import pytest
import requests

from conftest import (
    CODE_INTERNAL_ERROR,
    assert_arrived_once,
    assert_success,
    assert_ws_success,
    proto_request,
    run_async,
    ws_connect,
    ws_message,
    ws_recv_ack,
    CODE_OK,
    STATUS_ERROR,
    STATUS_SUCCESS,
    decode_response,
    encode_request,
    make_events,
    post_events,
)

CLIENTS = 12
EVENTS_PER_BATCH = 25
TYPES = ("sd-a", "sd-b", "sd-c")
FLUSH_TIMEOUT_MS = 3000
FLUSH_INTERVAL_MS = 2000
# Successes seen before the signal, so that it lands mid-stream.
SUCCESSES_BEFORE_SIGNAL = 40
CLIENT_DEADLINE_S = 40


class Outcome:
    def __init__(self, fmt, guid, events):
        self.fmt, self.guid, self.events = fmt, guid, events
        self.started = time.monotonic()
        self.ended = None
        self.http_status = None
        self.decoded = None
        self.error = None

    @property
    def success(self):
        return (
            self.http_status == 200
            and self.decoded is not None
            and self.decoded["status"] == STATUS_SUCCESS
        )


def client(server, index, outcomes, lock, stop, signalled):
    deadline = time.monotonic() + CLIENT_DEADLINE_S
    session = requests.Session()
    failures_after_signal = 0
    n = 0
    try:
        while not stop.is_set() and time.monotonic() < deadline and n < 2000:
            n += 1
            fmt = ("proto", "json")[(index + n) % 2]
            events = make_events(EVENTS_PER_BATCH, types=TYPES, tag=f"c{index}-{n}-{uuid.uuid4().hex[:6]}")
            guid = f"sd-{index}-{n}-{uuid.uuid4()}"
            outcome = Outcome(fmt, guid, events)
            with lock:
                outcomes.append(outcome)
            try:
                resp = post_events(
                    server.events_url, fmt, encode_request(fmt, events, guid),
                    session=session, timeout=30,
                )
                outcome.http_status = resp.status_code
                outcome.decoded = decode_response(resp, fmt)
            except requests.RequestException as e:
                outcome.error = repr(e)
                session.close()
                session = requests.Session()
                if signalled.is_set():
                    failures_after_signal += 1
                    if failures_after_signal >= 3:
                        break
                    time.sleep(0.05)
            finally:
                outcome.ended = time.monotonic()
    finally:
        session.close()


@pytest.mark.parametrize("event_ack", [1, 0], ids=["ack1", "ack0"])
def test_sigterm_with_batches_in_flight(raccoon, kafka, event_ack):
    server = raccoon.start(
        event_ack=event_ack,
        env={
            "WORKER_BUFFER_FLUSH_TIMEOUT_MS": FLUSH_TIMEOUT_MS,
            "PUBLISHER_KAFKA_FLUSH_INTERVAL_MS": FLUSH_INTERVAL_MS,
            "WORKER_BUFFER_CHANNEL_SIZE": 4,
            "WORKER_POOL_SIZE": 2,
            # Batches wait a little in the producer, so some are in flight.
            "PUBLISHER_KAFKA_CLIENT_LINGER_MS": 20,
        },
    )
    # The topics exist before the run, so the drain is not spent creating them.
    kafka.ensure_topics([server.topic(t) for t in TYPES])
    outcomes, lock = [], threading.Lock()
    stop, signalled = threading.Event(), threading.Event()
    threads = [
        threading.Thread(
            target=client, args=(server, i, outcomes, lock, stop, signalled), daemon=True
        )
        for i in range(CLIENTS)
    ]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with lock:
                done = sum(1 for o in outcomes if o.success)
            if done >= SUCCESSES_BEFORE_SIGNAL:
                break
            time.sleep(0.02)
        assert done >= SUCCESSES_BEFORE_SIGNAL, f"only {done} batches succeeded before the signal"

        signal_at = time.monotonic()
        signalled.set()
        server.send_signal(signal.SIGTERM)
        bound = (FLUSH_TIMEOUT_MS + FLUSH_INTERVAL_MS) / 1000.0 + 5.0
        try:
            code = server.proc.wait(timeout=bound)
        except Exception:
            code = "still running"
        exit_seconds = time.monotonic() - signal_at
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=35)
    assert not any(t.is_alive() for t in threads), "a client is stuck"
    code_after_stop, _ = server.stop()
    stderr = server.stderr()
    assert code == 0 and code_after_stop == 0, f"exit {code} after {exit_seconds:.1f}s:\n{stderr[-3000:]}"

    in_flight = [o for o in outcomes if o.started < signal_at and (o.ended or 0) > signal_at]
    summary = collections.Counter(
        "conn-error" if o.error else f"{o.http_status}/{o.decoded and o.decoded['code']}"
        for o in outcomes
    )
    print(f"exit after {exit_seconds:.2f}s; {len(in_flight)} in flight at the signal; {dict(summary)}")

    for o in outcomes:
        assert o.ended is not None
        if o.error:
            continue
        # Every answer is a SendEventResponse for its own request.
        assert o.decoded["data"].get("req_guid") == o.guid, (o.http_status, o.decoded)
        if o.http_status == 200:
            assert (o.decoded["status"], o.decoded["code"]) == (STATUS_SUCCESS, CODE_OK), o.decoded
        else:
            assert o.http_status in (500, 503), (o.http_status, o.decoded)
            assert o.decoded["status"] == STATUS_ERROR, o.decoded
            assert o.decoded["code"] == CODE_INTERNAL_ERROR, o.decoded
            assert o.decoded["reason"], o.decoded

    # What Kafka holds now is final: the server is gone.
    topics = [server.topic(t) for t in TYPES]
    total = kafka.message_count(topics)
    got = collections.Counter(v for _, v in kafka.read(topics, total, timeout=60, settle=0.5))
    assert sum(got.values()) == total

    sent = {e.bytes for o in outcomes for e in o.events}
    unknown = set(got) - sent
    assert not unknown, f"{len(unknown)} messages nobody sent"
    repeated = [v for v, n in got.items() if n > 1]
    assert not repeated, f"{len(repeated)} events arrived more than once"

    acked = [o for o in outcomes if o.success]
    missing = [o.guid for o in acked if any(got[e.bytes] != 1 for e in o.events)]
    if event_ack == 1:
        assert not missing, (
            f"{len(missing)} of {len(acked)} acked batches are not complete in Kafka: {missing[:5]}"
        )
    else:
        # EVENT_ACK=0 acks before delivery: an acked event not delivered by
        # the end of the drain must have been counted in the log.
        lost = sum(1 for o in acked for e in o.events if not got[e.bytes])
        counted = [
            int(n)
            for line in stderr.splitlines()
            if "not delivered" in line
            for n in re.findall(r"\b(\d+) events\b", line)
        ]
        assert lost == 0 or max(counted, default=0) >= lost, (
            f"{lost} events acked under EVENT_ACK=0 were lost, the log counts {counted}"
        )

    # A connection error is only for a request the server never accepted:
    # none of its events may have been published.
    dropped = [o for o in outcomes if o.error]
    published_unanswered = [o.guid for o in dropped if any(got[e.bytes] for e in o.events)]
    assert not published_unanswered, (
        f"{len(published_unanswered)} requests were published but got no answer: "
        f"{published_unanswered[:5]}"
    )


def test_repeated_signals_neither_cut_the_drain_short_nor_kill_the_server(raccoon):
    """A supervisor that repeats SIGTERM (or Ctrl-C pressed again) during the
    drain: the server still answers what it holds and exits 0."""
    server = raccoon.start(
        event_ack=1,
        env={
            # Unreachable: the batch stays in flight until the drain fails it.
            "PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            "WORKER_BUFFER_FLUSH_TIMEOUT_MS": 1000,
            "PUBLISHER_KAFKA_FLUSH_INTERVAL_MS": 1000,
        },
    )
    answers = []
    guid = str(uuid.uuid4())
    body = encode_request("proto", make_events(1, types=("held",)), guid)
    poster = threading.Thread(
        target=lambda: answers.append(post_events(server.events_url, "proto", body)), daemon=True
    )
    poster.start()
    time.sleep(0.5)
    server.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    while server.proc.poll() is None and time.monotonic() < deadline:
        server.send_signal(signal.SIGTERM)
        server.send_signal(signal.SIGINT)
        time.sleep(0.02)
    poster.join(timeout=10)
    code, _ = server.stop()
    assert code == 0, server.stderr()
    assert "raccoon: stopped" in server.stderr()
    assert len(answers) == 1
    assert decode_response(answers[0], "proto")["code"] == CODE_INTERNAL_ERROR


READINESS_DELAY_MS = 3000


def test_during_the_readiness_delay_new_requests_and_connections_are_served(raccoon, kafka):
    """SERVER_SHUTDOWN_READINESS_DELAY_MS: on SIGTERM /ready turns 503 at once,
    and until the delay is over a new connection's request is still served
    (a load balancer sends them until its probe sees the 503); then the
    drain runs and the server exits 0."""
    server = raccoon.start(event_ack=1,
                           env={"SERVER_SHUTDOWN_READINESS_DELAY_MS": READINESS_DELAY_MS})
    kafka.ensure_topics([server.topic("late")])
    assert requests.get(server.url + "/ready", timeout=5).status_code == 200
    server.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    deadline = signalled + 1.0
    while requests.get(server.url + "/ready", timeout=5).status_code != 503:
        assert time.monotonic() < deadline, "/ready still 200 a second after SIGTERM"
        time.sleep(0.02)

    rest_events = make_events(3, types=("late",))
    guid = str(uuid.uuid4())
    with requests.Session() as fresh:
        resp = post_events(server.events_url, "proto", proto_request(rest_events, guid),
                           session=fresh)
    assert_success(resp, "proto", guid)

    ws_events = make_events(2, types=("late",))
    ws_guid = str(uuid.uuid4())

    async def main():
        ws = await ws_connect(server, f"late-{uuid.uuid4().hex[:8]}")
        try:
            await ws.send(ws_message("json", ws_events, ws_guid))
            assert_ws_success(await ws_recv_ack(ws), "json", ws_guid)
        finally:
            await ws.close()

    run_async(main(), 10)
    served_within = time.monotonic() - signalled
    assert served_within < READINESS_DELAY_MS / 1000.0, (
        f"the checks took {served_within:.2f}s, past the delay: they proved nothing"
    )
    assert server.running(), "the server stopped inside the readiness delay"
    code, seconds = server.stop()
    assert code == 0, server.stderr()
    assert seconds + served_within >= READINESS_DELAY_MS / 1000.0 * 0.9, (
        f"exited {served_within + seconds:.2f}s after SIGTERM, before the delay"
    )
    assert_arrived_once(kafka, server, rest_events + ws_events)
