"""Drop-in compatibility with upstream raystack/raccoon, on the wire: what
upstream's own configuration files and clients send starts the server and is
accepted, and every answer has upstream's shape (docs/compatibility.md)."""

import asyncio
import base64
import json
import re
import subprocess
import time
import uuid

import pytest
import requests

from conftest import (
    CODE_OK,
    HOST,
    STATUS_SUCCESS,
    Event,
    RawWebSocket,
    assert_arrived_once,
    assert_success,
    assert_ws_success,
    decode_response,
    free_port,
    make_events,
    post_events,
    proto_request,
    raccoon_bin,
    run_async,
    server_environment,
    ws_connect,
    ws_recv_ack,
    ws_send_ok,
)


def uid(prefix="u"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def server(raccoon, kafka):
    # One per test: each checks that nothing but its own events arrived.
    server = raccoon.start(event_ack=1)
    kafka.ensure_topics([server.topic(t) for t in ("js", "gojson", "ws", "alive", "click")])
    return server


# ---- 1. any ping/pong pair ----------------------------------------------------


@pytest.mark.parametrize(
    "ping_ms, pong_ms",
    [(300, 300), (400, 150)],
    ids=["equal, as upstream's compose file", "wait below the interval"],
)
def test_a_client_that_answers_pings_is_never_dropped_whatever_the_pair(raccoon, kafka, ping_ms,
                                                                        pong_ms):
    # Upstream's docker-compose sets both to 10000; here scaled down.
    server = raccoon.start(
        env={
            "SERVER_WEBSOCKET_PING_INTERVAL_MS": ping_ms,
            "SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS": pong_ms,
        }
    )
    assert "SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS" in server.stderr(), server.stderr()
    kafka.ensure_topics([server.topic("ws")])

    async def main():
        # websockets answers every ping by itself.
        ws = await ws_connect(server, uid("pong"))
        try:
            await asyncio.sleep(12 * ping_ms / 1000.0)
            assert ws.open, f"dropped: close code {ws.close_code}"
            await ws_send_ok(ws, "proto")
        finally:
            await ws.close()

    run_async(main(), 60)

    # A peer that answers nothing is still found out.
    raw = RawWebSocket(server, uid("mute"))
    try:
        took = raw.peer_closed(timeout=10.0)
        assert took is not None, "a peer that answers no ping was kept"
        assert took <= 2 * max(ping_ms, pong_ms) / 1000.0 + 2 * ping_ms / 1000.0 + 1.0, took
    finally:
        raw.close()


# ---- 2. upstream's config.sample.yml and -c ------------------------------------

UPSTREAM_SAMPLE_CONFIG = """\
server:
  websocket:
    conn:
      id_header: "X-User-ID"
    port: 8080
    max_conn: 30000
    read_buffer_size: 10240
    write_buffer_size: 10240
    ping_interval_ms: 30000
    pong_wait_interval: 60000
    write_wait_interval: 5000
    pinger_size: 1
  cors:
    enabled: true
    allowed_origins:
      - "http://localhost:3000"
      - "http://localhost:8080"
    preflight_max_age_seconds: 60
  grpc:
    port: 8081

worker:
  buffer:
    channel_size: 5
    flush_timeout_ms: 5000
  pool_size: 5

event:
  distribution_publisher_pattern: "clickstream-%s-log"

publisher:
  type: "kafka"
  kafka:
    client:
      bootstrap_servers: "127.0.0.1:9092,127.0.0.1:9099"
      acks: "1"
      retries: "2"
      retry_backoff_ms: "100"
      statistics_interval_ms: "5000"
      queue_buffering_max_messages: "100000"
    flush_interval_ms: 1000
    delivery_channel_size: 10

metric:
  runtime_stats_record_interval_ms: 1000
  prometheus:
    enabled: true
  statsd:
    enabled: true
    address: ":8125"
    flush_period_ms: 1000

log:
  level: "info"
"""


def test_upstreams_sample_config_starts_with_a_warning_per_unknown_key(raccoon, kafka, tmp_path):
    config = tmp_path / "config.sample.yml"
    config.write_text(UPSTREAM_SAMPLE_CONFIG)
    # The environment moves the file's fixed ports and broker to this test's.
    server = raccoon.start(
        env={"METRIC_PROMETHEUS_PORT": free_port(), "METRIC_STATSD_ADDRESS": f"{HOST}:{free_port()}"},
        args=("-c", str(config)),
    )
    stderr = server.stderr()
    for key, nearest in [
        ("SERVER_CORS_ALLOWED_ORIGINS", "SERVER_CORS_ALLOWED_ORIGIN"),
        ("SERVER_WEBSOCKET_PONG_WAIT_INTERVAL", "SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS"),
        ("SERVER_WEBSOCKET_WRITE_WAIT_INTERVAL", "SERVER_WEBSOCKET_WRITE_WAIT_INTERVAL_MS"),
    ]:
        line = next((l for l in stderr.splitlines() if f"unknown setting {key} " in l), None)
        assert line is not None, f"no warning for {key}:\n{stderr}"
        assert "warn" in line.lower() and f"did you mean {nearest}?" in line, line
    events = make_events(3, types=("sample",))
    guid = str(uuid.uuid4())
    resp = post_events(server.events_url, "proto", proto_request(events, guid),
                       headers={"X-User-ID": "u"})
    assert_success(resp, "proto", guid)
    assert_arrived_once(kafka, server, events)


@pytest.mark.parametrize("command", [["version"], ["--version"]])
def test_version_names_the_version_and_the_commit(command):
    result = subprocess.run([raccoon_bin(), *command], env=server_environment(),
                            capture_output=True, timeout=10)
    assert result.returncode == 0, result.stderr
    line = result.stdout.decode()
    assert re.fullmatch(r"raccoon \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}|unknown)\)\n", line), line


# ---- 3. JSON as upstream's clients write it --------------------------------------


def byte_array(data):
    return list(data)


def test_json_from_upstreams_javascript_client_arrives_untouched(server, kafka):
    # Upstream's JS client sends event_bytes as an array of byte values.
    events = [Event("js", b'{"k":1}'), Event("js", bytes([0, 255, 128, 10]))]
    guid = str(uuid.uuid4())
    body = json.dumps({
        "req_guid": guid,
        "sent_time": {"seconds": int(time.time()), "nanos": 0},
        "events": [{"event_bytes": byte_array(e.bytes), "type": e.type} for e in events],
    })
    assert_success(post_events(server.events_url, "json", body), "json", guid)
    assert_arrived_once(kafka, server, events)


def test_json_as_gos_encoding_json_reads_it(server, kafka):
    """Keys in any case, unknown keys, null fields, the last of repeated keys:
    all as upstream's Go decoder takes them, over REST and WebSocket."""
    events = [Event("gojson", b"first"), Event("gojson", b"second")]
    guid = str(uuid.uuid4())
    body = (
        '{"REQ_GUID": "overwritten", "Client": {"name": "web", "tags": [1, null]},'
        ' "SENT_TIME": null, "Events": [{"TYPE": "gojson", "Event_Bytes": "%s", "extra": true},'
        ' {"type": "gojson", "type": null, "event_bytes": %s}], "req_guid": "%s"}'
        % (base64.b64encode(events[0].bytes).decode(), json.dumps(byte_array(events[1].bytes)),
           guid)
    )
    assert_success(post_events(server.events_url, "json", body), "json", guid)

    ws_events = [Event("gojson", b"over-websocket")]
    ws_guid = str(uuid.uuid4())

    async def main():
        ws = await ws_connect(server, uid("js"))
        try:
            await ws.send(json.dumps({"ReqGuid": ws_guid, "events": [
                {"Type": "gojson", "EventBytes": byte_array(ws_events[0].bytes)}]}))
            assert_ws_success(await ws_recv_ack(ws), "json", ws_guid)
        finally:
            await ws.close()

    run_async(main(), 30)
    assert_arrived_once(kafka, server, events + ws_events)


def test_json_that_go_refuses_is_refused_naming_the_field(server):
    for body, field in [
        ('{"events": [{"type": "js", "event_bytes": [1, 256]}]}', "events[0].event_bytes[1]"),
        ('{"events": [{"type": "js"}, {"type": 5}]}', "events[1].type"),
        ('{"req_guid": ["a"]}', "req_guid"),
    ]:
        resp = post_events(server.events_url, "json", body)
        assert resp.status_code == 400, (body, resp.status_code)
        decoded = decode_response(resp, "json")
        assert field in decoded["reason"], (body, decoded)


# ---- 6. an empty batch is a success, as upstream acks it -------------------------


@pytest.mark.parametrize(
    "fmt, body",
    [
        ("json", '{"req_guid": "%s", "events": []}'),
        ("json", '{"req_guid": "%s", "events": null}'),
        ("json", '{"req_guid": "%s"}'),
        ("proto", None),
    ],
    ids=["json-empty", "json-null", "json-absent", "proto"],
)
def test_an_empty_batch_is_acked_as_a_success(server, fmt, body):
    guid = str(uuid.uuid4())
    payload = proto_request([], guid) if body is None else body % guid
    assert_success(post_events(server.events_url, fmt, payload), fmt, guid)


def test_an_empty_body_and_an_empty_websocket_batch_are_successes(server):
    resp = post_events(server.events_url, "proto", b"")
    assert resp.status_code == 200, resp.content
    decoded = decode_response(resp, "proto")
    assert (decoded["status"], decoded["code"]) == (STATUS_SUCCESS, CODE_OK), decoded

    async def main():
        ws = await ws_connect(server, uid("empty"))
        try:
            for fmt in ("proto", "json"):
                guid = str(uuid.uuid4())
                message = (proto_request([], guid) if fmt == "proto"
                           else json.dumps({"req_guid": guid, "events": []}))
                await ws.send(message)
                assert_ws_success(await ws_recv_ack(ws), fmt, guid)
            await ws_send_ok(ws, "json")
        finally:
            await ws.close()

    run_async(main(), 30)


# ---- 4. CORS preflight ------------------------------------------------------------


def test_an_allowed_preflight_is_200_as_upstream_answers_it(raccoon):
    origin = "http://app.example"
    server = raccoon.start(env={"SERVER_CORS_ENABLED": "true", "SERVER_CORS_ALLOWED_ORIGIN": origin})
    resp = requests.options(
        server.events_url,
        headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.status_code
    assert resp.headers.get("Access-Control-Allow-Origin") == origin, resp.headers


# ---- start-up as upstream's runtime does it ---------------------------------------


def test_the_open_files_limit_is_raised_to_the_hard_limit(bootstrap, tmp_path):
    """Go's runtime raises the soft limit at start; a server started with the
    common 1024 would otherwise refuse connections past about a thousand."""
    import resource

    soft_given, hard = 1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard <= soft_given:
        pytest.skip(f"the hard limit here is {hard}: nothing to raise")
    hard_given = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    port = free_port()
    env = {
        "SERVER_WEBSOCKET_PORT": port,
        "SERVER_GRPC_PORT": free_port(avoid={port}),
        "SERVER_BIND_ADDRESS": HOST,
        "PUBLISHER_TYPE": "log",
    }
    proc = subprocess.Popen(
        [raccoon_bin(), "server"],
        env=server_environment({k: str(v) for k, v in env.items()}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft_given, hard_given)),
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://{HOST}:{port}/ping", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.05)
        with open(f"/proc/{proc.pid}/limits") as f:
            line = next(l for l in f if l.startswith("Max open files"))
        soft_now = int(line.split()[3])
        assert soft_now == hard_given, line
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err.decode()
    assert f"open files limit raised from {soft_given} to {hard_given}" in err.decode()
