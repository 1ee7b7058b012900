"""Our own client, raccoon-loadgen (Boost.Beast), against the real server and
broker: several connections with requests in flight under EVENT_ACK=1, every
ack matched to its request by req_guid, every event in Kafka exactly once and
byte for byte.

raccoon-loadgen's requests are deterministic (bench/README.md): connection c
sends requests r = 0.. with req_guid "<guid-prefix>-<c>-<r>"; event i of a
request is b"<req_guid>/<i>/" followed, up to --event-size bytes, by the byte
p % 256 at offset p; its type is "type-<(r * batch_size + i) % event_types>".
`expected_events` rebuilds them from the same options.

Environment: RACCOON_LOADGEN, the raccoon-loadgen binary (set by
tests/integration/CMakeLists.txt), besides conftest's.
"""

import collections
import json
import os
import subprocess
import time
import uuid

import pytest

from conftest import HOST, EVENTS_PATH, Event, assert_arrived_once, env_path

CONNECTIONS = 4
REQUESTS = 50
BATCH = 5
TYPES = 3
EVENT_SIZE = 300  # past 256, so every byte value occurs in each payload
WINDOW = 4  # requests in flight per connection: acks may come out of order
LOADGEN_TIMEOUT_S = 90


def loadgen_bin():
    return env_path("RACCOON_LOADGEN")


def expected_events(guid_prefix, connections=CONNECTIONS, requests=REQUESTS, batch=BATCH,
                    types=TYPES, event_size=EVENT_SIZE):
    events = []
    for c in range(connections):
        for r in range(requests):
            guid = f"{guid_prefix}-{c}-{r}"
            for i in range(batch):
                head = f"{guid}/{i}/".encode()
                payload = head + bytes(p % 256 for p in range(len(head), event_size))
                events.append(Event(f"type-{(r * batch + i) % types}", payload))
    return events


class LoadgenRun:
    def __init__(self, proc, summary):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.summary = summary
        # --print-acks lines; the human summary follows them on stdout.
        self.acks = [json.loads(line) for line in proc.stdout.splitlines()
                     if line.startswith("{")]

    def __str__(self):
        return f"exit {self.returncode}\nstdout:\n{self.stdout[-4000:]}\nstderr:\n{self.stderr[-4000:]}"


def run_loadgen(url, tmp_path, *args, timeout=LOADGEN_TIMEOUT_S):
    out = tmp_path / f"loadgen-{uuid.uuid4().hex[:8]}.json"
    proc = subprocess.run(
        [loadgen_bin(), "--url", url, "--json-out", str(out), "--timeout", str(timeout),
         "--print-acks", *map(str, args)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout + 30,
    )
    summary = json.loads(out.read_text()) if out.exists() else None
    return LoadgenRun(proc, summary)


def standard_args(fmt, guid_prefix, id_prefix):
    return ["--format", fmt, "--connections", CONNECTIONS, "--requests", REQUESTS,
            "--batch-size", BATCH, "--event-types", TYPES, "--event-size", EVENT_SIZE,
            "--guid-prefix", guid_prefix, "--id-prefix", id_prefix]


def assert_all_acked(run, guid_prefix):
    assert run.returncode == 0, str(run)
    guids = collections.Counter(a["req_guid"] for a in run.acks)
    expected = {f"{guid_prefix}-{c}-{r}" for c in range(CONNECTIONS) for r in range(REQUESTS)}
    assert set(guids) == expected, str(run)
    assert all(n == 1 for n in guids.values()), [g for g, n in guids.items() if n > 1][:5]
    failed = [a for a in run.acks if a["status"] != 1 or a["code"] != 1]
    assert not failed, failed[:5]
    s = run.summary
    assert s["success"] is True, s
    assert s["connections"] == {"requested": CONNECTIONS, "opened": CONNECTIONS, "failed": 0,
                                "lost": 0}, s
    assert s["requests"]["sent"] == CONNECTIONS * REQUESTS, s
    assert s["requests"]["acked_ok"] == CONNECTIONS * REQUESTS, s
    assert s["events"]["acked_ok"] == CONNECTIONS * REQUESTS * BATCH, s
    assert s["latency_us"]["count"] == CONNECTIONS * REQUESTS, s


def assert_in_kafka_once(kafka, server, guid_prefix):
    events = expected_events(guid_prefix)
    assert_arrived_once(kafka, server, events)
    # Per topic, as many as were sent of that type.
    per_type = collections.Counter(e.type for e in events)
    for event_type, count in per_type.items():
        assert kafka.message_count([server.topic(event_type)]) == count, event_type


@pytest.mark.parametrize("fmt", ["proto", "json"])
def test_websocket_windowed_requests_acked_and_delivered_once(raccoon, kafka, tmp_path, fmt):
    server = raccoon.start(event_ack=1)
    guid_prefix = f"beast-ws-{fmt}-{uuid.uuid4().hex[:8]}"
    run = run_loadgen(f"ws://{HOST}:{server.port}{EVENTS_PATH}", tmp_path,
                      *standard_args(fmt, guid_prefix, f"beast-{fmt}-"), "--window", WINDOW)
    assert_all_acked(run, guid_prefix)
    assert run.summary["config"]["transport"] == "websocket"
    assert_in_kafka_once(kafka, server, guid_prefix)


def test_rest_keep_alive_acked_and_delivered_once(raccoon, kafka, tmp_path):
    server = raccoon.start(event_ack=1)
    guid_prefix = f"beast-rest-{uuid.uuid4().hex[:8]}"
    # One request on the wire at a time per connection; the window queues
    # the others in the client.
    run = run_loadgen(f"http://{HOST}:{server.port}{EVENTS_PATH}", tmp_path,
                      *standard_args("json", guid_prefix, "beast-rest-"), "--window", 3)
    assert_all_acked(run, guid_prefix)
    assert run.summary["config"]["transport"] == "rest"
    assert_in_kafka_once(kafka, server, guid_prefix)


def test_refused_connection_fails_the_run(raccoon, tmp_path):
    """The exit status tests rely on: a connection refused for a duplicate id
    (CODE_MAX_USER_LIMIT_REACHED, then close 1008) makes the run fail."""
    server = raccoon.start(event_ack=1)
    url = f"ws://{HOST}:{server.port}{EVENTS_PATH}"
    holder = subprocess.Popen(
        [loadgen_bin(), "--url", url, "--idle", "--duration", "30", "--connections", "1",
         "--id-prefix", "dup-"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # The holder says when its connection is up.
        deadline = time.monotonic() + 15
        line = ""
        while "connections up" not in line and time.monotonic() < deadline:
            line = holder.stderr.readline()
            if not line and holder.poll() is not None:
                break
        assert "opened=1 failed=0" in line, line
        run = run_loadgen(url, tmp_path, "--connections", 1, "--requests", 1, "--id-prefix",
                          "dup-", timeout=30)
        assert run.returncode == 1, str(run)
        assert run.summary["requests"]["refusals"] == 1, run.summary
        assert run.summary["errors_by_code"] == {"CODE_MAX_USER_LIMIT_REACHED": 1}, run.summary
        assert run.summary["connections"]["lost"] == 1, run.summary
        refusal = [a for a in run.acks if a["req_guid"] == ""]
        assert len(refusal) == 1 and refusal[0]["status"] == 2, run.acks
    finally:
        holder.terminate()
        out, err = holder.communicate(timeout=30)
    # The first connection kept working until its own end.
    assert holder.returncode == 0, out + err
