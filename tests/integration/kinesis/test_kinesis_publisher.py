"""The kinesis publisher end to end: events over WebSocket, REST and gRPC
reach kinesalite byte for byte (read back with GetRecords), spread over the
stream's shards; streams are created when autocreate is on, and a missing
stream fails its events with a clear reason when it is off."""

import re
import time
import uuid

import grpc
import requests
from kinesalite_peer import kinesalite, kinesis_client, publisher_settings, reader  # noqa: F401

from conftest import (
    CODE_INTERNAL_ERROR,
    HOST,
    STATUS_ERROR,
    assert_success,
    assert_ws_success,
    decode_response,
    decode_ws_ack,
    encode_request,
    free_port,
    make_events,
    post_events,
    proto_request,
    run_async,
    ws_connect,
    ws_message,
)
from raystack.raccoon.v1beta1 import raccoon_pb2 as pb
from raystack.raccoon.v1beta1 import raccoon_pb2_grpc

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(server):
    url = f"http://{HOST}:{server.env['METRIC_PROMETHEUS_PORT']}/metrics"
    samples = {}
    for line in requests.get(url, timeout=10).text.splitlines():
        m = SAMPLE.match(line)
        if m and not line.startswith("#"):
            samples[(m.group(1), frozenset(LABEL.findall(m.group(3) or "")))] = float(m.group(4))
    return samples


def send_over_every_transport(server, events_by_transport):
    for fmt, events in (("proto", events_by_transport[0]), ("json", events_by_transport[1])):
        guid = f"rest-{fmt}-{uuid.uuid4()}"
        assert_success(post_events(server.events_url, fmt, encode_request(fmt, events, guid)),
                       fmt, guid)

    async def websocket():
        ws = await ws_connect(server, user_id="kinesis-ws")
        try:
            for fmt, events in (("proto", events_by_transport[2]),
                                ("json", events_by_transport[3])):
                guid = f"ws-{fmt}-{uuid.uuid4()}"
                await ws.send(ws_message(fmt, events, guid))
                assert_ws_success(decode_ws_ack(await ws.recv()), fmt, guid)
        finally:
            await ws.close()

    run_async(websocket())

    with grpc.insecure_channel(f"{HOST}:{server.env['SERVER_GRPC_PORT']}") as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        request = pb.SendEventRequest()
        request.ParseFromString(proto_request(events_by_transport[4], "grpc-kinesis"))
        response = raccoon_pb2_grpc.EventServiceStub(channel).SendEvent(
            request, metadata=(("x-user-id", "kinesis-grpc"),), timeout=30)
        assert response.status == pb.STATUS_SUCCESS, response


def test_every_transport_arrives_byte_identical_spread_over_shards(raccoon, reader, kinesalite):
    server = raccoon.start(env={"METRIC_PROMETHEUS_ENABLED": "true",
                                "METRIC_PROMETHEUS_PORT": free_port()})
    batches = [make_events(40, types=("click",), tag=f"t{n}-{uuid.uuid4().hex[:6]}")
               for n in range(5)]
    send_over_every_transport(server, batches)
    sent = sorted(e.bytes for batch in batches for e in batch)

    stream = server.topic("click")
    by_shard = reader.read(stream, len(sent))
    assert sorted(d for records in by_shard.values() for d in records) == sent

    # Created as the settings say, and every record turned to the next shard.
    summary = kinesis_client(kinesalite).describe_stream_summary(StreamName=stream)
    assert summary["StreamDescriptionSummary"]["OpenShardCount"] == 2
    counts = sorted(len(records) for records in by_shard.values())
    assert len(counts) == 2 and counts[1] - counts[0] <= len(batches), counts

    samples = scrape(server)
    delivered = sum(v for (name, labels), v in samples.items()
                    if name == "kinesis_messages_delivered_total" and ("stream", stream) in labels)
    assert delivered == len(sent)


def test_autocreate_off_fails_a_missing_stream_until_it_exists(raccoon, kinesalite, reader):
    server = raccoon.start(env={"PUBLISHER_KINESIS_STREAM_AUTOCREATE": "false",
                                "METRIC_PROMETHEUS_ENABLED": "true",
                                "METRIC_PROMETHEUS_PORT": free_port()})
    stream = server.topic("view")
    events = make_events(3, types=("view",))
    resp = post_events(server.events_url, "json", encode_request("json", events, "missing-1"))
    decoded = decode_response(resp, "json")
    assert decoded["status"] == STATUS_ERROR, decoded
    assert decoded["code"] == CODE_INTERNAL_ERROR, decoded
    assert f"Kinesis stream {stream} does not exist" in decoded["reason"], decoded
    assert "PUBLISHER_KINESIS_STREAM_AUTOCREATE" in decoded["reason"], decoded
    failures = sum(v for (name, labels), v in scrape(server).items()
                   if name == "kinesis_unknown_stream_failure_total" and ("stream", stream) in labels)
    assert failures == len(events)

    # Once the stream exists the next probe finds it.
    client = kinesis_client(kinesalite)
    client.create_stream(StreamName=stream, ShardCount=1)
    client.get_waiter("stream_exists").wait(StreamName=stream,
                                            WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    later = make_events(2, types=("view",))
    deadline = time.monotonic() + 10
    while True:
        guid = f"retry-{uuid.uuid4()}"
        resp = post_events(server.events_url, "proto", encode_request("proto", later, guid))
        decoded = decode_response(resp, "proto")
        if decoded["status"] != STATUS_ERROR or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert_success(resp, "proto", guid)
    assert sorted(reader.data(stream, 2)) == sorted(e.bytes for e in later)


def test_autocreate_on_makes_the_stream_before_publishing(raccoon, kinesalite, reader):
    server = raccoon.start(env={"PUBLISHER_KINESIS_STREAM_SHARDS": 3})
    stream = server.topic("signup")
    client = kinesis_client(kinesalite)
    assert stream not in client.list_streams(Limit=1000)["StreamNames"]
    events = make_events(9, types=("signup",))
    assert_success(post_events(server.events_url, "proto", encode_request("proto", events, "ac")),
                   "proto", "ac")
    summary = client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["OpenShardCount"] == 3
    by_shard = reader.read(stream, len(events))
    assert sorted(d for r in by_shard.values() for d in r) == sorted(e.bytes for e in events)
    assert sorted(len(r) for r in by_shard.values()) == [3, 3, 3]
