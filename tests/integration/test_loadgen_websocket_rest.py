"""Our own client, raccoon-loadgen, against the real server and broker:
several connections with requests in flight under EVENT_ACK=1, every ack
matched to its request by req_guid, every event in Kafka exactly once and
byte for byte. Its WebSocket upgrade and REST are Beast's HTTP code, its
WebSocket frames the server's own frame code in the client's role; the
independent client of the frames is test_websocket.py's (Python). The loadgen helpers, and how its requests are rebuilt, are in
conftest.py.
"""

import subprocess
import time
import uuid

import pytest

from conftest import (
    EVENTS_PATH,
    HOST,
    assert_loadgen_all_acked,
    assert_loadgen_in_kafka_once,
    loadgen_bin,
    loadgen_standard_args,
    run_loadgen,
)

WINDOW = 4  # requests in flight per connection: acks may come out of order


@pytest.mark.parametrize("fmt", ["proto", "json"])
def test_websocket_windowed_requests_acked_and_delivered_once(raccoon, kafka, tmp_path, fmt):
    server = raccoon.start(event_ack=1)
    guid_prefix = f"beast-ws-{fmt}-{uuid.uuid4().hex[:8]}"
    run = run_loadgen(f"ws://{HOST}:{server.port}{EVENTS_PATH}", tmp_path,
                      *loadgen_standard_args(fmt, guid_prefix, f"beast-{fmt}-"), "--window", WINDOW)
    assert_loadgen_all_acked(run, guid_prefix)
    assert run.summary["config"]["transport"] == "websocket"
    assert_loadgen_in_kafka_once(kafka, server, guid_prefix)


def test_rest_keep_alive_acked_and_delivered_once(raccoon, kafka, tmp_path):
    server = raccoon.start(event_ack=1)
    guid_prefix = f"beast-rest-{uuid.uuid4().hex[:8]}"
    # One request on the wire at a time per connection; the window queues
    # the others in the client.
    run = run_loadgen(f"http://{HOST}:{server.port}{EVENTS_PATH}", tmp_path,
                      *loadgen_standard_args("json", guid_prefix, "beast-rest-"), "--window", 3)
    assert_loadgen_all_acked(run, guid_prefix)
    assert run.summary["config"]["transport"] == "rest"
    assert_loadgen_in_kafka_once(kafka, server, guid_prefix)


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
