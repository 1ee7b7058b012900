"""PUBLISHER_TYPE=pubsub against Google's Pub/Sub emulator: events from every
transport arrive untouched in their type's topic, a missing topic is made or
refused as PUBLISHER_PUBSUB_TOPIC_AUTOCREATE says, and the publisher's metrics
count it all."""

import uuid

import grpc

from conftest import (
    CODE_INTERNAL_ERROR,
    STATUS_ERROR,
    assert_success,
    assert_ws_success,
    decode_response,
    encode_request,
    make_events,
    post_events,
    run_async,
    ws_connect,
    ws_message,
    ws_recv_ack,
)
from pubsub_emulator import (  # noqa: F401 (fixtures)
    PROJECT,
    assert_in_subscriptions,
    publisher_settings,
    pubsub,
)
from raystack.raccoon.v1beta1 import raccoon_pb2 as pb
from raystack.raccoon.v1beta1 import raccoon_pb2_grpc

TYPES = ("ps-click", "ps-view")


def send_rest(server, fmt, events):
    guid = f"rest-{fmt}-{uuid.uuid4()}"
    assert_success(post_events(server.events_url, fmt, encode_request(fmt, events, guid)), fmt, guid)


def send_websocket(server, fmt, events):
    async def exchange():
        ws = await ws_connect(server, user_id=f"ps-{uuid.uuid4()}")
        try:
            guid = f"ws-{fmt}-{uuid.uuid4()}"
            await ws.send(ws_message(fmt, events, guid))
            assert_ws_success(await ws_recv_ack(ws), fmt, guid)
        finally:
            await ws.close()

    run_async(exchange())


def send_grpc(server, events):
    request = pb.SendEventRequest(req_guid=f"grpc-{uuid.uuid4()}")
    for e in events:
        request.events.add(event_bytes=e.bytes, type=e.type)
    with grpc.insecure_channel(f"127.0.0.1:{server.env['SERVER_GRPC_PORT']}") as channel:
        response = raccoon_pb2_grpc.EventServiceStub(channel).SendEvent(
            request, metadata=(("x-user-id", "ps-grpc"),), timeout=30
        )
    assert response.status == pb.STATUS_SUCCESS, response
    assert response.data["req_guid"] == request.req_guid


def test_every_transport_arrives_byte_identical_in_its_types_topic(raccoon, pubsub):
    server = raccoon.start(event_ack=1)
    subscriptions = {server.topic(t): pubsub.subscribe(server.topic(t)) for t in TYPES}

    sent = []
    for fmt in ("proto", "json"):
        events = make_events(6, types=TYPES)
        send_rest(server, fmt, events)
        sent += events
        events = make_events(6, types=TYPES)
        send_websocket(server, fmt, events)
        sent += events
    events = make_events(6, types=TYPES)
    send_grpc(server, events)
    sent += events

    assert_in_subscriptions(pubsub, server, sent, subscriptions)
    assert "publisher pubsub" in server.stderr()


def test_without_autocreate_a_missing_topic_fails_its_batch_and_is_counted(raccoon, pubsub):
    from test_metrics import metric_settings, scrape

    server = raccoon.start(event_ack=1, env=metric_settings())
    present = server.topic("ps-present")
    subscription = pubsub.subscribe(present)
    missing = server.topic("ps-missing")

    events = make_events(3, types=("ps-missing",))
    guid = f"missing-{uuid.uuid4()}"
    resp = post_events(server.events_url, "proto", encode_request("proto", events, guid))
    decoded = decode_response(resp, "proto")
    assert decoded["status"] == STATUS_ERROR, decoded
    assert decoded["code"] == CODE_INTERNAL_ERROR, decoded
    assert "does not exist" in decoded["reason"], decoded
    assert not pubsub.topic_exists(missing)

    # The other topic's events are not held back by it.
    ok = make_events(2, types=("ps-present",))
    send_rest(server, "proto", ok)
    assert_in_subscriptions(pubsub, server, ok, {present: subscription})

    samples = scrape(server)
    labels = frozenset({("topic", missing), ("conn_group", "--default--"), ("event_type", "ps-missing")})
    assert samples.get(("pubsub_unknown_topic_failure_total", labels)) == 3, samples
    assert samples.get(("pubsub_messages_undelivered_total", labels)) == 3
    delivered = frozenset({("topic", present), ("conn_group", "--default--"), ("event_type", "ps-present")})
    assert samples.get(("pubsub_messages_delivered_total", delivered)) == 2
    assert ("pubsub_outstanding_messages", frozenset()) in samples


def test_with_autocreate_a_missing_topic_is_made(raccoon, pubsub):
    server = raccoon.start(event_ack=1, env={"PUBLISHER_PUBSUB_TOPIC_AUTOCREATE": "true",
                                             "PUBLISHER_PUBSUB_TOPIC_RETENTION_MS": 3_600_000})
    topic = server.topic("ps-made")
    assert not pubsub.topic_exists(topic)
    first = make_events(2, types=("ps-made",))
    send_rest(server, "proto", first)
    assert pubsub.topic(topic).get("messageRetentionDuration") == "3600s"

    # With the topic's retention the emulator hands a new subscription what
    # the topic kept too.
    subscription = pubsub.subscribe(topic)
    later = make_events(4, types=("ps-made",))
    send_rest(server, "json", later)
    assert_in_subscriptions(pubsub, server, first + later, {topic: subscription})
    assert f"created topic projects/{PROJECT}/topics/{topic}" in server.stderr()
