"""The conformance cases: sections 1-7 and 9 of the Autobahn WebSocket test
suite, written again from its public case descriptions, with RFC 6455's
requirements of a server as the expected behaviour (docs/websocket-conformance.md).

The server speaks its own protocol over WebSocket: each text message is a
JSON SendEventRequest and each binary one a protobuf SendEventRequest, and
its answer is an ack, not an echo. So where Autobahn expects an echo, a
case sends a request of the size and shape it describes and expects its
ack; a text message that cannot be a request (empty, or with characters
JSON strings cannot hold) expects the error ack (code 2) on an open
connection."""

import time
import uuid

from conftest import pb
from wsclient import BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT, close_payload, frame

PASS, NON_STRICT, FAIL, INFORMATIONAL = "pass", "non-strict", "fail", "informational"

PROTOCOL_ERROR, BAD_PAYLOAD, TOO_BIG = 1002, 1007, 1009
# SERVER_MAX_REQUEST_BYTES's default: a message or frame beyond it is closed with 1009.
MAX_MESSAGE = 4 * 1024 * 1024


class Ack:
    """The ack a message must get: a success naming `guid`, or an error (code 2)."""

    def __init__(self, ok, guid, text):
        self.ok, self.guid, self.text = ok, guid, text

    def key(self):
        kind = "text" if self.text else "binary"
        return ("ok", self.guid, kind) if self.ok else ("error", "code 2", kind)

    def __repr__(self):
        return "/".join(str(k) for k in self.key())


class Message:
    """A request's bytes and the ack it must get."""

    def __init__(self, payload, ack):
        self.payload, self.ack = payload, ack

    @property
    def text(self):
        return self.ack.text


def json_message(size=None, guid=None):
    """A text message: a JSON request of exactly `size` bytes (padded with
    spaces), or an error-acked one when `size` is too small for `{}`."""
    guid = guid if guid is not None else str(uuid.uuid4())
    templates = [
        ('{"req_guid":"%s","events":[{"type":"conformance","event_bytes":"Y29uZm9ybWFuY2U="}]}'
         % guid, guid),
        ('{"req_guid":"%s"}' % guid, guid),
        ("{}", ""),
    ]
    for body, acked_guid in templates:
        if size is None or len(body) <= size:
            padded = body.encode() + b" " * ((size or len(body)) - len(body))
            return Message(padded, Ack(True, acked_guid, True))
    return Message(b" " * size, Ack(False, "", True))


EVENT_TYPE = "conformance"


def varint_size(n):
    size = 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return size


def field_size(length):
    """A length-delimited field of a number below 16: its tag, length and bytes."""
    return 1 + varint_size(length) + length


def proto_size(guid_length, filler):
    size = field_size(guid_length) if guid_length else 0
    if filler is not None:
        event = field_size(len(EVENT_TYPE)) + (field_size(filler) if filler else 0)
        size += field_size(event)
    return size


