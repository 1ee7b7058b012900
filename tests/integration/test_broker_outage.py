"""The broker stops mid-run: batches fail fast with CODE_INTERNAL_ERROR under
EVENT_ACK=1 (no hang), are counted under EVENT_ACK=0, and once the broker is
back new batches go through. Restarts the shared broker, so it has a file of
its own; the broker is always started again before the test ends."""

import os
import subprocess
import time
import uuid

import pytest
import requests

from conftest import (
    CODE_INTERNAL_ERROR,
    assert_arrived_once,
    assert_error,
    assert_success,
    encode_request,
    kafka_dir,
    kafka_script,
    make_events,
    post_events,
)

MESSAGE_TIMEOUT_MS = 3000
# The answer to a batch the broker cannot take must come within this.
FAILURE_BOUND_S = MESSAGE_TIMEOUT_MS / 1000.0 + 7.0

OUTAGE_SETTINGS = {
    "PUBLISHER_KAFKA_CLIENT_MESSAGE_TIMEOUT_MS": MESSAGE_TIMEOUT_MS,
    "PUBLISHER_KAFKA_CLIENT_RECONNECT_BACKOFF_MS": 100,
    "PUBLISHER_KAFKA_CLIENT_RECONNECT_BACKOFF_MAX_MS": 1000,
    "PUBLISHER_KAFKA_CLIENT_SOCKET_CONNECTION_SETUP_TIMEOUT_MS": 2000,
    "PUBLISHER_KAFKA_CLIENT_TOPIC_METADATA_REFRESH_INTERVAL_MS": 1000,
}


