"""PUBLISHER_TYPE=log: each event is a JSON line on stdout; no broker needed."""

import base64
import collections
import json
import time
import uuid

import pytest

from conftest import assert_success, encode_request, make_events, post_events


@pytest.fixture(scope="session")
def publisher_settings():
    """No broker: events go to the server's stdout."""
    return {"PUBLISHER_TYPE": "log"}


def stdout_lines(server, count, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in server.stdout().splitlines() if line.strip()]
        if len(lines) >= count or time.monotonic() >= deadline:
            return lines
        time.sleep(0.05)


@pytest.mark.parametrize("event_ack", [1, 0], ids=["ack1", "ack0"])
def test_events_are_json_lines_on_stdout(raccoon, event_ack):
    server = raccoon.start(
        event_ack=event_ack,
        env={"SERVER_WEBSOCKET_CONN_GROUP_HEADER": "X-Group"},
    )
    sent = []
    for fmt in ("proto", "json"):
        events = make_events(5, types=("click", "view"))
        guid = str(uuid.uuid4())
        resp = post_events(
            server.events_url, fmt, encode_request(fmt, events, guid), headers={"X-Group": "g1"}
        )
        assert_success(resp, fmt, guid)
        sent += events

    lines = stdout_lines(server, len(sent))
    records = [json.loads(line) for line in lines]
    got = collections.Counter(
        (r["topic"], r["type"], base64.b64decode(r["event_bytes"])) for r in records
    )
    expected = collections.Counter((server.topic(e.type), e.type, e.bytes) for e in sent)
    assert got == expected
    assert {r.get("conn_group") for r in records} == {"g1"}

    code, _ = server.stop()
    assert code == 0
    # Our own log lines never go to stdout.
    assert len([line for line in server.stdout().splitlines() if line.strip()]) == len(sent)