def proto_body(guid, filler):
    request = pb.SendEventRequest(req_guid=guid)
    if filler is not None:
        request.events.add(type=EVENT_TYPE, event_bytes=b"\x00\xff" * (filler // 2) + b"x" * (filler % 2))
    return request.SerializeToString()


def proto_message(size=None, guid=None):
    """A binary message: a protobuf request of exactly `size` bytes."""
    guid = guid if guid is not None else str(uuid.uuid4())
    if size is None:
        return Message(proto_body(guid, 16), Ack(True, guid, False))
    for guid_length in range(len(guid), -1, -1):
        for filler in [None] + list(range(max(0, size - proto_size(guid_length, 0) - 24), size + 1)):
            if proto_size(guid_length, filler) == size:
                body = proto_body(guid[:guid_length], filler)
                assert len(body) == size
                return Message(body, Ack(True, guid[:guid_length], False))
    raise ValueError(f"no protobuf request of {size} bytes")


def utf8_message(text_bytes):
    """A text message holding `text_bytes`: as the req_guid of a JSON request
    when JSON can hold it unescaped, else as the whole (error-acked) message."""
    plain = all(b >= 0x20 and b not in (0x22, 0x5C) for b in text_bytes)
    if plain:
        try:
            guid = text_bytes.decode("utf-8")
        except UnicodeDecodeError:
            guid = None
        body = b'{"req_guid":"' + text_bytes + b'"}'
        return Message(body, Ack(True, guid, True))
    return Message(text_bytes, Ack(False, "", True))


# --------------------------------------------------------------------------
# Steps a case takes.


class Send:
    def __init__(self, data, chop=None, delay=0.0):
        self.data, self.chop, self.delay = data, chop, delay

    def run(self, conn):
        return conn.send(self.data, self.chop, self.delay)


class Pause:
    def __init__(self, seconds):
        self.seconds = seconds

    def run(self, conn):
        time.sleep(self.seconds)
        return True


class AwaitAcks:
    """Waits until `count` acks came, as a client that waits for each answer."""

    def __init__(self, count, timeout=10.0):
        self.count, self.timeout = count, timeout

    def run(self, conn):
        return conn.wait_for(
            lambda frames, eof: eof or sum(f.opcode in (TEXT, BINARY) for f in frames) >= self.count,
            self.timeout,
        )


def frames_of(message, sizes=None, opcode=None):
    """The frames of `message`: one, or fragments of the given sizes (the last takes the rest)."""
    opcode = opcode if opcode is not None else (TEXT if message.text else BINARY)
    payload = message.payload
    if not sizes:
        return frame(opcode, payload)
    pieces, at = [], 0
    for size in sizes:
        pieces.append(payload[at:at + size])
        at += size
    pieces.append(payload[at:])
    return b"".join(frame(opcode if i == 0 else CONTINUATION, piece, fin=i == len(pieces) - 1)
                    for i, piece in enumerate(pieces))


def fragmented(message, fragment_size):
    count = max(1, -(-len(message.payload) // fragment_size))
    return frames_of(message, [fragment_size] * (count - 1))


class Case:
    """One case: what the client sends, and what RFC 6455 requires back.

    server_close: None when the connection stays open (the client then closes
    with 1000 and expects 1000 back); else the code the server's close must
    carry, after failing the connection or in answer to the client's close.
    known: the result this server is expected to get, with `note` saying why
    when it is not a pass."""

    def __init__(self, id, title, steps=(), acks=(), pongs=(), server_close=None, fail_fast=False,
                 quick=True, known=PASS, note="", timeout=10.0, build=None):
        self.id, self.title, self.steps = id, title, list(steps)
        self.acks, self.pongs = list(acks), list(pongs)
        # Large cases make their messages when they run: build() -> (steps, acks).
        self._build = build
        self.server_close, self.fail_fast = server_close, fail_fast
        self.quick, self.known, self.note, self.timeout = quick, known, note, timeout

    def materialize(self):
        if self._build:
            self.steps, self.acks = self._build()
            self._build = None
        return self

    def release(self):
        """Drops the steps' bytes once the case ran."""
        self.steps = []

    @property
    def expected(self):
        parts = []
        if self.acks:
            kinds = {repr(a).split("/")[0] for a in self.acks}
            parts.append(f"{len(self.acks)} ack{'s' if len(self.acks) > 1 else ''} ({'/'.join(sorted(kinds))})")
        if self.pongs:
            parts.append(f"{len(self.pongs)} pong{'s' if len(self.pongs) > 1 else ''}")
        if self.server_close is None:
            parts.append("open; close 1000 echoed")
        else:
            parts.append(f"close {self.server_close}" + (" at once" if self.fail_fast else ""))
        return ", ".join(parts)


CASES = []


def case(*args, **kwargs):
    CASES.append(Case(*args, **kwargs))


# --------------------------------------------------------------------------
# 1. Framing: text and binary messages of the sizes around each length form.

SIZES = [(1, 0), (2, 125), (3, 126), (4, 127), (5, 128), (6, 65535), (7, 65536)]
for kind, (section, make) in (("text", (1, json_message)), ("binary", (2, proto_message))):
    for number, size in SIZES:
        m = make(size)
        case(f"1.{section}.{number}", f"Send a {kind} message with payload length {size}",
             [Send(frames_of(m))], acks=[m.ack])
    m = make(65536)
    case(f"1.{section}.8", f"Send a {kind} message with payload length 65536, in chops of 997 octets",
         [Send(frames_of(m), chop=997, delay=0.001)], acks=[m.ack])

# --------------------------------------------------------------------------
# 2. Pings and pongs.

case("2.1", "Send ping without payload", [Send(frame(PING))], pongs=[b""])
case("2.2", "Send ping with small text payload", [Send(frame(PING, b"Hello, world!"))],
     pongs=[b"Hello, world!"])
small_binary = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
case("2.3", "Send ping with small binary (non UTF-8) payload", [Send(frame(PING, small_binary))],
     pongs=[small_binary])
case("2.4", "Send ping with binary payload of 125 octets", [Send(frame(PING, b"\xfe" * 125))],
     pongs=[b"\xfe" * 125])
case("2.5", "Send ping with binary payload of 126 octets", [Send(frame(PING, b"\xfe" * 126))],
     server_close=PROTOCOL_ERROR)
case("2.6", "Send ping with binary payload of 125 octets, in octet-wise chops",
     [Send(frame(PING, b"\xfe" * 125), chop=1, delay=0.001)], pongs=[b"\xfe" * 125])
case("2.7", "Send unsolicited pong without payload", [Send(frame(PONG))])
case("2.8", "Send unsolicited pong with payload", [Send(frame(PONG, b"unsolicited pong payload"))])
case("2.9", "Send unsolicited pong with payload, then ping with payload",
     [Send(frame(PONG, b"unsolicited pong payload") + frame(PING, b"ping payload"))],
     pongs=[b"ping payload"])
ten = [f"payload-{i}".encode() for i in range(10)]
case("2.10", "Send 10 pings with payload", [Send(b"".join(frame(PING, p) for p in ten))], pongs=ten)
case("2.11", "Send 10 pings with payload, in frame-wise chops",
     [Send(frame(PING, p)) for p in ten for _ in [0]], pongs=ten)

# --------------------------------------------------------------------------
# 3. Reserved bits: no extension is negotiated, so a set RSV bit fails the connection.


def reserved_case(id, title, rsv, opcode, payload, before=True, chop=None, framewise=False):
    first = json_message()
    steps, acks = [], []
    bad = frame(opcode, payload, rsv=rsv)
    after = frame(PING, b"after")
    if before:
        acks = [first.ack]
        if framewise:
            steps = [Send(frames_of(first)), Pause(0.05), Send(bad), Pause(0.05), Send(after)]
        else:
            steps = [Send(frames_of(first) + bad + after, chop=chop, delay=0.001 if chop else 0)]
    else:
        steps = [Send(bad)]
    case(id, title, steps, acks=acks, server_close=PROTOCOL_ERROR)


reserved_case("3.1", "Send small text message with RSV = 1", 1, TEXT, json_message().payload, before=False)
reserved_case("3.2", "Send small text message, then again with RSV = 2, then ping", 2, TEXT,
              json_message().payload)
reserved_case("3.3", "As 3.2 with RSV = 3, in frame-wise chops", 3, TEXT, json_message().payload,
              framewise=True)
reserved_case("3.4", "As 3.2 with RSV = 4, in octet-wise chops", 4, TEXT, json_message().payload, chop=1)
reserved_case("3.5", "Send small binary message with RSV = 5", 5, BINARY, proto_message().payload,
              before=False)
reserved_case("3.6", "Send ping with payload and RSV = 6", 6, PING, b"ping", before=False)
reserved_case("3.7", "Send close with RSV = 7", 7, CLOSE, close_payload(1000), before=False)

# --------------------------------------------------------------------------
# 4. Opcodes: the reserved non-control (3-7) and control (B-F) opcodes fail the connection.

for group, opcodes in ((1, (3, 4, 5, 6, 7)), (2, (0xB, 0xC, 0xD, 0xE, 0xF))):
    for number, opcode in enumerate(opcodes, start=1):
        payload = b"" if number == 1 else b"reserved opcode payload"
        if number <= 2:
            case(f"4.{group}.{number}", f"Send frame with reserved opcode {opcode}"
                 + (" and non-empty payload" if payload else ""),
                 [Send(frame(opcode, payload))], server_close=PROTOCOL_ERROR)
        else:
            m = json_message()
            case(f"4.{group}.{number}",
                 f"Send small text message, then frame with reserved opcode {opcode}, then ping",
                 [Send(frames_of(m) + frame(opcode, payload) + frame(PING, b"after"))],
                 acks=[m.ack], server_close=PROTOCOL_ERROR)

# --------------------------------------------------------------------------
# 5. Fragmentation.

case("5.1", "Send ping in 2 fragments",
     [Send(frame(PING, b"fragment1", fin=False) + frame(CONTINUATION, b"fragment2"))],
     server_close=PROTOCOL_ERROR)
case("5.2", "Send pong in 2 fragments",
     [Send(frame(PONG, b"fragment1", fin=False) + frame(CONTINUATION, b"fragment2"))],
     server_close=PROTOCOL_ERROR)
for number, (title, chop, framewise) in enumerate(
        (("", None, False), (", in octet-wise chops", 1, False), (", in frame-wise chops", None, True)),
        start=3):
    m = json_message()
    half = len(m.payload) // 2
    pieces = [frame(TEXT, m.payload[:half], fin=False), frame(CONTINUATION, m.payload[half:])]
    steps = ([Send(pieces[0]), Pause(0.05), Send(pieces[1])] if framewise
             else [Send(b"".join(pieces), chop=chop, delay=0.001 if chop else 0)])
    case(f"5.{number}", f"Send text message in 2 fragments{title}", steps, acks=[m.ack])
for number, (title, chop, framewise) in enumerate(
        (("", None, False), (", in octet-wise chops", 1, False), (", in frame-wise chops", None, True)),
        start=6):
    m = json_message()
    half = len(m.payload) // 2
    pieces = [frame(TEXT, m.payload[:half], fin=False), frame(PING, b"between"),
              frame(CONTINUATION, m.payload[half:])]
    steps = ([Send(pieces[0]), Pause(0.05), Send(pieces[1]), Pause(0.05), Send(pieces[2])]
             if framewise else [Send(b"".join(pieces), chop=chop, delay=0.001 if chop else 0)])
    case(f"5.{number}", f"Send text message in 2 fragments with ping between{title}", steps,
         acks=[m.ack], pongs=[b"between"])
for start, fin, what in ((9, True, "FIN = true"), (12, False, "FIN = false")):
    for offset, (title, chop, framewise) in enumerate(
            (("", None, False), (", in frame-wise chops", None, True), (", in octet-wise chops", 1, False))):
        m = json_message()
        pieces = [frame(CONTINUATION, b"fragment1", fin=fin), frames_of(m)]
        steps = ([Send(pieces[0]), Pause(0.05), Send(pieces[1])] if framewise
                 else [Send(b"".join(pieces), chop=chop, delay=0.001 if chop else 0)])
        case(f"5.{start + offset}",
             f"Send continuation frame with {what} when there is nothing to continue, "
             f"then text message{title}", steps, server_close=PROTOCOL_ERROR)
m = json_message()
half = len(m.payload) // 2
case("5.15", "Send text message in 2 fragments, then continuation with FIN = false "
     "when there is nothing to continue, then text message",
     [Send(frame(TEXT, m.payload[:half], fin=False) + frame(CONTINUATION, m.payload[half:])
           + frame(CONTINUATION, b"fragment3", fin=False) + frame(TEXT, b"fragment4"))],
     acks=[m.ack], server_close=PROTOCOL_ERROR)
for number, fin in ((16, False), (17, True)):
    case(f"5.{number}", f"Twice: continuation with FIN = {str(fin).lower()} when there is nothing "
         "to continue, then text message in 2 fragments",
         [Send((frame(CONTINUATION, b"fragment1", fin=fin) + frame(TEXT, b"fragment2", fin=False)
                + frame(CONTINUATION, b"fragment3")) * 2)],
         server_close=PROTOCOL_ERROR)
case("5.18", "Send text message in 2 fragments, both with FIN = false and opcode text",
     [Send(frame(TEXT, b"fragment1", fin=False) + frame(TEXT, b"fragment2"))],
     server_close=PROTOCOL_ERROR)
for number, framewise in ((19, False), (20, True)):
    m = json_message()
    fifth = len(m.payload) // 5
    parts = [m.payload[i * fifth:(i + 1) * fifth] for i in range(4)] + [m.payload[4 * fifth:]]
    steps = [Send(frame(TEXT, parts[0], fin=False)), Send(frame(CONTINUATION, parts[1], fin=False)),
             Send(frame(PING, b"pongme 1!")), Pause(0.5 if framewise else 0.2),
             Send(frame(CONTINUATION, parts[2], fin=False)),
             Send(frame(CONTINUATION, parts[3], fin=False)), Send(frame(PING, b"pongme 2!")),
             Pause(0.5 if framewise else 0.2), Send(frame(CONTINUATION, parts[4]))]
    case(f"5.{number}", "Send text message in 5 fragments with pings between, pausing"
         + (" longer" if framewise else ""), steps, acks=[m.ack], pongs=[b"pongme 1!", b"pongme 2!"])

# --------------------------------------------------------------------------
# 6. UTF-8 handling.

case("6.1.1", "Send text message of length 0", [Send(frame(TEXT, b""))],
     acks=[Ack(False, "", True)])
case("6.1.2", "Send fragmented text message, 3 fragments each of length 0",
     [Send(frame(TEXT, b"", fin=False) + frame(CONTINUATION, b"", fin=False) + frame(CONTINUATION, b""))],
     acks=[Ack(False, "", True)])
m = json_message()
case("6.1.3", "Send fragmented text message, 3 fragments, first and last of length 0",
     [Send(frame(TEXT, b"", fin=False) + frame(CONTINUATION, m.payload, fin=False)
           + frame(CONTINUATION, b""))], acks=[m.ack])

hello = "Hello-µ@ßöäüàá-UTF-8!!".encode()
kosme = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
m = utf8_message(hello)
case("6.2.1", "Send a valid UTF-8 text message in one fragment", [Send(frames_of(m))], acks=[m.ack])
cut = m.payload.index(b"\xc2")
case("6.2.2", "Send a valid UTF-8 text message in two fragments, split on a code point boundary",
     [Send(frames_of(m, [cut]))], acks=[m.ack])
case("6.2.3", "Send a valid UTF-8 text message in fragments of 1 octet, split inside code points",
     [Send(frames_of(m, [1] * (len(m.payload) - 1)))], acks=[m.ack])
m2 = utf8_message(kosme)
case("6.2.4", "Send a valid UTF-8 text message (κόσμε) in fragments of 1 octet",
     [Send(frames_of(m2, [1] * (len(m2.payload) - 1)))], acks=[m2.ack])

invalid_edited = kosme + b"\xed\xa0\x80edited"
m = utf8_message(invalid_edited)
case("6.3.1", "Send invalid UTF-8 text message unfragmented", [Send(frames_of(m))],
     server_close=BAD_PAYLOAD)
case("6.3.2", "Send invalid UTF-8 text message in fragments of 1 octet",
     [Send(frames_of(m, [1] * (len(m.payload) - 1)))], server_close=BAD_PAYLOAD)

FAIL_FAST_NOTE = ("the frame reader checks a text message's UTF-8 when its last fragment "
                  "arrives, so the connection fails then, not at the invalid fragment")
for number, (part2, chop) in enumerate(
        ((b"\xf4\x90\x80\x80", None), (b"\xf4", None), (b"\xf4\x90\x80\x80", 1), (b"\xf4", 1)), start=1):
    part1, part3 = kosme, b"edited"
    steps = [Send(frame(TEXT, b'{"req_guid":"' + part1, fin=False)), Pause(0.5),
             Send(frame(CONTINUATION, part2, fin=False), chop=chop, delay=0.01 if chop else 0), Pause(0.5),
             Send(frame(CONTINUATION, part3 + b'"}'))]
    case(f"6.4.{number}", "Send invalid UTF-8 text message in 3 fragments, the second making it "
         "invalid" + (" with only its first octet" if len(part2) == 1 else "")
         + (", in octet-wise chops" if chop else "") + "; fail fast",
         steps, server_close=BAD_PAYLOAD, fail_fast=True, known=NON_STRICT, note=FAIL_FAST_NOTE)


def utf8_cases(section, title, sequences, valid):
    for number, sequence in enumerate(sequences, start=1):
        m = utf8_message(sequence)
        shown = sequence.hex(" ") if len(sequence) <= 12 else sequence[:12].hex(" ") + " …"
        case(f"6.{section}.{number}", f"{title}: {shown}",
             [Send(frames_of(m))], acks=[m.ack] if valid else [],
             server_close=None if valid else BAD_PAYLOAD)


utf8_cases(5, "Valid UTF-8", [kosme, b"\xf0\x90\x80\x80", kosme + b"\xf0\x90\x80\x80",
                              b"\xef\xbb\xbf" + kosme, "∮ E⋅da = Q".encode()], True)
for number in range(1, len(kosme) + 1):
    prefix = kosme[:number]
    valid = number in (2, 5, 7, 9, 11)
    m = utf8_message(prefix)
    case(f"6.6.{number}", f"{'Valid' if valid else 'Invalid'} UTF-8: the first {number} octets of κόσμε",
         [Send(frames_of(m))], acks=[m.ack] if valid else [],
         server_close=None if valid else BAD_PAYLOAD)
utf8_cases(7, "First possible sequence of a length", [b"\x00", b"\xc2\x80", b"\xe0\xa0\x80",
                                                      b"\xf0\x90\x80\x80"], True)
utf8_cases(8, "First possible sequence of 5 and 6 octets (not UTF-8)",
           [b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80"], False)
utf8_cases(9, "Last possible sequence of a length", [b"\x7f", b"\xdf\xbf", b"\xef\xbf\xbf",
                                                     b"\xf4\x8f\xbf\xbf"], True)
utf8_cases(10, "Last possible sequence of 4-6 octets (past U+10FFFF)",
           [b"\xf7\xbf\xbf\xbf", b"\xfb\xbf\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf\xbf"], False)
utf8_cases(11, "Other boundary condition", [b"\xed\x9f\xbf", b"\xee\x80\x80", b"\xef\xbf\xbd",
                                            b"\xf4\x8f\xbf\xbf"], True)
case("6.11.5", "Other boundary condition: f4 90 80 80 (U+110000)",
     [Send(frames_of(utf8_message(b"\xf4\x90\x80\x80")))], server_close=BAD_PAYLOAD)
utf8_cases(12, "Unexpected continuation octets",
           [b"\x80", b"\xbf", b"\x80\xbf", b"\x80\xbf\x80", b"\x80\xbf\x80\xbf",
            b"\x80\xbf\x80\xbf\x80", b"\x80\xbf\x80\xbf\x80\xbf", bytes(range(0x80, 0xC0))], False)
utf8_cases(13, "Lonely start characters, each followed by a space",
           [b"".join(bytes([c]) + b" " for c in range(lo, hi))
            for lo, hi in ((0xC0, 0xE0), (0xE0, 0xF0), (0xF0, 0xF8), (0xF8, 0xFC), (0xFC, 0xFE))], False)
incomplete = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80", b"\xfc\x80\x80\x80\x80",
              b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf", b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
utf8_cases(14, "Sequence with its last continuation octet missing", incomplete, False)
utf8_cases(15, "Concatenation of incomplete sequences", [b"".join(incomplete)], False)
utf8_cases(16, "Impossible octets", [b"\xfe", b"\xff", b"\xfe\xfe\xff\xff"], False)
utf8_cases(17, "Overlong ASCII character", [b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",
                                            b"\xf8\x80\x80\x80\xaf", b"\xfc\x80\x80\x80\x80\xaf"], False)
utf8_cases(18, "Maximum overlong sequence", [b"\xc1\xbf", b"\xe0\x9f\xbf", b"\xf0\x8f\xbf\xbf",
                                             b"\xf8\x87\xbf\xbf\xbf", b"\xfc\x83\xbf\xbf\xbf\xbf"], False)
utf8_cases(19, "Overlong NUL", [b"\xc0\x80", b"\xe0\x80\x80", b"\xf0\x80\x80\x80",
                                b"\xf8\x80\x80\x80\x80", b"\xfc\x80\x80\x80\x80\x80"], False)
utf8_cases(20, "Single UTF-16 surrogate", [b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80",
                                           b"\xed\xaf\xbf", b"\xed\xb0\x80", b"\xed\xbe\x80",
                                           b"\xed\xbf\xbf"], False)
utf8_cases(21, "Paired UTF-16 surrogates",
           [bytes.fromhex(h) for h in ("eda080edb080", "eda080edbfbf", "edadbfedb080", "edadbfedbfbf",
                                       "edae80edb080", "edae80edbfbf", "edafbfedb080", "edafbfedbfbf")],
           False)
utf8_cases(22, "Noncharacter code point (valid UTF-8)",
           [chr(plane * 0x10000 + last).encode() for plane in range(17) for last in (0xFFFE, 0xFFFF)],
           True)
utf8_cases(23, "Special code points (valid UTF-8)",
           [chr(c).encode() for c in (0xFFF9, 0xFFFA, 0xFFFB, 0xFFFC, 0xFFFD, 0xFEFF)]
           + ["\ufffd\ufffd".encode()], True)

# --------------------------------------------------------------------------
# 7. Close handling.

m = json_message()
case("7.1.1", "Send a message, then close normally",
     [Send(frames_of(m)), AwaitAcks(1), Send(frame(CLOSE, close_payload(1000)))],
     acks=[m.ack], server_close=1000)
case("7.1.2", "Send two close frames",
     [Send(frame(CLOSE, close_payload(1000)) + frame(CLOSE, close_payload(1000)))], server_close=1000)
case("7.1.3", "Send a ping after the close frame: no pong",
     [Send(frame(CLOSE, close_payload(1000)) + frame(PING, b"after close"))], server_close=1000)
case("7.1.4", "Send a message after the close frame: no ack",
     [Send(frame(CLOSE, close_payload(1000)) + frames_of(json_message()))], server_close=1000)
m = json_message()
half = len(m.payload) // 2
case("7.1.5", "Send a message's first fragment, then close, then its second fragment",
     [Send(frame(TEXT, m.payload[:half], fin=False) + frame(CLOSE, close_payload(1000))
           + frame(CONTINUATION, m.payload[half:]))], server_close=1000)
m = json_message(256 * 1024)
case("7.1.6", "Send a 256 KiB message, wait for its answer, then close, then a ping",
     [Send(frames_of(m)), AwaitAcks(1),
      Send(frame(CLOSE, close_payload(1000)) + frame(PING, b"after close"))],
     acks=[m.ack], server_close=1000)
case("7.3.1", "Send close with payload length 0", [Send(frame(CLOSE))], server_close=1000,
     note="RFC 6455 §7.4.1: 1005 is never sent, so the answer is 1000")
case("7.3.2", "Send close with payload length 1", [Send(frame(CLOSE, b"\x03"))],
     server_close=PROTOCOL_ERROR)
case("7.3.3", "Send close with close code 1000 and no reason",
     [Send(frame(CLOSE, close_payload(1000)))], server_close=1000)
case("7.3.4", "Send close with close code 1000 and a reason",
     [Send(frame(CLOSE, close_payload(1000, "Hello World!")))], server_close=1000)
case("7.3.5", "Send close with close code 1000 and a reason of 123 octets",
     [Send(frame(CLOSE, close_payload(1000, "*" * 123)))], server_close=1000)
case("7.3.6", "Send close with close code 1000 and a reason of 124 octets (payload 126)",
     [Send(frame(CLOSE, close_payload(1000, "*" * 124)))], server_close=PROTOCOL_ERROR)
case("7.5.1", "Send close with close code 1000 and a reason that is not UTF-8",
     [Send(frame(CLOSE, close_payload(1000, kosme + b"\xed\xa0\x80edited")))],
     server_close=BAD_PAYLOAD)
for number, code in enumerate((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999,
                               4000, 4999), start=1):
    case(f"7.7.{number}", f"Send close with valid close code {code}",
         [Send(frame(CLOSE, close_payload(code)))], server_close=code,
         note="the server answers with the peer's code")
for number, code in enumerate((0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999), start=1):
    case(f"7.9.{number}", f"Send close with invalid close code {code}",
         [Send(frame(CLOSE, close_payload(code)))], server_close=PROTOCOL_ERROR)
for number, code in enumerate((5000, 65535), start=1):
    case(f"7.13.{number}", f"Send close with close code {code} (outside the registered ranges)",
         [Send(frame(CLOSE, close_payload(code)))], server_close=PROTOCOL_ERROR,
         known=INFORMATIONAL, note="RFC 6455 leaves codes above 4999 undefined; refused with 1002")

# --------------------------------------------------------------------------
# 9. Limits and performance: large messages, many fragments, many round trips.

KiB, MiB = 1024, 1024 * 1024
LIMIT_NOTE = "beyond SERVER_MAX_REQUEST_BYTES (4 MiB by default): 1009, message too big"


def large(make, size, opcode):
    def build():
        m = make(size)
        return [Send(frame(opcode, m.payload))], [m.ack]

    return build


def fragments(make, size, fragment):
    def build():
        m = make(size)
        return [Send(fragmented(m, fragment))], [m.ack]

    return build


def chops(make, size, chop):
    def build():
        m = make(size)
        return [Send(frames_of(m), chop=chop)], [m.ack]

    return build


def round_trips(make, size, count):
    def build():
        messages = [make(size) for _ in range(count)]
        steps = []
        for i, message in enumerate(messages, start=1):
            steps += [Send(frames_of(message)), AwaitAcks(i)]
        return steps, [message.ack for message in messages]

    return build


for section, kind, make in ((1, "text", json_message), (2, "binary", proto_message)):
    opcode = TEXT if kind == "text" else BINARY
    for number, size in enumerate((64 * KiB, 256 * KiB, MiB, 4 * MiB, 8 * MiB, 16 * MiB), start=1):
        title = f"Send {kind} message of {size // KiB} KiB"
        if size > MAX_MESSAGE:
            case(f"9.{section}.{number}", title, server_close=TOO_BIG, quick=False, note=LIMIT_NOTE,
                 timeout=60.0, build=lambda opcode=opcode, size=size: (
                     [Send(frame(opcode, b" " * size))], []))
        else:
            case(f"9.{section}.{number}", title, build=large(make, size, opcode), quick=False,
                 timeout=60.0)
for section, kind, make in ((3, "text", json_message), (4, "binary", proto_message)):
    for number, fragment in enumerate((64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB,
                                       4 * MiB), start=1):
        shown = f"{fragment // KiB} KiB" if fragment >= KiB else f"{fragment} octets"
        case(f"9.{section}.{number}", f"Send fragmented {kind} message of 4 MiB in fragments of {shown}",
             build=fragments(make, 4 * MiB, fragment), quick=False, timeout=60.0)
for section, kind, make in ((5, "text", json_message), (6, "binary", proto_message)):
    for number, chop in enumerate((64, 128, 256, 512, 1024, 2048), start=1):
        case(f"9.{section}.{number}", f"Send {kind} message of 1 MiB in chops of {chop} octets",
             build=chops(make, MiB, chop), quick=False, timeout=60.0)
for section, kind, make in ((7, "text", json_message), (8, "binary", proto_message)):
    for number, size in enumerate((0, 16, 64, 256, KiB, 4 * KiB), start=1):
        case(f"9.{section}.{number}", f"Send 1000 {kind} messages of {size} octets, one at a time",
             build=round_trips(make, size, 1000), quick=False, timeout=60.0)
