"""Our own client, raccoon-loadgen, against the real server and broker:
several connections with requests in flight under EVENT_ACK=1, every ack
matched to its request by req_guid, every event in Kafka exactly once and
byte for byte. Its WebSocket upgrade and REST are Beast's HTTP code, its
WebSocket frames the server's own frame code in the client's role; the
independent client of the frames is test_websocket.py's (Python). The
loadgen helpers, and how its requests are rebuilt, are in conftest.py.
"""

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest

from conftest import (
    EVENTS_PATH,
    HOST,
    WS_GUID,
    assert_loadgen_all_acked,
    assert_loadgen_in_kafka_once,
    loadgen_bin,
    loadgen_standard_args,
    run_loadgen,
)

WINDOW = 4  # requests in flight per connection: acks may come out of order


@pytest.mark.parametrize(
    "scheme, transport, fmt, window",
    [
        ("ws", "websocket", "proto", WINDOW),
        ("ws", "websocket", "json", WINDOW),
        # One request on the wire at a time per connection; the window queues
        # the others in the client.
        ("http", "rest", "json", 3),
    ],
    ids=["websocket-proto", "websocket-json", "rest-keep-alive"],
)
def test_windowed_requests_acked_and_delivered_once(raccoon, kafka, tmp_path, scheme, transport,
                                                    fmt, window):
    server = raccoon.start(event_ack=1)
    guid_prefix = f"loadgen-{transport}-{fmt}-{uuid.uuid4().hex[:8]}"
    run = run_loadgen(f"{scheme}://{HOST}:{server.port}{EVENTS_PATH}", tmp_path,
                      *loadgen_standard_args(fmt, guid_prefix, f"loadgen-{transport}-{fmt}-"),
                      "--window", window)
    assert_loadgen_all_acked(run, guid_prefix)
    assert run.summary["config"]["transport"] == transport
    assert_loadgen_in_kafka_once(kafka, server, guid_prefix)


