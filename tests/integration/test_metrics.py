"""Observability of the real binary against the real broker: known traffic over
REST, WebSocket and gRPC, then the exact counter values on the Prometheus
endpoint and in the statsd lines a UDP listener receives; label folding,
readiness, JSON logs and the rate limit on request error logs."""

import json
import re
import socket
import time
import uuid

import grpc
import pytest
import requests

from conftest import (
    HOST,
    assert_success,
    assert_ws_success,
    free_port,
    make_events,
    post_events,
    proto_request,
    run_async,
    ws_connect,
    ws_message,
    ws_recv_ack,
)
from raystack.raccoon.v1beta1 import raccoon_pb2_grpc

GROUP_HEADER = "X-User-Group"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metric_settings(**extra):
    port = free_port()
    settings = {
        "METRIC_PROMETHEUS_ENABLED": "true",
        "METRIC_PROMETHEUS_PORT": port,
        "SERVER_WEBSOCKET_CONN_GROUP_HEADER": GROUP_HEADER,
    }
    settings.update(extra)
    return settings


def scrape(server):
    """The server's /metrics as {(name, frozenset of label pairs): value}."""
    url = f"http://{HOST}:{server.env['METRIC_PROMETHEUS_PORT']}/metrics"
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = {}
    for line in resp.text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not an exposition line: {line!r}"
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def assert_values(samples, expected):
    """`expected`: (name, labels, value) triples, each an exact series value."""
    for name, labels, want in expected:
        assert value(samples, name, **labels) == want, (name, labels, want)


