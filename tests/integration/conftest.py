"""Shared fixtures of the integration tests: the real `raccoon` binary against
the real single-node Kafka broker that the CTest fixture started.

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

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

HOST = "127.0.0.1"
EVENTS_PATH = "/api/v1/events"

STATUS_SUCCESS = pb.STATUS_SUCCESS
STATUS_ERROR = pb.STATUS_ERROR
CODE_OK = pb.CODE_OK
CODE_BAD_REQUEST = pb.CODE_BAD_REQUEST
CODE_INTERNAL_ERROR = pb.CODE_INTERNAL_ERROR

# Settings the tests must not inherit from whoever runs them.
SETTING_PREFIXES = ("SERVER_", "WORKER_", "EVENT_", "PUBLISHER_", "METRIC_", "LOG_LEVEL")

# How long a SIGTERMed server may take to exit, beyond its own drain and flush
# bounds (WORKER_BUFFER_FLUSH_TIMEOUT_MS + PUBLISHER_KAFKA_FLUSH_INTERVAL_MS).
EXIT_MARGIN_S = 5.0
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


def free_port(avoid=()):
    for _ in range(20):
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in avoid:
            return port
    raise RuntimeError("no free port")


def clean_environment(extra=None):
    """The process environment without any raccoon setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


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
            env=clean_environment(env),
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
        flush_interval = int(self.env.get("PUBLISHER_KAFKA_FLUSH_INTERVAL_MS", 1000))
        return (flush_timeout + flush_interval) / 1000.0 + EXIT_MARGIN_S


class RaccoonFactory:
    def __init__(self, tmp_path_factory, bootstrap):
        self.tmp_path_factory = tmp_path_factory
        self.bootstrap = bootstrap
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
            "PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS": self.bootstrap,
            "EVENT_DISTRIBUTION_PUBLISHER_PATTERN": f"it-{uuid.uuid4().hex[:16]}-%s",
            "EVENT_ACK": event_ack,
            "WORKER_BUFFER_FLUSH_TIMEOUT_MS": 3000,
            "PUBLISHER_KAFKA_FLUSH_INTERVAL_MS": 2000,
            "LOG_LEVEL": "info",
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


@pytest.fixture
def raccoon(tmp_path_factory, bootstrap):
    """Factory: raccoon.start(event_ack=..., env={...}) -> RaccoonServer.

    On teardown every server still running gets SIGTERM and must exit 0 within
    its drain bounds plus a margin."""
    factory = RaccoonFactory(tmp_path_factory, bootstrap)
    yield factory
    problems = factory.stop_all()
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def module_raccoon(tmp_path_factory, bootstrap):
    """Like `raccoon`, for servers shared by the tests of one module."""
    factory = RaccoonFactory(tmp_path_factory, bootstrap)
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


def assert_success(resp, fmt, req_guid):
    assert resp.status_code == 200, (resp.status_code, resp.content)
    decoded = decode_response(resp, fmt)
    assert decoded["status"] == STATUS_SUCCESS, decoded
    assert decoded["code"] == CODE_OK, decoded
    assert decoded["data"].get("req_guid") == req_guid, decoded
    assert abs(decoded["sent_time"] - time.time()) < 120, decoded
    if fmt == "json":
        assert decoded.keys_in_order == ("status", "code", "sent_time", "data"), decoded.keys_in_order
    return decoded


def assert_error(resp, http_status, code, fmt=None, req_guid=None):
    assert resp.status_code == http_status, (resp.status_code, resp.content)
    decoded = decode_response(resp, fmt)
    assert decoded["status"] == STATUS_ERROR, decoded
    assert decoded["code"] == code, decoded
    assert decoded["reason"], f"no reason in {decoded}"
    assert "req_guid" in decoded["data"], decoded
    if req_guid is not None:
        assert decoded["data"]["req_guid"] == req_guid, decoded
    if decoded.keys_in_order:
        assert_json_key_order(decoded)
    return decoded


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
