"""Shared fixtures of the integration tests: the real `raccoon` binary against
the real single-node Kafka broker that the CTest fixture started.

Each publisher's own tests live in tests/integration/<publisher>/ and override
the `publisher_settings` fixture (in the test module, or imported into it from
a module of that folder: a second conftest.py would hide this one's helpers,
which the tests import as `conftest`).

Environment (set by tests/integration/CMakeLists.txt):
  RACCOON_BIN           the server binary
  RACCOON_KAFKA_DIR     the broker's state dir; its host:port is in DIR/bootstrap
  RACCOON_KAFKA_SCRIPT  scripts/kafka.sh (start DIR / stop DIR)
  RACCOON_PYTHON_PROTO  dir holding raystack/raccoon/v1beta1/raccoon_pb2.py

Every wait below is bounded in time; all traffic goes to 127.0.0.1.
"""

import base64
import collections
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest
import requests

sys.path.insert(0, os.environ.get("RACCOON_PYTHON_PROTO", ""))
from raystack.raccoon.v1beta1 import raccoon_pb2 as pb  # noqa: E402

# Loopback ports and a clean server environment, shared with the benchmarks.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from bench_common import HOST, free_port, server_environment  # noqa: E402,F401

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

EVENTS_PATH = "/api/v1/events"

STATUS_SUCCESS = pb.STATUS_SUCCESS
STATUS_ERROR = pb.STATUS_ERROR
CODE_OK = pb.CODE_OK
CODE_BAD_REQUEST = pb.CODE_BAD_REQUEST
CODE_INTERNAL_ERROR = pb.CODE_INTERNAL_ERROR

# How long a SIGTERMed server may take to exit, beyond its own drain and flush
# bounds (WORKER_BUFFER_FLUSH_TIMEOUT_MS + the publisher's flush timeout).
EXIT_MARGIN_S = 5.0
# Each publisher's flush timeout: its setting and default (the log publisher has none).
PUBLISHER_FLUSH_SETTINGS = {
    "kafka": ("PUBLISHER_KAFKA_FLUSH_INTERVAL_MS", 1000),
    "pubsub": ("PUBLISHER_PUBSUB_PUBLISH_TIMEOUT_MS", 60000),
    "kinesis": ("PUBLISHER_KINESIS_PUBLISH_TIMEOUT_MS", 60000),
}
STARTUP_TIMEOUT_S = 15.0


