#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/TARGET/):
small valid and near-valid inputs the fuzzer mutates from. Run it again after
changing a seed here; the files are in the repository."""

import base64
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(number, wire_type, payload):
    tag = varint(number << 3 | wire_type)
    if wire_type == 2:
        return tag + varint(len(payload)) + payload
    return tag + payload


def timestamp(seconds, nanos):
    return field(1, 0, varint(seconds)) + field(2, 0, varint(nanos))


def event(event_bytes, event_type):
    return field(1, 2, event_bytes) + field(2, 2, event_type.encode())


def proto_request(guid, events, seconds=1700000000, nanos=123456789):
    body = field(1, 2, guid.encode()) + field(2, 2, timestamp(seconds, nanos))
    for event_bytes, event_type in events:
        body += field(3, 2, event(event_bytes, event_type))
    return body


BINARY = b"\x00\xff\x80\xc3\x28\n\r"
GUID = "4f7a5c1e-0b9d-4c55-9a43-2f8e61d0a7b2"


def protobuf_seeds():
    unknown = (
        field(9, 0, varint(300))
        + field(10, 1, struct.pack("<q", -1))
        + field(11, 5, struct.pack("<i", 7))
        + varint(12 << 3 | 3) + field(1, 0, varint(1)) + varint(12 << 3 | 4)
        + field(13, 2, b"skipped")
    )
    return {
        "request": proto_request(GUID, [(b"page=home" + BINARY, "click"), (b"{}", "view")]),
        "empty": b"",
        "unknown_fields": proto_request(GUID, [(b"x", "t")]) + unknown,
        "repeated_fields": field(1, 2, b"first") + field(2, 2, field(1, 0, varint(5)))
        + field(1, 2, b"second") + field(2, 2, field(2, 0, varint(9))),
        "wrong_wire_type": field(3, 2, field(1, 0, varint(1)) + field(2, 2, b"t")),
    }


def json_seeds():
    events = [{"event_bytes": base64.b64encode(b"page=home" + BINARY).decode(), "type": "click"}]
    return {
        "request": json.dumps({"req_guid": GUID, "sent_time": {"seconds": 1700000000, "nanos": 5},
                               "events": events}).encode(),
        "aliases": json.dumps({"reqGuid": GUID, "sentTime": {"seconds": "1700000000"},
                               "events": [{"eventBytes": "aGk=", "type": "view"}]}).encode(),
        "bytes_as_array": b'{"req_guid":"g","events":[{"event_bytes":[104,105,0,255],"type":"a"}]}',
        "nulls_and_case": b'{"REQ_GUID":null,"Sent_Time":null,"events":[{"type":"\\u00e9\\ud83d'
        b'\\ude00","event_bytes":null}],"extra":[1,{"a":true}]}',
        "empty": b'{"events":[]}',
    }


KEY = b"\x37\xfa\x21\x3d"


def ws_frame(opcode, payload, fin=True, masked=True):
    head = bytes([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if masked else 0
    n = len(payload)
    if n < 126:
        head += bytes([mask_bit | n])
    elif n <= 0xFFFF:
        head += bytes([mask_bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    return head + KEY + bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))


# The first byte: bit 0 set reads as a client, the rest sets the piece size.
SERVER_WHOLE, SERVER_BYTEWISE, CLIENT_WHOLE = b"\xfe", b"\x00", b"\xff"


def websocket_seeds():
    fragmented = (ws_frame(1, b"{\"req_", fin=False) + ws_frame(9, b"ping")
                  + ws_frame(0, b"guid\":\"g\"}"))
    return {
        "text_and_binary": SERVER_WHOLE + ws_frame(1, b'{"req_guid":"g","events":[]}')
        + ws_frame(2, proto_request("g", [(b"x", "t")])),
        "fragmented_with_ping": SERVER_WHOLE + fragmented,
        "fragmented_bytewise": SERVER_BYTEWISE + fragmented,
        "close": SERVER_WHOLE + ws_frame(8, struct.pack(">H", 1000) + b"bye"),
        "length_16": SERVER_WHOLE + ws_frame(2, bytes(range(200))),
        "client_side": CLIENT_WHOLE + ws_frame(2, b"\x08\x01\x10\x01", masked=False)
        + ws_frame(9, b"", masked=False) + ws_frame(8, struct.pack(">H", 1001), masked=False),
    }


# The first byte sets the piece size: 0xff nearly whole, 0x00 byte by byte.
WHOLE, BYTEWISE = b"\xff", b"\x00"


def http_request(method, target, headers, body=b"", version="1.1"):
    head = f"{method} {target} HTTP/{version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode() + b"\r\n" + body


def chunked(body, size=7):
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    return out + b"0\r\n\r\n"


def http_seeds():
    proto = proto_request(GUID, [(b"x", "click")])
    json_body = json_seeds()["request"]
    return {
        "post_proto": WHOLE + http_request("POST", "/api/v1/events", [
            ("Host", "127.0.0.1"), ("Content-Type", "application/proto"),
            ("Content-Length", len(proto)), ("X-User-ID", "u1"), ("X-User-Group", "g")], proto),
        "chunked_json_then_ping": BYTEWISE + http_request("POST", "/api/v1/events?x=1", [
            ("Host", "h"), ("Content-Type", "application/json; charset=utf-8"),
            ("Transfer-Encoding", "chunked")], chunked(json_body))
        + http_request("GET", "/ping", [("Host", "h")]),
        "upgrade": WHOLE + http_request("GET", "/api/v1/events", [
            ("Host", "h"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]),
        "ambiguous_framing": WHOLE + http_request("POST", "/api/v1/events", [
            ("Host", "h"), ("Transfer-Encoding", "gzip, chunked"), ("Content-Length", "3")],
            b"abc", version="1.0"),
        "folded_header": WHOLE + b"POST /api/v1/events HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n"
        b" folded\r\nContent-Length: 0\r\n\r\n",
        "preflight_ready_unknown": WHOLE + http_request("OPTIONS", "/api/v1/events", [
            ("Host", "h"), ("Origin", "http://a"), ("Access-Control-Request-Method", "POST")])
        + http_request("GET", "/ready", [("Host", "h")])
        + http_request("POST", "/api/v1/events", [("Content-Type", "text/plain"),
                                                 ("Content-Length", "2")], b"hi"),
    }


def main():
    for target, seeds in (("protobuf_request", protobuf_seeds()), ("json_request", json_seeds()),
                          ("websocket_frames", websocket_seeds()),
                          ("http_request", http_seeds())):
        directory = os.path.join(HERE, "corpus", target)
        os.makedirs(directory, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(directory, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
