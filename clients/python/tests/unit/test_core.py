"""Encoding, ack decoding, the retry policy, the budget and the retry
decisions of the shared core."""

from __future__ import annotations

import base64
import json
import random

import pytest
from google.protobuf import json_format, struct_pb2, wrappers_pb2
from google.protobuf.message import DecodeError

from raccoon_client import (
    Ack,
    BadRequestError,
    Code,
    EncodingError,
    Event,
    RetryPolicy,
    Serialization,
    ServerError,
    Status,
    TransportError,
    WireType,
    _core,
    serialize,
)
from raccoon_client._pb import raccoon_pb2 as pb


def test_serialize_table():
    raw = bytes([0, 0xFF, 0x80, ord("a")])
    msg = wrappers_pb2.StringValue(value="héllo")
    assert serialize(raw, Serialization.PROTOBUF) == raw
    assert serialize(raw, Serialization.JSON) == raw
    assert serialize(bytearray(raw), Serialization.JSON) == raw
    assert serialize(msg, Serialization.PROTOBUF) == msg.SerializeToString()
    assert serialize(msg, Serialization.JSON) == '"héllo"'.encode()
    assert serialize({"b": 1, "a": "é"}, Serialization.JSON) == '{"b":1,"a":"é"}'.encode()
    with pytest.raises(EncodingError):
        serialize({"a": 1}, Serialization.PROTOBUF)
    with pytest.raises(EncodingError):
        serialize({"a": object()}, Serialization.JSON)


def test_protobuf_serialization_is_deterministic():
    st = struct_pb2.Struct()
    st.update({k: i for i, k in enumerate("zamqbx")})
    first = serialize(st, Serialization.PROTOBUF)
    assert all(serialize(st, Serialization.PROTOBUF) == first for _ in range(20))
    st2 = struct_pb2.Struct()
    json_format.Parse(serialize(st, Serialization.JSON), st2)
    assert st2 == st


def test_json_request_golden():
    r = _core.encode_request(
        "guid-1",
        [Event("click", bytes([0, 0xFF, ord("x")])), Event("view", {"n": 1}), Event("empty", b"")],
        WireType.JSON,
        Serialization.JSON,
        sent_time=1700000000.25,
    )
    assert r.body == (
        '{"req_guid":"guid-1","sent_time":{"seconds":1700000000,"nanos":250000000},'
        '"events":[{"event_bytes":"AP94","type":"click"},{"event_bytes":"eyJuIjoxfQ==","type":"view"},'
        '{"event_bytes":"","type":"empty"}]}'
    )
    assert isinstance(r.body, str)  # a text frame on a WebSocket
    assert base64.b64decode(json.loads(r.body)["events"][1]["event_bytes"]) == b'{"n":1}'


def test_protobuf_request_golden():
    r = _core.encode_request(
        "g", [Event("t", b"\xff")], WireType.PROTOBUF, Serialization.PROTOBUF, sent_time=1
    )
    # field 1 guid, field 2 timestamp {1: 1}, field 3 event {1: bytes, 2: type}
    assert r.body == bytes([0x0A, 1, ord("g"), 0x12, 2, 0x08, 1, 0x1A, 6, 0x0A, 1, 0xFF, 0x12, 1, ord("t")])
    st = struct_pb2.Struct()
    st.update({"k": "v"})
    r = _core.encode_request(
        "g2", [Event("a", st), Event("b", b"raw")], WireType.PROTOBUF, Serialization.PROTOBUF
    )
    m = pb.SendEventRequest.FromString(r.body)
    assert m.req_guid == "g2" and m.sent_time.seconds > 0
    assert [(e.type, e.event_bytes) for e in m.events] == [
        ("a", st.SerializeToString(deterministic=True)),
        ("b", b"raw"),
    ]


def test_encoding_error_names_the_event():
    with pytest.raises(EncodingError, match=r"event 1 \(b\)"):
        _core.encode_request("g", [Event("a", b""), Event("b", 3)], WireType.PROTOBUF, Serialization.PROTOBUF)


def test_decode_ack():
    a = _core.decode_ack(
        '{"status":2,"code":3,"sent_time":17,"reason":"broker down","data":{"req_guid":"g1"}}'
    )
    assert (a.req_guid, a.status, a.code, a.sent_time, a.reason) == (
        "g1",
        Status.ERROR,
        Code.INTERNAL_ERROR,
        17,
        "broker down",
    )
    msg = pb.SendEventResponse(
        status=pb.STATUS_SUCCESS, code=pb.CODE_OK, sent_time=5, data={"req_guid": "g2"}
    )
    a = _core.decode_ack(msg.SerializeToString())
    assert a.ok and a.req_guid == "g2" and a.sent_time == 5
    refusal = _core.decode_ack(
        pb.SendEventResponse(
            status=pb.STATUS_ERROR, code=pb.CODE_MAX_USER_LIMIT_REACHED, reason="dup"
        ).SerializeToString()
    )
    assert _core.is_refusal(refusal)
    assert not _core.is_refusal(Ack("g", Status.ERROR, Code.MAX_USER_LIMIT_REACHED))
    with pytest.raises(DecodeError):
        _core.decode_ack("{")
    assert _core.decode_http_ack(
        b'{"status":1,"code":1}', "application/json; charset=utf-8", WireType.PROTOBUF
    ).ok


def test_backoff_cap_grows_and_caps():
    p = RetryPolicy()
    assert [p.backoff_cap(n) for n in (1, 2, 3, 4, 7, 8, 50)] == [0, 0.1, 0.2, 0.4, 3.2, 5.0, 5.0]
    assert p.backoff_cap(10**6) == 5.0


def test_backoff_is_full_jitter():
    p = RetryPolicy()
    assert p.backoff(4, lambda: 0.0) == 0.0
    assert p.backoff(4, lambda: 0.5) == pytest.approx(0.2)
    rng = random.Random(7)
    draws = [p.backoff(5, rng.random) for _ in range(2000)]
    cap = p.backoff_cap(5)
    assert all(0 <= d < cap for d in draws)
    assert sum(d < cap / 4 for d in draws) > 300 and sum(d > cap * 3 / 4 for d in draws) > 300


def test_budget():
    b = _core.Budget(12)
    assert b.take(5) and b.take(5) and not b.take(5)
    for _ in range(3):
        b.refund()
    assert b.available == 5 and b.take(5)
    for _ in range(100):
        b.refund()
    assert b.available == 12
    unlimited = _core.Budget(0)
    assert all(unlimited.take(10) for _ in range(100))


@pytest.mark.parametrize(
    "status,retry",
    [(200, False), (400, False), (404, False), (413, False), (429, True), (500, True), (503, True)],
)
def test_http_decisions(status, retry):
    assert _core.retryable_http_status(status) is retry


def test_grpc_and_ack_decisions():
    import grpc

    for code in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    ):
        assert _core.retryable_grpc_code(code)
    for code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNIMPLEMENTED):
        assert not _core.retryable_grpc_code(code)
    assert isinstance(_core.ack_error(Ack("g", Status.ERROR, Code.INTERNAL_ERROR)), ServerError)
    assert isinstance(_core.ack_error(Ack("g", Status.ERROR, Code.BAD_REQUEST)), BadRequestError)
    assert ServerError().retryable() and TransportError().retryable() and not BadRequestError().retryable()


def test_error_message():
    e = BadRequestError(http_status=400, code=Code.BAD_REQUEST, reason="no events").with_send("g", 1)
    assert str(e) == "raccoon: bad request (req_guid g, 1 attempt): HTTP 400: BAD_REQUEST: no events"
    assert e.kind == "bad_request"