def env_path(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set; run the integration tests through ctest -L integration")
    return value


def raccoon_bin():
    return env_path("RACCOON_BIN")


def kafka_dir():
    return env_path("RACCOON_KAFKA_DIR")


def kafka_script():
    return env_path("RACCOON_KAFKA_SCRIPT")


def read_bootstrap():
    with open(os.path.join(kafka_dir(), "bootstrap")) as f:
        return f.read().strip()


# --------------------------------------------------------------------------
# The server under test.


class RaccoonServer:
    """One raccoon process on free 127.0.0.1 ports, its output in files."""

    def __init__(self, workdir, env, args=()):
        self.workdir = workdir
        self.env = dict(env)
        self.port = int(env["SERVER_WEBSOCKET_PORT"])
        self.pattern = env.get("EVENT_DISTRIBUTION_PUBLISHER_PATTERN", "")
        self.url = f"http://{HOST}:{self.port}"
        self.events_url = self.url + EVENTS_PATH
        self.stdout_path = os.path.join(workdir, "stdout")
        self.stderr_path = os.path.join(workdir, "stderr")
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [raccoon_bin(), "server", *args],
            env=server_environment(env),
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
        )
        self.returncode = None
        self.exit_seconds = None
        self.ready = False

    def topic(self, event_type):
        return self.pattern.replace("%s", event_type, 1)

    @property
    def topic_prefix(self):
        return self.pattern.split("%s", 1)[0]

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stdout(self):
        with open(self.stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def running(self):
        return self.proc.poll() is None

    def wait_ready(self, timeout=STARTUP_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"raccoon exited with {self.proc.returncode} before serving:\n{self.stderr()}"
                )
            try:
                r = requests.get(self.url + "/ping", timeout=1)
                if r.status_code == 200:
                    self.ready = True
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        pytest.fail(f"raccoon did not answer /ping within {timeout}s:\n{self.stderr()}")

    def send_signal(self, number=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(number)

    def stop(self, timeout=None):
        """SIGTERM, then wait up to `timeout` s; returns (exit code, seconds taken)."""
        if self.returncode is not None:
            return self.returncode, self.exit_seconds
        if timeout is None:
            timeout = self.exit_bound()
        started = time.monotonic()
        self.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.returncode = "hung"
        self.exit_seconds = time.monotonic() - started
        self._stdout.close()
        self._stderr.close()
        return self.returncode, self.exit_seconds

    def exit_bound(self):
        flush_timeout = int(self.env.get("WORKER_BUFFER_FLUSH_TIMEOUT_MS", 5000))
        publisher = self.env.get("PUBLISHER_TYPE", "kafka").lower()
        key, default = PUBLISHER_FLUSH_SETTINGS.get(publisher, (None, 0))
        publisher_flush = int(self.env.get(key, default)) if key else 0
        readiness_delay = int(self.env.get("SERVER_SHUTDOWN_READINESS_DELAY_MS", 0))
        return (readiness_delay + flush_timeout + publisher_flush) / 1000.0 + EXIT_MARGIN_S


class RaccoonFactory:
    def __init__(self, tmp_path_factory, publisher_settings):
        self.tmp_path_factory = tmp_path_factory
        self.publisher_settings = publisher_settings
        self.servers = []

    def start(self, event_ack=1, env=None, wait=True, args=()):
        """Starts raccoon with a unique topic pattern `it-<uuid>-%s`.

        `env` adds or (with None) removes settings."""
        port = free_port()
        settings = {
            "SERVER_WEBSOCKET_PORT": port,
            "SERVER_GRPC_PORT": free_port(avoid={port}),
            "SERVER_BIND_ADDRESS": HOST,
            "SERVER_IO_THREADS": 2,
            "EVENT_DISTRIBUTION_PUBLISHER_PATTERN": f"it-{uuid.uuid4().hex[:16]}-%s",
            "EVENT_ACK": event_ack,
            "WORKER_BUFFER_FLUSH_TIMEOUT_MS": 3000,
            "LOG_LEVEL": "info",
            **self.publisher_settings,
        }
        for key, value in (env or {}).items():
            settings[key] = value
        settings = {k: str(v) for k, v in settings.items() if v is not None}
        workdir = str(self.tmp_path_factory.mktemp("raccoon"))
        server = RaccoonServer(workdir, settings, args)
        self.servers.append(server)
        if wait:
            server.wait_ready()
        return server

    def stop_all(self):
        """Stops every server still running; returns the failures."""
        problems = []
        for server in self.servers:
            # One stopped by its test was checked there; one that never
            # served failed its test already.
            already = server.returncode is not None or not server.ready
            code, seconds = server.stop()
            stderr = server.stderr()
            print(f"--- raccoon on port {server.port}: exit {code} after {seconds:.2f}s; stderr:")
            print(stderr[-20000:])
            if not already and code != 0:
                problems.append(
                    f"raccoon on port {server.port} exited with {code} "
                    f"(bound {server.exit_bound():.1f}s):\n{stderr[-4000:]}"
                )
        return problems


@pytest.fixture(scope="session")
def bootstrap():
    return read_bootstrap()


@pytest.fixture(scope="session")
def publisher_settings(bootstrap):
    """The settings of the publisher the servers under test use: here Kafka's.
    A publisher's own test folder overrides this fixture in its conftest.py."""
    return {
        "PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS": bootstrap,
        "PUBLISHER_KAFKA_FLUSH_INTERVAL_MS": 2000,
    }


@pytest.fixture
def raccoon(tmp_path_factory, publisher_settings):
    """Factory: raccoon.start(event_ack=..., env={...}) -> RaccoonServer.

    On teardown every server still running gets SIGTERM and must exit 0 within
    its drain bounds plus a margin."""
    factory = RaccoonFactory(tmp_path_factory, publisher_settings)
    yield factory
    problems = factory.stop_all()
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def module_raccoon(tmp_path_factory, publisher_settings):
    """Like `raccoon`, for servers shared by the tests of one module."""
    factory = RaccoonFactory(tmp_path_factory, publisher_settings)
    yield factory
    problems = factory.stop_all()
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------
# Requests and responses.


Event = collections.namedtuple("Event", "type bytes")


def make_events(count, types=("click",), tag=None, binary=True):
    """`count` events, types taken in turn; each payload unique and, with
    `binary`, holding NULs, high bytes and invalid UTF-8."""
    tag = tag or uuid.uuid4().hex[:8]
    events = []
    for i in range(count):
        payload = f"{tag}:{i}:".encode()
        if binary:
            payload += bytes([0, 0xFF, 0x80, 0x00, 0xC3, 0x28, 0x0A, 0x0D, i % 256, 0xFE, 0x00])
        events.append(Event(types[i % len(types)], payload))
    return events


def proto_request(events, req_guid=None, sent_time=None):
    req = pb.SendEventRequest()
    req.req_guid = req_guid if req_guid is not None else str(uuid.uuid4())
    seconds, nanos = sent_time or (int(time.time()), 123456789)
    req.sent_time.seconds = seconds
    req.sent_time.nanos = nanos
    for e in events:
        req.events.add(event_bytes=e.bytes, type=e.type)
    return req.SerializeToString()


def json_request(events, req_guid=None, sent_time=None, aliases=False):
    guid_key, time_key, bytes_key = (
        ("reqGuid", "sentTime", "eventBytes") if aliases else ("req_guid", "sent_time", "event_bytes")
    )
    seconds, nanos = sent_time or (int(time.time()), 123456789)
    body = {
        guid_key: req_guid if req_guid is not None else str(uuid.uuid4()),
        time_key: {"seconds": seconds, "nanos": nanos},
        "events": [
            {bytes_key: base64.b64encode(e.bytes).decode("ascii"), "type": e.type} for e in events
        ],
    }
    return json.dumps(body)


CONTENT_TYPES = {"proto": "application/proto", "json": "application/json"}


def encode_request(fmt, events, req_guid=None, aliases=False):
    if fmt == "proto":
        return proto_request(events, req_guid)
    return json_request(events, req_guid, aliases=aliases)


def post_events(url, fmt, body, session=None, timeout=30, headers=None):
    hdrs = {"Content-Type": CONTENT_TYPES.get(fmt, fmt)}
    hdrs.update(headers or {})
    return (session or requests).post(url, data=body, headers=hdrs, timeout=timeout)


class Decoded(dict):
    """A SendEventResponse as a dict; `keys_in_order` for a JSON one."""

    keys_in_order = ()


def decode_response(resp, fmt=None):
    """Decodes a SendEventResponse in the format its Content-Type names
    (or `fmt`, which must then agree)."""
    content_type = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if fmt is not None:
        assert content_type == CONTENT_TYPES[fmt], (
            f"response Content-Type {content_type!r}, request was {fmt}"
        )
    if content_type == "application/proto":
        message = pb.SendEventResponse()
        message.ParseFromString(resp.content)
        out = Decoded(
            status=message.status,
            code=message.code,
            sent_time=message.sent_time,
            reason=message.reason,
            data=dict(message.data),
        )
        return out
    assert content_type == "application/json", f"unexpected Content-Type {content_type!r}"
    pairs = json.loads(resp.content, object_pairs_hook=lambda kv: kv)
    assert isinstance(pairs, list), resp.content
    out = Decoded(
        (k, dict(v) if isinstance(v, list) else v) for k, v in pairs
    )
    out.keys_in_order = tuple(k for k, _ in pairs)
    out.setdefault("reason", "")
    out.setdefault("sent_time", 0)
    out.setdefault("data", {})
    return out


JSON_KEY_ORDER = ("status", "code", "sent_time", "reason", "data")


def assert_json_key_order(decoded):
    keys = decoded.keys_in_order
    assert set(keys) <= set(JSON_KEY_ORDER), keys
    assert list(keys) == [k for k in JSON_KEY_ORDER if k in keys], keys


def assert_success_response(decoded, fmt, req_guid):
    """A decoded SendEventResponse (REST or WebSocket) acking `req_guid`."""
    assert decoded["status"] == STATUS_SUCCESS, decoded
    assert decoded["code"] == CODE_OK, decoded
    assert decoded["data"].get("req_guid") == req_guid, decoded
    assert abs(decoded["sent_time"] - time.time()) < 120, decoded
    if fmt == "json":
        assert decoded.keys_in_order == ("status", "code", "sent_time", "data"), decoded.keys_in_order
    return decoded


def assert_success(resp, fmt, req_guid):
    assert resp.status_code == 200, (resp.status_code, resp.content)
    return assert_success_response(decode_response(resp, fmt), fmt, req_guid)


def assert_error(resp, http_status, code, fmt=None, req_guid=None):
    """An error answer; `req_guid` names the request it must carry in data,
    or is "" for a refusal that could read none and so has no data, as
    upstream's refusals have none."""
    assert resp.status_code == http_status, (resp.status_code, resp.content)
    decoded = decode_response(resp, fmt)
    assert decoded["status"] == STATUS_ERROR, decoded
    assert decoded["code"] == code, decoded
    assert decoded["reason"], f"no reason in {decoded}"
    if req_guid == "":
        assert decoded["data"] == {}, decoded
        assert "data" not in decoded.keys_in_order, decoded.keys_in_order
    elif req_guid is not None:
        assert decoded["data"].get("req_guid") == req_guid, decoded
    if decoded.keys_in_order:
        assert_json_key_order(decoded)
    return decoded


def raw_exchange(port, data, timeout=5.0, shut_write=False):
    """Sends raw bytes, reads until the server closes or `timeout`; returns
    (bytes read, whether the server closed)."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(data)
        if shut_write:
            s.shutdown(socket.SHUT_WR)
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return received, False
            except ConnectionResetError:
                return received, True
            if not chunk:
                return received, True
            received += chunk
        return received, False


def send_good_batch(server, fmt="proto", count=3, session=None):
    """Posts a small batch and checks its success ack; returns the events."""
    events = make_events(count, types=("alive",))
    guid = str(uuid.uuid4())
    resp = post_events(server.events_url, fmt, encode_request(fmt, events, guid), session=session)
    assert_success(resp, fmt, guid)
    return events


# --------------------------------------------------------------------------
# Kafka.


class KafkaReader:
    def __init__(self, bootstrap):
        self.bootstrap = bootstrap
        self.admin = AdminClient({"bootstrap.servers": bootstrap})

    def list_topics(self, prefix="", timeout=10):
        metadata = self.admin.list_topics(timeout=timeout)
        return sorted(t for t in metadata.topics if t.startswith(prefix))

    def ensure_topics(self, topics, timeout=20):
        """Creates the topics that do not exist yet (the broker would too, on
        the first produce), so they can be read before anything arrived."""
        existing = set(self.list_topics())
        wanted = [t for t in set(topics) if t not in existing]
        if not wanted:
            return
        futures = self.admin.create_topics(
            [NewTopic(t, num_partitions=1, replication_factor=1) for t in wanted],
            operation_timeout=timeout,
            request_timeout=timeout,
        )
        for topic, future in futures.items():
            try:
                future.result(timeout=timeout)
            except KafkaException as e:
                if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise

    def _consumer(self):
        return Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"it-reader-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                "topic.metadata.refresh.interval.ms": 1000,
            }
        )

    def _partitions(self, consumer, topics, deadline):
        partitions = []
        for topic in topics:
            while True:
                md = consumer.list_topics(topic, timeout=max(0.1, deadline - time.monotonic()))
                t = md.topics.get(topic)
                if t is not None and t.error is None and t.partitions:
                    partitions += [TopicPartition(topic, p) for p in sorted(t.partitions)]
                    break
                if time.monotonic() >= deadline:
                    raise AssertionError(f"topic {topic} has no partitions: {t and t.error}")
                time.sleep(0.2)
        return partitions

    def read(self, topics, count, timeout=30.0, settle=1.0):
        """Reads `topics` from the beginning until `count` messages came or
        `timeout` passed, then `settle` more seconds to catch extras.
        Returns [(topic, value bytes)]."""
        topics = sorted(set(topics))
        self.ensure_topics(topics)
        deadline = time.monotonic() + timeout
        consumer = self._consumer()
        try:
            partitions = self._partitions(consumer, topics, deadline)
            for tp in partitions:
                tp.offset = -2  # OFFSET_BEGINNING
            consumer.assign(partitions)
            got = []
            settle_until = None
            while True:
                now = time.monotonic()
                if settle_until is None and len(got) >= count:
                    settle_until = now + settle
                end = settle_until if settle_until is not None else deadline
                if now >= end:
                    break
                for m in consumer.consume(num_messages=1000, timeout=min(0.2, end - now)):
                    if m.error():
                        if m.error().code() == KafkaError._PARTITION_EOF:
                            continue
                        raise AssertionError(f"consumer error: {m.error()}")
                    got.append((m.topic(), m.value() if m.value() is not None else b""))
            return got
        finally:
            consumer.close()

    def message_count(self, topics, timeout=10.0):
        """How many messages the topics hold (high - low watermark)."""
        consumer = self._consumer()
        try:
            deadline = time.monotonic() + timeout
            total = 0
            for tp in self._partitions(consumer, sorted(set(topics)), deadline):
                low, high = consumer.get_watermark_offsets(tp, timeout=timeout)
                total += high - low
            return total
        finally:
            consumer.close()


@pytest.fixture(scope="session")
def kafka(bootstrap):
    return KafkaReader(bootstrap)


def expected_messages(server, events):
    return collections.Counter((server.topic(e.type), e.bytes) for e in events)


def assert_arrived_once(kafka, server, events, timeout=30.0):
    """Every event is in the topic its type names, exactly once and
    byte-identical, and nothing else is in the server's topics."""
    expected = expected_messages(server, events)
    topics = sorted({t for t, _ in expected})
    got = collections.Counter(kafka.read(topics, sum(expected.values()), timeout=timeout))
    missing = expected - got
    extra = got - expected
    assert not missing, f"{sum(missing.values())} events missing, e.g. {list(missing)[:3]}"
    assert not extra, f"{sum(extra.values())} unexpected or repeated, e.g. {list(extra)[:3]}"
    assert kafka.message_count(topics) == sum(expected.values())
    # A producer may create a topic it only asked metadata of: only messages count.
    stray = sorted(set(kafka.list_topics(server.topic_prefix)) - set(topics))
    stray_count = kafka.message_count(stray) if stray else 0
    assert stray_count == 0, f"{stray_count} events went to unexpected topics {stray}"


# --------------------------------------------------------------------------
# WebSocket: a `websockets` (asyncio) client, and a raw-socket client for
# peers that misbehave (never answer pings, never read their acks).

import asyncio  # noqa: E402
import hashlib  # noqa: E402
import select  # noqa: E402

import websockets  # noqa: E402  (Debian python3-websockets 10.4)
import websockets.exceptions  # noqa: E402

CODE_MAX_CONNECTION_LIMIT_REACHED = pb.CODE_MAX_CONNECTION_LIMIT_REACHED
CODE_MAX_USER_LIMIT_REACHED = pb.CODE_MAX_USER_LIMIT_REACHED

WS_ID_HEADER = "X-User-ID"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009


def ws_url(server):
    return f"ws://{HOST}:{server.port}{EVENTS_PATH}"


def run_async(coro, timeout=60.0):
    """Runs `coro` on a fresh event loop, bounded by `timeout` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def ws_connect(server, user_id="user-1", group=None, group_header="X-User-Group",
                     headers=None, id_header=WS_ID_HEADER, **kwargs):
    """Opens a WebSocket to the server's events path. `user_id` None sends
    no id header; `group` None no group header. The client's own keep-alive
    pings are off unless asked for, so only the server's pings run."""
    hdrs = {}
    if user_id is not None:
        hdrs[id_header] = user_id
    if group is not None:
        hdrs[group_header] = group
    hdrs.update(headers or {})
    kwargs.setdefault("open_timeout", 10)
    kwargs.setdefault("close_timeout", 5)
    kwargs.setdefault("ping_interval", None)
    return await websockets.connect(ws_url(server), extra_headers=hdrs, **kwargs)


def decode_ws_ack(message):
    """A SendEventResponse from a WebSocket message: bytes are protobuf, str
    is JSON. Returns a Decoded with `fmt` set to "proto" or "json"."""
    if isinstance(message, (bytes, bytearray)):
        m = pb.SendEventResponse()
        m.ParseFromString(bytes(message))
        out = Decoded(status=m.status, code=m.code, sent_time=m.sent_time, reason=m.reason,
                      data=dict(m.data))
        out.fmt = "proto"
        return out
    pairs = json.loads(message, object_pairs_hook=lambda kv: kv)
    assert isinstance(pairs, list), message
    out = Decoded((k, dict(v) if isinstance(v, list) else v) for k, v in pairs)
    out.keys_in_order = tuple(k for k, _ in pairs)
    out.setdefault("status", 0)
    out.setdefault("code", 0)
    out.setdefault("reason", "")
    out.setdefault("sent_time", 0)
    out.setdefault("data", {})
    out.fmt = "json"
    return out


def ws_message(fmt, events, req_guid, aliases=False):
    """The WebSocket message for a request: bytes (binary frame) for proto,
    str (text frame) for JSON."""
    if fmt == "proto":
        return proto_request(events, req_guid)
    return json_request(events, req_guid, aliases=aliases)


def assert_ws_success(ack, fmt, req_guid):
    assert ack.fmt == fmt, f"a {fmt} request was answered with a {ack.fmt} message: {ack}"
    return assert_success_response(ack, fmt, req_guid)


def assert_ws_error(ack, code, fmt=None, req_guid=None):
    if fmt is not None:
        assert ack.fmt == fmt, f"a {fmt} request was answered with a {ack.fmt} message: {ack}"
    assert ack["status"] == STATUS_ERROR, ack
    assert ack["code"] == code, ack
    assert ack["reason"], f"no reason in {ack}"
    # Upstream's WebSocket refusals always name the req_guid, empty when unread.
    if req_guid is not None:
        assert ack["data"].get("req_guid") == req_guid, ack
    if ack.fmt == "json":
        assert_json_key_order(ack)
    return ack


async def ws_recv_ack(ws, timeout=30.0):
    return decode_ws_ack(await asyncio.wait_for(ws.recv(), timeout))


async def ws_send_ok(ws, fmt="proto", count=2, types=("ws",), timeout=30.0):
    """Sends one small batch on `ws`, checks its success ack; returns the events.
    Only for a connection with nothing else in flight."""
    events = make_events(count, types=types)
    guid = f"ok-{uuid.uuid4()}"
    await ws.send(ws_message(fmt, events, guid))
    assert_ws_success(await ws_recv_ack(ws, timeout), fmt, guid)
    return events


async def ws_expect_refusal(ws, code, timeout=10.0):
    """The upstream refusal: one binary SendEventResponse (STATUS_ERROR, the
    code, a reason, no data), then a close with 1008."""
    message = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(message, bytes), f"the refusal must be a binary message, got {message!r}"
    ack = decode_ws_ack(message)
    assert ack["status"] == STATUS_ERROR, ack
    assert ack["code"] == code, ack
    assert ack["reason"], ack
    assert ack["data"] == {}, f"a refusal carries no data: {ack}"
    try:
        extra = await asyncio.wait_for(ws.recv(), timeout)
        raise AssertionError(f"a message after the refusal: {extra!r}")
    except websockets.exceptions.ConnectionClosed:
        pass
    await asyncio.wait_for(ws.wait_closed(), timeout)
    assert ws.close_code == CLOSE_POLICY_VIOLATION, (ws.close_code, ws.close_reason)
    return ack


async def ws_expect_http_refusal(server, status, timeout=10.0, **kwargs):
    """The upgrade is answered with HTTP `status` instead of 101."""
    try:
        ws = await asyncio.wait_for(ws_connect(server, **kwargs), timeout)
    except websockets.exceptions.InvalidStatusCode as e:
        assert e.status_code == status, e
        return e
    await ws.close()
    raise AssertionError(f"the upgrade was accepted, expected HTTP {status}")


# A sanitizer's allocator holds freed memory (ASan's quarantine, 256 MiB by
# default), pads every allocation and maps shadow memory, so under it RSS says
# nothing about what the server keeps.
RSS_IS_MEANINGFUL = not any(name in os.environ.get("RACCOON_SANITIZE", "")
                            for name in ("address", "thread"))


def rss_kib(pid, field="VmRSS"):
    """The process's resident memory now, or with field="VmHWM" its peak."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def ws_frame(opcode, payload=b"", fin=True, mask=True, rsv=0):
    """One WebSocket frame as RFC 6455 5.2 lays it out (rsv: the three reserved
    bits as 0-7); a client's frames must be masked (5.3)."""
    payload = payload.encode() if isinstance(payload, str) else bytes(payload)
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0xF)])
    mask_bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 1 << 16:
        head += bytes([mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([mask_bit | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    if n:
        stream = (key * (n // 4 + 1))[:n]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return head + key + payload


OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def parse_ws_frames(data):
    """Splits server (unmasked) frames; returns ([(opcode, payload)], rest)."""
    frames = []
    i = 0
    while True:
        if len(data) - i < 2:
            break
        b0, b1 = data[i], data[i + 1]
        n = b1 & 0x7F
        j = i + 2
        if n == 126:
            if len(data) - j < 2:
                break
            n = int.from_bytes(data[j:j + 2], "big")
            j += 2
        elif n == 127:
            if len(data) - j < 8:
                break
            n = int.from_bytes(data[j:j + 8], "big")
            j += 8
        if b1 & 0x80:
            j += 4  # a server must not mask, but skip a key if there is one
        if len(data) - j < n:
            break
        frames.append((b0 & 0x0F, data[j:j + n]))
        i = j + n
    return frames, data[i:]


class RawWebSocket:
    """A WebSocket client on a plain socket: the upgrade by hand, then only
    what the test does (it answers no ping, reads nothing unless told)."""

    def __init__(self, server, user_id, rcvbuf=None, timeout=10.0, headers=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # Before connect, so the advertised window is small too.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((HOST, server.port))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {EVENTS_PATH} HTTP/1.1",
            f"Host: {HOST}:{server.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            f"{WS_ID_HEADER}: {user_id}",
        ] + [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        response = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in response:
            if time.monotonic() > deadline:
                raise AssertionError(f"no upgrade response within {timeout}s: {response!r}")
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError(f"closed during the upgrade: {response!r}")
            response += chunk
        head, self.pending = response.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        assert status_line.split(" ")[1] == "101", head
        headers_in = {h.split(":", 1)[0].strip().lower(): h.split(":", 1)[1].strip()
                      for h in header_lines if ":" in h}
        expected_accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        assert headers_in.get("sec-websocket-accept") == expected_accept, head

    def peer_closed(self, timeout):
        """Waits up to `timeout` s, reading nothing, for the server to end the
        TCP connection (FIN or RST). Returns the seconds it took, or None."""
        poller = select.poll()
        poller.register(self.sock, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
        started = time.monotonic()
        events = poller.poll(int(timeout * 1000))
        if events:
            return time.monotonic() - started
        return None

    def read_all(self, timeout=5.0):
        """Reads until the server closes or `timeout`; returns (frames, closed)."""
        data = self.pending
        self.pending = b""
        deadline = time.monotonic() + timeout
        closed = False
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
        frames, _ = parse_ws_frames(data)
        return frames, closed

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------
# raccoon-loadgen (bench/loadgen), our own Beast and gRPC client. Its requests
# are deterministic (bench/README.md): connection c sends requests r = 0..
# with req_guid "<guid-prefix>-<c>-<r>"; event i of a request is
# b"<req_guid>/<i>/" followed, up to --event-size bytes, by the byte p % 256 at
# offset p; its type is "type-<(r * batch_size + i) % event_types>".
# `loadgen_expected_events` rebuilds them from the same options.
#
# Environment: RACCOON_LOADGEN, the raccoon-loadgen binary.

LOADGEN_CONNECTIONS = 4
LOADGEN_REQUESTS = 50
LOADGEN_BATCH = 5
LOADGEN_TYPES = 3
LOADGEN_EVENT_SIZE = 300  # past 256, so every byte value occurs in each payload
LOADGEN_TIMEOUT_S = 90


def loadgen_bin():
    return env_path("RACCOON_LOADGEN")


def loadgen_expected_events(guid_prefix, connections=LOADGEN_CONNECTIONS,
                            requests=LOADGEN_REQUESTS, batch=LOADGEN_BATCH, types=LOADGEN_TYPES,
                            event_size=LOADGEN_EVENT_SIZE):
    events = []
    for c in range(connections):
        for r in range(requests):
            guid = f"{guid_prefix}-{c}-{r}"
            for i in range(batch):
                head = f"{guid}/{i}/".encode()
                payload = head + bytes(p % 256 for p in range(len(head), event_size))
                events.append(Event(f"type-{(r * batch + i) % types}", payload))
    return events


class LoadgenRun:
    def __init__(self, proc, summary):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.summary = summary
        # --print-acks lines; the human summary follows them on stdout.
        self.acks = [json.loads(line) for line in proc.stdout.splitlines()
                     if line.startswith("{")]

    def __str__(self):
        return (f"exit {self.returncode}\nstdout:\n{self.stdout[-4000:]}"
                f"\nstderr:\n{self.stderr[-4000:]}")


def run_loadgen(url, tmp_path, *args, timeout=LOADGEN_TIMEOUT_S):
    out = tmp_path / f"loadgen-{uuid.uuid4().hex[:8]}.json"
    proc = subprocess.run(
        [loadgen_bin(), "--url", url, "--json-out", str(out), "--timeout", str(timeout),
         "--print-acks", *map(str, args)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout + 30,
    )
    summary = json.loads(out.read_text()) if out.exists() else None
    return LoadgenRun(proc, summary)


def loadgen_standard_args(fmt, guid_prefix, id_prefix):
    return ["--format", fmt, "--connections", LOADGEN_CONNECTIONS, "--requests", LOADGEN_REQUESTS,
            "--batch-size", LOADGEN_BATCH, "--event-types", LOADGEN_TYPES,
            "--event-size", LOADGEN_EVENT_SIZE, "--guid-prefix", guid_prefix,
            "--id-prefix", id_prefix]


def assert_loadgen_all_acked(run, guid_prefix):
    """The run of loadgen_standard_args: every request answered once, with
    success, and the summary says so."""
    assert run.returncode == 0, str(run)
    guids = collections.Counter(a["req_guid"] for a in run.acks)
    expected = {f"{guid_prefix}-{c}-{r}"
                for c in range(LOADGEN_CONNECTIONS) for r in range(LOADGEN_REQUESTS)}
    assert set(guids) == expected, str(run)
    assert all(n == 1 for n in guids.values()), [g for g, n in guids.items() if n > 1][:5]
    failed = [a for a in run.acks if a["status"] != 1 or a["code"] != 1]
    assert not failed, failed[:5]
    s = run.summary
    requests = LOADGEN_CONNECTIONS * LOADGEN_REQUESTS
    assert s["success"] is True, s
    assert s["connections"] == {"requested": LOADGEN_CONNECTIONS, "opened": LOADGEN_CONNECTIONS,
                                "failed": 0, "lost": 0}, s
    assert s["requests"]["sent"] == requests, s
    assert s["requests"]["acked_ok"] == requests, s
    assert s["events"]["acked_ok"] == requests * LOADGEN_BATCH, s
    assert s["latency_us"]["count"] == requests, s


def assert_loadgen_in_kafka_once(kafka, server, guid_prefix):
    """The events of loadgen_standard_args are in Kafka once, byte for byte."""
    events = loadgen_expected_events(guid_prefix)
    assert_arrived_once(kafka, server, events)
    # Per topic, as many as were sent of that type.
    per_type = collections.Counter(e.type for e in events)
    for event_type, count in per_type.items():
        assert kafka.message_count([server.topic(event_type)]) == count, event_type
