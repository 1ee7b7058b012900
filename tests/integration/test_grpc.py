"""gRPC: raystack.raccoon.v1beta1.EventService/SendEvent on SERVER_GRPC_PORT,
the standard health service and server reflection, called with Debian's
python3-grpcio (an independent client) and stubs from Debian's
grpc_python_plugin.

Health and reflection are called as raw methods with hand-encoded messages:
Debian packages neither grpcio-health-checking nor grpcio-reflection, nor
grpcurl.
"""

import collections
import contextlib
import os
import socket
import subprocess
import threading
import time
import uuid

import grpc
import pytest

from conftest import (
    CODE_INTERNAL_ERROR,
    CODE_OK,
    HOST,
    Event,
    STATUS_ERROR,
    STATUS_SUCCESS,
    assert_arrived_once,
    free_port,
    make_events,
    pb,
)
from raystack.raccoon.v1beta1 import raccoon_pb2_grpc

SERVICE = "raystack.raccoon.v1beta1.EventService"
SEND_EVENT = f"/{SERVICE}/SendEvent"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
ID_METADATA = (("x-user-id", "grpc-user"),)
SERVING, NOT_SERVING = 1, 2


def grpc_target(server):
    return f"{HOST}:{server.env['SERVER_GRPC_PORT']}"


@contextlib.contextmanager
def open_channel(server, options=()):
    channel = grpc.insecure_channel(grpc_target(server), options=list(options))
    try:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield channel
    finally:
        channel.close()


def request(events, req_guid=None):
    req = pb.SendEventRequest()
    req.req_guid = req_guid if req_guid is not None else str(uuid.uuid4())
    req.sent_time.seconds = int(time.time())
    req.sent_time.nanos = 123456789
    for e in events:
        req.events.add(event_bytes=e.bytes, type=e.type)
    return req


def send(channel, events, req_guid=None, metadata=ID_METADATA, timeout=30):
    stub = raccoon_pb2_grpc.EventServiceStub(channel)
    return stub.SendEvent(request(events, req_guid), metadata=metadata, timeout=timeout)


def assert_success(response, req_guid):
    assert response.status == STATUS_SUCCESS, response
    assert response.code == CODE_OK, response
    assert dict(response.data) == {"req_guid": req_guid}, response
    assert abs(response.sent_time - time.time()) < 120, response


def expect_rpc_error(call):
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def health_status(channel, service=""):
    """grpc.health.v1.Health/Check: HealthCheckRequest{string service = 1},
    HealthCheckResponse{ServingStatus status = 1}."""
    name = service.encode()
    body = (b"\x0a" + bytes([len(name)]) + name) if name else b""
    check = channel.unary_unary(HEALTH_CHECK)
    answer = check(body, timeout=10)
    if answer == b"":
        return 0
    assert answer[0] == 0x08 and len(answer) == 2, answer
    return answer[1]


@pytest.mark.parametrize("event_ack", [1, 0])
def test_send_event_publishes_and_acks(raccoon, kafka, event_ack):
    server = raccoon.start(event_ack=event_ack)
    sent = []
    with open_channel(server) as channel:
        for i in range(5):
            events = make_events(4, types=("grpc-a", "grpc-b"))
            guid = f"grpc-{i}-{uuid.uuid4()}"
            assert_success(send(channel, events, guid), guid)
            sent += events
    assert_arrived_once(kafka, server, sent)


def test_concurrent_calls_on_one_channel(raccoon, kafka):
    server = raccoon.start(event_ack=1, env={"WORKER_BUFFER_CHANNEL_SIZE": 2, "WORKER_POOL_SIZE": 1})
    stub_calls = []
    sent = []
    with open_channel(server) as channel:
        stub = raccoon_pb2_grpc.EventServiceStub(channel)
        for i in range(40):
            events = make_events(5, types=("grpc-many",))
            guid = f"many-{i}-{uuid.uuid4()}"
            future = stub.SendEvent.future(request(events, guid), metadata=ID_METADATA, timeout=60)
            stub_calls.append((guid, future))
            sent += events
        for guid, future in stub_calls:
            assert_success(future.result(), guid)
    assert_arrived_once(kafka, server, sent)