def test_refused_connection_fails_the_run(raccoon, tmp_path):
    """The exit status tests rely on: a connection refused for a duplicate id
    (CODE_MAX_USER_LIMIT_REACHED, then close 1008) makes the run fail."""
    server = raccoon.start(event_ack=1)
    url = f"ws://{HOST}:{server.port}{EVENTS_PATH}"
    holder = subprocess.Popen(
        [loadgen_bin(), "--url", url, "--idle", "--duration", "30", "--connections", "1",
         "--id-prefix", "dup-"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # The holder says when its connection is up.
        deadline = time.monotonic() + 15
        line = ""
        while "connections up" not in line and time.monotonic() < deadline:
            line = holder.stderr.readline()
            if not line and holder.poll() is not None:
                break
        assert "opened=1 failed=0" in line, line
        run = run_loadgen(url, tmp_path, "--connections", 1, "--requests", 1, "--id-prefix",
                          "dup-", timeout=30)
        assert run.returncode == 1, str(run)
        assert run.summary["requests"]["refusals"] == 1, run.summary
        assert run.summary["errors_by_code"] == {"CODE_MAX_USER_LIMIT_REACHED": 1}, run.summary
        assert run.summary["connections"]["lost"] == 1, run.summary
        refusal = [a for a in run.acks if a["req_guid"] == ""]
        assert len(refusal) == 1 and refusal[0]["status"] == 2, run.acks
    finally:
        holder.terminate()
        out, err = holder.communicate(timeout=30)
    # The first connection kept working until its own end.
    assert holder.returncode == 0, out + err


def test_idle_connections_answer_the_servers_pings_and_stay_open(raccoon, tmp_path):
    """--idle holds its connections by answering the server's pings (what
    scenario 5 of the benchmark relies on): with a ping every 100 ms and a
    300 ms pong wait, 2 s of holding would lose every connection of a client
    that did not answer."""
    server = raccoon.start(event_ack=1, env={"SERVER_WEBSOCKET_PING_INTERVAL_MS": 100,
                                             "SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS": 300})
    run = run_loadgen(f"ws://{HOST}:{server.port}{EVENTS_PATH}", tmp_path, "--idle",
                      "--duration", 2, "--connections", 5, "--id-prefix", "idle-", timeout=30)
    assert run.returncode == 0, str(run)
    connections = run.summary["connections"]
    assert connections["opened"] == 5 and connections["lost"] == 0, run.summary


def test_open_loop_latency_counts_from_the_due_time_and_names_the_generators_own_lag(
        raccoon, tmp_path):
    """Open loop: a generator stopped for 0.6 s (SIGSTOP) sends the requests
    due meanwhile late. Their latency counts from when they were due, not
    when they went out (no coordinated omission), and schedule_lag_us says
    how much of it was the generator's own."""
    server = raccoon.start(event_ack=1)
    out = tmp_path / "open-loop.json"
    proc = subprocess.Popen(
        [loadgen_bin(), "--url", f"ws://{HOST}:{server.port}{EVENTS_PATH}", "--connections", "2",
         "--rate", "100", "--batch-size", "1", "--warmup", "0.5", "--duration", "3",
         "--timeout", "30", "--id-prefix", "late-", "--json-out", str(out)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)  # past the connections and the warm-up
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(0.6)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stdout + stderr
    summary = json.loads(out.read_text())
    lag, latency = summary["schedule_lag_us"], summary["latency_us"]
    assert lag["count"] == latency["count"] == summary["measured"]["acks"] > 0, summary
    # The first request due after the stop began went out when it ended.
    assert lag["max"] >= 500_000, summary
    assert latency["max"] >= lag["max"], summary
    # Only the requests due during the stop were late by it.
    assert lag["p50"] < 250_000, summary
    assert "sent late us" in stdout, stdout


def websocket_accept(key):
    """RFC 6455 §4.2.2: what a server answers to Sec-WebSocket-Key."""
    digest = hashlib.sha1((key + WS_GUID).encode()).digest()
    return base64.b64encode(digest).decode()


class OneUpgradeServer:
    """Answers one HTTP upgrade on 127.0.0.1 with answer(key), then reads
    until the client's end (or 10 s) and closes."""

    def __init__(self, answer):
        self.listener = socket.create_server((HOST, 0))
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.answer = answer
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        with self.listener:
            conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(10)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            key = next(line.split(b":", 1)[1].strip().decode()
                       for line in request.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))
            conn.sendall(self.answer(key).encode())
            try:
                while conn.recv(4096):
                    pass
            except OSError:
                pass


def upgrade_answer(accept):
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n")


@pytest.mark.parametrize("answer,outcome", [
    (lambda key: upgrade_answer(websocket_accept(key)), None),
    (lambda key: "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
     "handshake: declined, status 400"),
    (lambda key: upgrade_answer(websocket_accept(key + "x")),
     "handshake: declined, wrong Sec-WebSocket-Accept"),
], ids=["valid", "status-400", "wrong-accept"])
def test_the_loadgen_opens_only_an_upgrade_answered_as_rfc_6455_says(tmp_path, answer, outcome):
    """Its WebSocket client does the handshake itself: a 101 whose
    Sec-WebSocket-Accept matches its key opens the connection (and the
    client's close ends it), anything else fails it with the reason."""
    server = OneUpgradeServer(answer)
    run = run_loadgen(f"ws://{HOST}:{server.port}{EVENTS_PATH}", tmp_path, "--idle",
                      "--duration", "0.5", "--connections", 1, "--connect-timeout", 5, timeout=30)
    server.thread.join(timeout=15)
    connections = run.summary["connections"]
    if outcome is None:
        assert run.returncode == 0, str(run)
        assert connections["opened"] == 1, run.summary
    else:
        assert run.returncode == 1, str(run)
        assert connections["failed"] == 1, run.summary
        assert run.summary["transport_errors"] == {outcome: 1}, run.summary