def broker_running():
    pid_file = os.path.join(kafka_dir(), "kafka.pid")
    try:
        with open(pid_file) as f:
            os.kill(int(f.read().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


def kafka_sh(action, timeout):
    result = subprocess.run(
        [kafka_script(), action, kafka_dir()], capture_output=True, timeout=timeout
    )
    assert result.returncode == 0, f"kafka.sh {action}: {result.stderr.decode()[-2000:]}"


def post_batch(server, fmt, events, guid, timeout=60):
    started = time.monotonic()
    resp = post_events(server.events_url, fmt, encode_request(fmt, events, guid), timeout=timeout)
    return resp, time.monotonic() - started


def test_broker_stopped_mid_run(raccoon, kafka):
    acked = raccoon.start(event_ack=1, env=OUTAGE_SETTINGS)
    fire_and_forget = raccoon.start(event_ack=0, env=OUTAGE_SETTINGS)
    delivered = {acked: [], fire_and_forget: []}

    # Both servers are connected and have published before the outage.
    for server in (acked, fire_and_forget):
        events = make_events(3, types=("before",))
        guid = str(uuid.uuid4())
        assert_success(post_batch(server, "proto", events, guid)[0], "proto", guid)
        delivered[server] += events
    for server in (acked, fire_and_forget):
        assert_arrived_once(kafka, server, delivered[server])

    lost = []
    assert broker_running(), "the shared broker is not running"
    try:
        kafka_sh("stop", timeout=60)
        assert not broker_running()

        # EVENT_ACK=1: a batch that cannot be delivered is an error, in time.
        for fmt in ("proto", "json"):
            events = make_events(4, types=("before", "during"))
            guid = f"outage-{fmt}-{uuid.uuid4()}"
            resp, seconds = post_batch(acked, fmt, events, guid, timeout=FAILURE_BOUND_S + 20)
            assert seconds < FAILURE_BOUND_S, f"the failure took {seconds:.1f}s"
            decoded = assert_error(resp, 500, CODE_INTERNAL_ERROR, fmt, req_guid=guid)
            print(f"outage answer after {seconds:.1f}s: {decoded}")
            lost += events
        assert requests.get(acked.url + "/ping", timeout=5).text == "pong"

        # EVENT_ACK=0: acked at once; the loss is logged, never silent.
        events = make_events(2, types=("during",))
        guid = f"outage-ack0-{uuid.uuid4()}"
        resp, seconds = post_batch(fire_and_forget, "proto", events, guid, timeout=10)
        assert seconds < 2.0, seconds
        assert_success(resp, "proto", guid)
        deadline = time.monotonic() + FAILURE_BOUND_S
        while guid not in fire_and_forget.stderr() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert guid in fire_and_forget.stderr(), "the lost batch was not logged"
    finally:
        if not broker_running():
            kafka_sh("start", timeout=180)

    # The broker is back: a new batch goes through, after at most a few
    # reconnect attempts by the producer.
    for server in (acked, fire_and_forget):
        deadline = time.monotonic() + 60
        attempts = []
        while True:
            events = make_events(3, types=("after",))
            guid = str(uuid.uuid4())
            resp, seconds = post_batch(server, "json", events, guid, timeout=30)
            attempts.append((resp.status_code, round(seconds, 1)))
            if resp.status_code == 200 or time.monotonic() >= deadline or len(attempts) >= 10:
                break
            time.sleep(0.5)
        print(f"after the restart, EVENT_ACK={server.env['EVENT_ACK']}: {attempts}")
        assert_success(resp, "json", guid)
        delivered[server] += events

    # What was acked arrived once; what failed under EVENT_ACK=1 did not
    # arrive late (no duplicate behind the client's back).
    assert_arrived_once(kafka, acked, delivered[acked])
    lost_topics = {acked.topic(e.type) for e in lost}
    got = kafka.read(lost_topics, 0, timeout=5, settle=1.0)
    late = set(v for _, v in got) & {e.bytes for e in lost}
    assert not late, f"{len(late)} events answered as failed arrived anyway"
    after = [e for e in delivered[fire_and_forget] if e.type == "after"]
    got = kafka.read([fire_and_forget.topic("after")], len(after), timeout=30)
    assert sorted(v for _, v in got) == sorted(e.bytes for e in after)


def test_grpc_health_follows_a_broker_outage(raccoon, kafka):
    """The gRPC health service says SERVING while the broker is up, NOT_SERVING
    once it goes away, and SERVING again when it is back."""
    from test_grpc import NOT_SERVING, SERVING, open_channel, wait_health

    server = raccoon.start(event_ack=1, env=OUTAGE_SETTINGS)
    with open_channel(server) as channel:
        wait_health(channel, SERVING, 20)
        try:
            kafka_sh("stop", timeout=60)
            wait_health(channel, NOT_SERVING, 20)
        finally:
            if not broker_running():
                kafka_sh("start", timeout=180)
        wait_health(channel, SERVING, 60)


ACK_DEADLINE_MS = 3000


def test_broker_outage_is_told_within_the_ack_deadline(raccoon, kafka):
    """Under EVENT_ACK=1 with librdkafka's own message timeout (300 s), a
    batch read as the broker goes away gets an error ack (code 3, the broker
    unavailable) at its deadline, and once the server has seen the broker
    gone new batches are refused at once; nothing acked with success is lost."""
    server = raccoon.start(
        event_ack=1,
        env={
            "EVENT_ACK_DEADLINE_MS": ACK_DEADLINE_MS,
            "PUBLISHER_KAFKA_CLIENT_RECONNECT_BACKOFF_MS": 100,
            "PUBLISHER_KAFKA_CLIENT_RECONNECT_BACKOFF_MAX_MS": 1000,
        },
    )
    events = make_events(3, types=("deadline",))
    guid = str(uuid.uuid4())
    assert_success(post_batch(server, "proto", events, guid)[0], "proto", guid)
    delivered = list(events)
    assert broker_running(), "the shared broker is not running"
    try:
        kafka_sh("stop", timeout=60)
        guid = f"deadline-{uuid.uuid4()}"
        resp, seconds = post_batch(server, "proto", make_events(2, types=("deadline",)), guid,
                                   timeout=ACK_DEADLINE_MS / 1000.0 + 15)
        decoded = assert_error(resp, 500, CODE_INTERNAL_ERROR, "proto", req_guid=guid)
        assert "broker is unavailable" in decoded["reason"], decoded
        assert seconds < ACK_DEADLINE_MS / 1000.0 + 3, seconds
        # The health check has seen the broker gone by now: refused at once.
        time.sleep(4)
        for fmt in ("proto", "json"):
            guid = f"refused-{uuid.uuid4()}"
            resp, seconds = post_batch(server, fmt, make_events(2, types=("deadline",)), guid,
                                       timeout=ACK_DEADLINE_MS / 1000.0 + 15)
            decoded = assert_error(resp, 500, CODE_INTERNAL_ERROR, fmt, req_guid=guid)
            assert "broker is unavailable" in decoded["reason"], decoded
            assert seconds < 1.0, seconds
    finally:
        if not broker_running():
            kafka_sh("start", timeout=180)
    deadline = time.monotonic() + 60
    while True:
        events = make_events(3, types=("deadline",))
        guid = str(uuid.uuid4())
        resp, _ = post_batch(server, "json", events, guid, timeout=30)
        if resp.status_code == 200 or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    assert_success(resp, "json", guid)
    delivered += events
    # What was acked with success arrived; a batch answered at its deadline
    # may have arrived too (what a retry would duplicate), a refused one never.
    got = [v for _, v in kafka.read([server.topic("deadline")], len(delivered), timeout=30)]
    assert all(e.bytes in got for e in delivered)