def test_identity_metadata(raccoon, kafka):
    server = raccoon.start(
        env={
            "SERVER_WEBSOCKET_CONN_ID_HEADER": "X-Client-Id",
            "SERVER_WEBSOCKET_CONN_GROUP_HEADER": "X-Client-Group",
        }
    )
    sent = []
    with open_channel(server) as channel:
        for metadata in (
            (("x-client-id", "u1"), ("x-client-group", "g1")),
            (("x-client-id", "u1"),),
        ):
            events = make_events(2, types=("grpc-id",))
            guid = str(uuid.uuid4())
            assert_success(send(channel, events, guid, metadata=metadata), guid)
            sent += events
        # As upstream, a call without the id is refused.
        error = expect_rpc_error(
            lambda: send(channel, make_events(1), metadata=(("x-client-group", "g1"),))
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
        assert "x-client-id" in error.details(), error.details()
    assert_arrived_once(kafka, server, sent)


def test_empty_and_garbage_requests(raccoon):
    server = raccoon.start()
    with open_channel(server) as channel:
        # An empty batch is a success, as upstream acks it.
        assert_success(send(channel, [], req_guid="g-empty"), "g-empty")

        # Bytes that are no SendEventRequest (the method is raw on the server,
        # so this is our answer, not gRPC's UNIMPLEMENTED).
        raw = channel.unary_unary(SEND_EVENT)
        for garbage in (b"\xff\xff\xff\xff", b"\x1a\x05\x0a\x10abc"):
            error = expect_rpc_error(lambda: raw(garbage, metadata=ID_METADATA, timeout=10))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
            assert "SendEventRequest" in error.details(), error.details()

        # The server goes on serving.
        events = make_events(1, types=("grpc-after",))
        guid = str(uuid.uuid4())
        assert_success(send(channel, events, guid), guid)


def test_large_request_arrives_whole(raccoon, kafka):
    # About 1 MB: gRPC hands it over in several slices, which the server joins
    # before decoding; every byte must reach Kafka as sent.
    server = raccoon.start(event_ack=1, env={"SERVER_GRPC_MAX_RECV_MESSAGE_BYTES": 4 << 20})
    events = [e._replace(bytes=bytes([i]) * 300_000 + e.bytes)
              for i, e in enumerate(make_events(3, types=("grpc-large",)))]
    guid = str(uuid.uuid4())
    with open_channel(server) as channel:
        assert_success(send(channel, events, guid), guid)
    assert_arrived_once(kafka, server, events)


def test_oversized_message(raccoon):
    server = raccoon.start(env={"SERVER_GRPC_MAX_RECV_MESSAGE_BYTES": 65536})
    with open_channel(server) as channel:
        big = [make_events(1)[0]._replace(bytes=b"x" * 70000)]
        error = expect_rpc_error(lambda: send(channel, big))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
        events = [make_events(1, types=("grpc-fits",))[0]._replace(bytes=b"y" * 60000)]
        guid = str(uuid.uuid4())
        assert_success(send(channel, events, guid), guid)


def test_publish_failure_is_a_response(raccoon):
    """Under EVENT_ACK=1 a failed publish is an OK status carrying a
    SendEventResponse with STATUS_ERROR and CODE_INTERNAL_ERROR, as upstream's
    handler answers; librdkafka refuses a message above message.max.bytes."""
    server = raccoon.start(event_ack=1, env={"PUBLISHER_KAFKA_CLIENT_MESSAGE_MAX_BYTES": 1000})
    with open_channel(server) as channel:
        guid = str(uuid.uuid4())
        too_big = make_events(1, types=("big",))[0]._replace(bytes=b"x" * 2000)
        response = send(channel, [too_big], guid)
        assert response.status == STATUS_ERROR, response
        assert response.code == CODE_INTERNAL_ERROR, response
        assert response.reason, response
        assert dict(response.data) == {"req_guid": guid}, response


def test_health_serving(raccoon):
    server = raccoon.start()
    with open_channel(server) as channel:
        # NOT_SERVING until the first check of the broker, right after start.
        wait_health(channel, SERVING, 10)
        assert health_status(channel, SERVICE) == SERVING
        error = expect_rpc_error(lambda: health_status(channel, "no.such.Service"))
        assert error.code() == grpc.StatusCode.NOT_FOUND, error


def test_reflection_lists_the_service(raccoon):
    server = raccoon.start()
    with open_channel(server) as channel:
        reflect = channel.stream_stream(REFLECTION)
        # ServerReflectionRequest{string list_services = 7}
        answers = list(reflect(iter([b"\x3a\x01*"]), timeout=10))
        assert len(answers) == 1, answers
        assert SERVICE.encode() in answers[0], answers[0]
        assert b"grpc.health.v1.Health" in answers[0], answers[0]
        # ServerReflectionRequest{string file_containing_symbol = 4}: the proto
        # itself, so a client needs no copy of it.
        symbol = SERVICE.encode()
        answers = list(reflect(iter([b"\x22" + bytes([len(symbol)]) + symbol]), timeout=10))
        assert b"raystack/raccoon/v1beta1/raccoon.proto" in answers[0], answers[0]


def test_shutdown_with_calls_in_flight(raccoon, kafka):
    """SIGTERM with calls in flight: each gets its ack (success, or
    CODE_INTERNAL_ERROR when it could not be published) or UNAVAILABLE, and
    the server exits 0.

    Each connection carries at most SERVER_GRPC_MAX_CONCURRENT_STREAMS calls:
    calls a client queues beyond that never reach the server, and grpcio
    1.51 ends them CANCELLED when the server goes away."""
    streams = 100
    server = raccoon.start(
        event_ack=1,
        env={
            "WORKER_BUFFER_CHANNEL_SIZE": 2,
            "WORKER_POOL_SIZE": 1,
            "SERVER_GRPC_MAX_CONCURRENT_STREAMS": streams,
        },
    )
    calls = []
    # grpcio shares one connection among channels with the same arguments: a
    # local subchannel pool gives each channel its own.
    own = (("grpc.use_local_subchannel_pool", 1),)
    with open_channel(server, own) as first, open_channel(server, own) as second:
        for channel in (first, second):
            stub = raccoon_pb2_grpc.EventServiceStub(channel)
            for i in range(streams):
                events = make_events(20, types=("grpc-stop",))
                guid = f"stop-{i}-{uuid.uuid4()}"
                future = stub.SendEvent.future(
                    request(events, guid), metadata=ID_METADATA, timeout=60
                )
                calls.append((guid, events, future))
        time.sleep(0.05)
        code, _ = server.stop()
        assert code == 0, server.stderr()
        outcomes = collections.Counter()
        delivered = []
        for guid, events, future in calls:
            try:
                response = future.result(timeout=30)
            except grpc.RpcError as error:
                outcomes[error.code()] += 1
                continue
            assert response.code in (CODE_OK, CODE_INTERNAL_ERROR), response
            outcomes[response.code] += 1
            if response.code == CODE_OK:
                assert_success(response, guid)
                delivered += events
        print("outcomes", outcomes)
        assert outcomes[CODE_OK] > 0, outcomes
        assert set(outcomes) <= {CODE_OK, CODE_INTERNAL_ERROR, grpc.StatusCode.UNAVAILABLE}, outcomes
    # Every acked event is in Kafka (and maybe some of the others, whose ack
    # was lost to the shutdown: at-least-once is the contract).
    got = set(kafka.read([server.topic("grpc-stop")], len(delivered), timeout=30))
    missing = [e for e in delivered if (server.topic(e.type), e.bytes) not in got]
    assert not missing, f"{len(missing)} acked events missing"


def wait_health(channel, wanted, timeout):
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = health_status(channel)
        if status == wanted:
            return
        time.sleep(0.1)
    raise AssertionError(f"health {status} after {timeout}s, wanted {wanted}")


@contextlib.contextmanager
def forwarder(port, target):
    """A TCP relay on 127.0.0.1:`port` to `target` (host:port), while open."""
    host, target_port = target.rsplit(":", 1)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, port))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()
    sockets = []

    def pump(src, dst):
        try:
            while not stop.is_set():
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def accept():
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            upstream = socket.create_connection((host, int(target_port)), timeout=5)
            upstream.settimeout(None)
            client.settimeout(None)
            sockets.extend([client, upstream])
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield
    finally:
        stop.set()
        acceptor.join(timeout=5)
        listener.close()
        for s in sockets:
            with contextlib.suppress(OSError):
                s.close()