def total(samples, name, **labels):
    """Sum over every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def wait_for(predicate, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def send_rest(server, events, group, fmt="proto"):
    guid = str(uuid.uuid4())
    resp = post_events(server.events_url, fmt, proto_request(events, guid),
                       headers={GROUP_HEADER: group})
    assert_success(resp, fmt, guid)


def test_rest_traffic_gives_exact_counts(raccoon, kafka):
    server = raccoon.start(event_ack=1, env=metric_settings())
    kafka.ensure_topics([server.topic(t) for t in ("click", "view")])
    group = "rest-metrics"
    sent = []
    for _ in range(3):
        events = make_events(3, types=("click", "click", "view"))
        send_rest(server, events, group)
        sent += events
    resp = post_events(server.events_url, "json", "{not json", headers={GROUP_HEADER: group})
    assert resp.status_code == 400
    resp = post_events(server.events_url, "text/csv", "a,b")
    assert resp.status_code == 400

    samples = scrape(server)
    click_bytes = sum(len(e.bytes) for e in sent if e.type == "click")
    view_bytes = sum(len(e.bytes) for e in sent if e.type == "view")
    assert_values(samples, [
        ("batches_read_total", dict(status="success", reason="NA", conn_group=group), 3),
        ("batches_read_total", dict(status="failed", reason="serde", conn_group=group), 1),
        ("batches_read_total", dict(status="failed", reason="unknowncontentype",
                                    conn_group="NA"), 1),
        ("events_rx_total", dict(conn_group=group, event_type="click"), 6),
        ("events_rx_total", dict(conn_group=group, event_type="view"), 3),
        ("events_rx_bytes_total", dict(conn_group=group, event_type="click"), click_bytes),
        ("events_rx_bytes_total", dict(conn_group=group, event_type="view"), view_bytes),
        # EVENT_ACK=1: every ack came after its events' delivery reports.
        ("kafka_messages_delivered_total", dict(success="true", conn_group=group,
                                                event_type="click"), 6),
        ("kafka_messages_delivered_total", dict(success="true", conn_group=group,
                                                event_type="view"), 3),
        ("server_processing_latency_milliseconds_count", dict(conn_group=group), 3),
        ("event_processing_duration_milliseconds_count", dict(conn_group=group), 3),
    ])
    assert total(samples, "kafka_messages_delivered_total", success="false") == 0
    assert total(samples, "kafka_messages_undelivered_total") == 0
    assert total(samples, "worker_processing_duration_milliseconds_count") == 3
    assert total(samples, "batch_idle_in_channel_milliseconds_count") == 3
    # Cumulative buckets end at the count.
    assert value(samples, "server_processing_latency_milliseconds_bucket", conn_group=group,
                 le="+Inf") == 3
    assert value(samples, "process_resident_memory_bytes") > 1_000_000
    assert value(samples, "process_threads") >= 4
    assert value(samples, "process_open_fds") >= 5
    assert value(samples, "channel_batches_current") == 0
    # Every batch was delivered: none holds its bytes.
    assert value(samples, "buffer_bytes_current") == 0


def test_librdkafka_statistics_become_kafka_gauges(raccoon, kafka):
    server = raccoon.start(event_ack=1, env=metric_settings(
        PUBLISHER_KAFKA_CLIENT_STATISTICS_INTERVAL_MS=200))
    kafka.ensure_topics([server.topic("stats")])
    for _ in range(3):
        send_rest(server, make_events(4, types=("stats",)), "stats")

    # The next statistics after the last delivery count all 12 messages.
    samples = wait_for(
        lambda: (s := scrape(server)) and value(s, "kafka_tx_messages_total") >= 12 and s,
        what="kafka_tx_messages_total to reach 12")
    assert value(samples, "kafka_tx_messages_bytes_total") > 12 * 20
    broker = HOST
    assert value(samples, "kafka_brokers_tx_total", broker=broker) > 0, samples
    assert value(samples, "kafka_brokers_tx_bytes_total", broker=broker) > 0
    assert ("kafka_brokers_rtt_average_milliseconds",
            frozenset({("broker", broker)})) in samples, samples


def test_unknown_topic_failures_are_counted(raccoon):
    """A topic the broker does not have and may not create: each event is
    undelivered, by type and topic."""
    server = raccoon.start(event_ack=1, env=metric_settings(
        PUBLISHER_KAFKA_CLIENT_ALLOW_AUTO_CREATE_TOPICS="false",
        PUBLISHER_KAFKA_CLIENT_TOPIC_METADATA_PROPAGATION_MAX_MS=500,
        PUBLISHER_KAFKA_CLIENT_MESSAGE_TIMEOUT_MS=10000))
    group = "lost"
    guid = str(uuid.uuid4())
    resp = post_events(server.events_url, "proto",
                       proto_request(make_events(2, types=("nowhere",)), guid),
                       headers={GROUP_HEADER: group})
    assert resp.status_code == 500, resp.content
    assert b"Unknown topic" in resp.content, resp.content

    samples = scrape(server)
    assert value(samples, "kafka_messages_delivered_total", success="false", conn_group=group,
                 event_type="nowhere") == 2
    assert value(samples, "kafka_messages_undelivered_total", success="false", conn_group=group,
                 event_type="nowhere") == 2
    assert value(samples, "kafka_unknown_topic_failure_total", topic=server.topic("nowhere"),
                 event_type="nowhere") == 2


def test_websocket_connections_and_duplicates(raccoon, kafka):
    server = raccoon.start(event_ack=1, env=metric_settings(
        SERVER_BATCH_DEDUP_IN_CONNECTION_ENABLED="true"))
    kafka.ensure_topics([server.topic("ws")])
    group = "ws-metrics"

    async def session():
        first = await ws_connect(server, "user-a", group=group)
        second = await ws_connect(server, "user-b", group=group)
        # The same id and group again: refused as a duplicate.
        duplicate = await ws_connect(server, "user-a", group=group)
        await duplicate.recv()
        await duplicate.wait_closed()

        samples = scrape(server)
        assert value(samples, "connections_count_current", conn_group=group) == 2
        assert value(samples, "user_connection_success_total", conn_group=group) == 2
        assert value(samples, "user_connection_failure_total", conn_group=group,
                     reason="exists") == 1

        events = make_events(4, types=("ws",))
        await first.send(ws_message("proto", events, "guid-1"))
        assert_ws_success(await ws_recv_ack(first), "proto", "guid-1")
        # Delivered already: answered from the dedup memory, counted once as a duplicate.
        await first.send(ws_message("proto", events, "guid-1"))
        assert_ws_success(await ws_recv_ack(first), "proto", "guid-1")
        await second.send("not json")
        await ws_recv_ack(second)
        await first.close()
        await second.close()

    run_async(session())
    samples = wait_for(
        lambda: (s := scrape(server))
        and value(s, "connections_count_current", conn_group=group) == 0 and s,
        what="connections_count_current to drop to 0")
    assert_values(samples, [
        ("user_session_duration_milliseconds_count", dict(conn_group=group), 2),
        ("events_duplicate_total", dict(conn_group=group, reason="duplicate"), 1),
        ("batches_read_total", dict(status="success", reason="NA", conn_group=group), 1),
        ("batches_read_total", dict(status="failed", reason="serde", conn_group=group), 1),
        ("events_rx_total", dict(conn_group=group, event_type="ws"), 4),
        ("kafka_messages_delivered_total",
         dict(success="true", conn_group=group, event_type="ws"), 4),
    ])


def test_grpc_requests_are_counted(raccoon, kafka):
    server = raccoon.start(event_ack=1, env=metric_settings(
        SERVER_WEBSOCKET_CONN_GROUP_HEADER="x-user-group"))
    kafka.ensure_topics([server.topic("rpc")])
    group = "grpc-metrics"
    from raystack.raccoon.v1beta1 import raccoon_pb2 as pb

    with grpc.insecure_channel(f"{HOST}:{server.env['SERVER_GRPC_PORT']}") as channel:
        stub = raccoon_pb2_grpc.EventServiceStub(channel)
        for _ in range(2):
            req = pb.SendEventRequest(req_guid=str(uuid.uuid4()))
            for e in make_events(5, types=("rpc",)):
                req.events.add(event_bytes=e.bytes, type=e.type)
            resp = stub.SendEvent(req, timeout=30,
                                  metadata=(("x-user-id", "u1"), ("x-user-group", group)))
            assert resp.status == pb.STATUS_SUCCESS, resp
        with pytest.raises(grpc.RpcError):
            stub.SendEvent(pb.SendEventRequest(), timeout=30, metadata=(("x-user-group", group),))

    samples = scrape(server)
    assert_values(samples, [
        ("batches_read_total", dict(status="success", reason="NA", conn_group=group), 2),
        ("batches_read_total", dict(status="failed", reason="missingid", conn_group=group), 1),
        ("events_rx_total", dict(conn_group=group, event_type="rpc"), 10),
        ("kafka_messages_delivered_total",
         dict(success="true", conn_group=group, event_type="rpc"), 10),
    ])


def test_event_types_beyond_the_limit_fold_into_other(raccoon, kafka):
    server = raccoon.start(event_ack=1, env=metric_settings(METRIC_EVENT_TYPE_LIMIT=2))
    types = ("t1", "t2", "t3", "t4")
    kafka.ensure_topics([server.topic(t) for t in types])
    for t in types:
        send_rest(server, make_events(1, types=(t,)), "fold")

    samples = scrape(server)
    rx = {dict(ls)["event_type"]: v for (n, ls), v in samples.items()
          if n == "events_rx_total" and dict(ls).get("conn_group") == "fold"}
    assert rx == {"t1": 1, "t2": 1, "other": 2}, rx


def test_statsd_lines_carry_the_same_counts(raccoon, kafka):
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((HOST, 0))
    listener.settimeout(0.5)
    try:
        server = raccoon.start(event_ack=1, env={
            "METRIC_STATSD_ENABLED": "true",
            "METRIC_STATSD_ADDRESS": f"{HOST}:{listener.getsockname()[1]}",
            "METRIC_STATSD_FLUSH_PERIOD_MS": 200,
            "SERVER_WEBSOCKET_CONN_GROUP_HEADER": GROUP_HEADER,
        })
        kafka.ensure_topics([server.topic("click")])
        for _ in range(4):
            send_rest(server, make_events(5, types=("click",)), "statsd-it")

        counters = {}
        lines = []
        deadline = time.monotonic() + 15
        key = "kafka_messages_delivered_total,success=true,conn_group=statsd-it,event_type=click"
        while time.monotonic() < deadline and counters.get(key, 0) < 20:
            try:
                datagram = listener.recv(65536).decode()
            except socket.timeout:
                continue
            for line in datagram.split("\n"):
                lines.append(line)
                m = re.fullmatch(r"([^:]+):([-0-9.e+]+)\|(c|g|ms)(\|@[0-9.e-]+)?", line)
                assert m, f"not a statsd line: {line!r}"
                if m.group(3) == "c":
                    counters[m.group(1)] = counters.get(m.group(1), 0) + float(m.group(2))
    finally:
        listener.close()

    assert counters.get("events_rx_total,conn_group=statsd-it,event_type=click") == 20, counters
    assert counters.get(
        "batches_read_total,status=success,reason=NA,conn_group=statsd-it") == 4, counters
    assert counters.get(key) == 20, counters
    assert any(line.startswith("process_resident_memory_bytes:") and line.endswith("|g")
               for line in lines), lines[:20]
    timings = [line for line in lines
               if line.startswith("server_processing_latency_milliseconds,conn_group=statsd-it:")]
    assert timings and all("|ms" in line for line in timings), timings


def test_readiness_waits_for_the_broker(raccoon):
    """/ready is 503 while the publisher has no broker; /ping stays 200."""
    dead = free_port()
    server = raccoon.start(env={"PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS": f"{HOST}:{dead}"})
    time.sleep(1.5)
    resp = requests.get(server.url + "/ready", timeout=5)
    assert resp.status_code == 503, resp.text
    body = resp.json()
    assert body["status"] == "not ready" and body["reason"], body
    assert requests.get(server.url + "/ping", timeout=5).status_code == 200


def test_readiness_with_a_broker(raccoon):
    server = raccoon.start()
    wait_for(lambda: requests.get(server.url + "/ready", timeout=5).status_code == 200,
             what="/ready to answer 200")
    assert requests.get(server.url + "/ready", timeout=5).json() == {"status": "ready"}


def test_json_logs_and_the_request_error_rate_limit(raccoon):
    server = raccoon.start(env={"LOG_FORMAT": "json", "LOG_REQUEST_ERRORS_PER_SECOND": 3})
    session = requests.Session()
    for _ in range(40):
        assert post_events(server.events_url, "json", "{bad", session=session).status_code == 400
    # The next second's first line says how many were held back.
    time.sleep(1.1)
    assert post_events(server.events_url, "json", "{bad", session=session).status_code == 400
    code, _ = server.stop()
    assert code == 0

    records = [json.loads(line) for line in server.stderr().splitlines() if line.strip()]
    for r in records:
        assert set(r) == {"time", "level", "thread", "message"}, r
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", r["time"]), r
    refused = [r for r in records if "refused" in r["message"]]
    # 3 a second: at most 3 per second touched (the 40 may straddle one boundary), plus the last.
    assert 4 <= len(refused) <= 7, [r["message"] for r in refused]
    summaries = [r for r in records if "were not logged" in r["message"]]
    assert summaries, [r["message"] for r in records]
    held_back = sum(int(r["message"].split()[0]) for r in summaries)
    assert held_back + len(refused) == 41, (held_back, len(refused))
