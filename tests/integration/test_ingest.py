"""REST ingestion into Kafka: what a client sends arrives, once, untouched."""

import uuid

import pytest
import requests

from conftest import (
    assert_arrived_once,
    assert_success,
    encode_request,
    make_events,
    post_events,
)

TYPES = ("click", "page-view", "a.b_c", "Purchase")


@pytest.mark.parametrize("event_ack", [1, 0], ids=["ack1", "ack0"])
def test_proto_and_json_batches_arrive_once_untouched(raccoon, kafka, event_ack):
    server = raccoon.start(event_ack=event_ack)
    sent = []
    with requests.Session() as session:
        for fmt, aliases in (("proto", False), ("json", False), ("json", True)):
            events = make_events(7, types=TYPES)
            guid = f"guid-{fmt}-{aliases}-{uuid.uuid4()}"
            resp = post_events(
                server.events_url, fmt, encode_request(fmt, events, guid, aliases=aliases),
                session=session,
            )
            assert_success(resp, fmt, guid)
            sent += events
    # Every byte value, on its own event.
    every_byte = make_events(1, types=("bytes",))[0]._replace(bytes=bytes(range(256)) * 3)
    for fmt in ("proto", "json"):
        guid = str(uuid.uuid4())
        resp = post_events(server.events_url, fmt, encode_request(fmt, [every_byte], guid))
        assert_success(resp, fmt, guid)
        sent.append(every_byte)

    assert_arrived_once(kafka, server, sent)


def test_content_type_parameters_and_aliases(raccoon, kafka):
    server = raccoon.start(event_ack=1)
    sent = []
    for content_type, fmt in (
        ("application/json; charset=utf-8", "json"),
        ("Application/JSON", "json"),
        ("application/protobuf", "proto"),
        ("application/x-protobuf", "proto"),
    ):
        events = make_events(2, types=("ct",))
        guid = str(uuid.uuid4())
        resp = requests.post(
            server.events_url,
            data=encode_request(fmt, events, guid),
            headers={"Content-Type": content_type},
            timeout=30,
        )
        assert_success(resp, fmt, guid)
        sent += events
    assert_arrived_once(kafka, server, sent)


def test_thousand_event_batch_arrives_complete(raccoon, kafka):
    server = raccoon.start(event_ack=1)
    sent = []
    for fmt in ("proto", "json"):
        events = make_events(1000, types=TYPES + ("bulk-1", "bulk-2"))
        guid = str(uuid.uuid4())
        resp = post_events(server.events_url, fmt, encode_request(fmt, events, guid), timeout=60)
        assert_success(resp, fmt, guid)
        sent += events
    assert len(sent) == 2000
    assert_arrived_once(kafka, server, sent, timeout=60)