def test_health_follows_the_broker(raccoon, bootstrap):
    """NOT_SERVING while no broker answers, SERVING once one does: the broker
    is reached through a relay that is not listening at first."""
    port = free_port()
    server = raccoon.start(
        env={
            "PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS": f"{HOST}:{port}",
            "PUBLISHER_KAFKA_CLIENT_RECONNECT_BACKOFF_MAX_MS": 500,
        }
    )
    with open_channel(server) as channel:
        wait_health(channel, NOT_SERVING, 10)
        with forwarder(port, bootstrap):
            wait_health(channel, SERVING, 20)
            assert health_status(channel, SERVICE) == SERVING


def test_new_calls_while_draining_are_unavailable(raccoon):
    """New calls get UNAVAILABLE once the drain starts; a batch kept in
    flight (the broker is unreachable) holds the drain open."""
    server = raccoon.start(
        event_ack=1,
        env={
            "PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS": f"{HOST}:1",
            "WORKER_BUFFER_FLUSH_TIMEOUT_MS": 3000,
            "PUBLISHER_KAFKA_FLUSH_INTERVAL_MS": 3000,
        },
    )
    with open_channel(server) as channel:
        stub = raccoon_pb2_grpc.EventServiceStub(channel)
        pending = stub.SendEvent.future(
            request(make_events(1, types=("grpc-held",))), metadata=ID_METADATA, timeout=30
        )
        time.sleep(0.5)
        assert not pending.done()
        server.send_signal()
        time.sleep(0.5)
        assert not pending.done()
        assert health_status(channel) == NOT_SERVING
        error = expect_rpc_error(lambda: send(channel, make_events(1), timeout=10))
        assert error.code() == grpc.StatusCode.UNAVAILABLE, error
        try:
            response = pending.result(timeout=30)
            assert response.code == CODE_INTERNAL_ERROR, response
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE, error
    code, _ = server.stop()
    assert code == 0, server.stderr()


def test_our_cpp_client(raccoon, kafka):
    """Our own client, on the C++ stub: acks under EVENT_ACK=1 with the
    id and group metadata, events in Kafka."""
    client = os.environ.get("RACCOON_GRPC_CLIENT")
    if not client or not os.path.exists(client):
        pytest.fail("RACCOON_GRPC_CLIENT is not built; run through ctest")
    server = raccoon.start(event_ack=1, env={"SERVER_WEBSOCKET_CONN_GROUP_HEADER": "X-Group"})
    tag = f"cpp{uuid.uuid4().hex[:8]}"
    batches, per_batch = 4, 5
    result = subprocess.run(
        [client, grpc_target(server), tag, "grpc-cpp", str(batches), str(per_batch),
         "x-user-id=cpp-user", "x-group=backend"],
        capture_output=True, timeout=60, text=True,
    )
    assert result.returncode == 0, (result.stdout, result.stderr)
    lines = result.stdout.split("\n")[:-1]
    assert lines == [f"0 {STATUS_SUCCESS} {CODE_OK} {tag}-{b}" for b in range(batches)], lines
    sent = [
        Event("grpc-cpp", f"{tag}:{b}:{e}".encode())
        for b in range(batches)
        for e in range(per_batch)
    ]
    assert_arrived_once(kafka, server, sent)
    # Without the id metadata the call is refused: INVALID_ARGUMENT (3).
    result = subprocess.run(
        [client, grpc_target(server), tag + "x", "grpc-cpp", "1", "1"],
        capture_output=True, timeout=60, text=True,
    )
    assert result.returncode == 1 and result.stdout.startswith("3 "), result.stdout


def test_grpc_port_in_use_stops_with_one_line_naming_it(raccoon):
    """A taken port, even one another raccoon holds (gRPC would share it
    through SO_REUSEPORT unless told not to), stops start-up with one line."""
    first = raccoon.start(env={"PUBLISHER_TYPE": "log"})
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        for port in (taken.getsockname()[1], int(first.env["SERVER_GRPC_PORT"])):
            second = raccoon.start(
                env={"PUBLISHER_TYPE": "log", "SERVER_GRPC_PORT": port}, wait=False
            )
            try:
                second.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pytest.fail(f"a second server started on gRPC port {port}")
            lines = second.stderr().splitlines()
            assert second.proc.returncode != 0
            assert len(lines) == 1, lines
            assert "SERVER_GRPC_PORT" in lines[0] and str(port) in lines[0], lines
            assert "in use" in lines[0], lines
