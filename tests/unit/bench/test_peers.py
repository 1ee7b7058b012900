"""The publishers' peers of the benchmark suite (bench/run_benchmarks.py),
without a real peer or server: what each points a server at, how a peer is
started and stopped through its script, how delivered events are counted,
and the order in which a run asks its peer."""

import http.server
import os
import stat
import subprocess
import sys
import threading

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench"))
import run_benchmarks as suite  # noqa: E402

WS_PORT, GRPC_PORT = 40001, 40002


def bench_with_peers(addresses, pinned=False):
    """A Bench with no work dir whose peers have started at `addresses`
    ({publisher: address})."""
    bench = object.__new__(suite.Bench)
    bench.pinned = pinned
    bench.peers = {}
    for publisher, peer_class in suite.PEERS.items():
        peer = peer_class("/nonexistent")
        peer.address = addresses.get(publisher)
        bench.peers[publisher] = peer
    return bench


def env_for(publisher, monkeypatch, **caller_env):
    for key, value in caller_env.items():
        monkeypatch.setenv(key, value)
    bench = bench_with_peers({"kafka": "127.0.0.1:9092", "pubsub": "127.0.0.1:8085",
                              "kinesis": "127.0.0.1:4567"})
    return bench.server_env(1, "bench-01-%s", WS_PORT, GRPC_PORT, publisher)


def test_kafka_runs_name_the_broker_and_leave_the_metrics_endpoint_off(monkeypatch):
    env = env_for("kafka", monkeypatch)
    assert env["PUBLISHER_TYPE"] == "kafka"
    assert env["PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"
    assert "METRIC_PROMETHEUS_ENABLED" not in env
    assert not any(key.startswith(("PUBLISHER_PUBSUB_", "PUBLISHER_KINESIS_")) for key in env)


def test_pubsub_runs_publish_to_the_emulator_and_count_on_their_metrics_port(monkeypatch):
    env = env_for("pubsub", monkeypatch)
    assert env["PUBLISHER_TYPE"] == "pubsub"
    assert env["PUBSUB_EMULATOR_HOST"] == "127.0.0.1:8085"
    assert env["PUBLISHER_PUBSUB_TOPIC_AUTOCREATE"] == "true"
    assert env["METRIC_PROMETHEUS_ENABLED"] == "true"
    assert int(env["METRIC_PROMETHEUS_PORT"]) not in (WS_PORT, GRPC_PORT)


def test_kinesis_runs_make_provisioned_streams_in_kinesalite_with_a_key_of_their_own(
        monkeypatch):
    env = env_for("kinesis", monkeypatch, AWS_SESSION_TOKEN="callers-token",
                  AWS_PROFILE="callers-profile", AWS_ACCESS_KEY_ID="AKIACALLER",
                  PUBLISHER_KINESIS_STREAM_MODE="ON_DEMAND")
    assert env["PUBLISHER_TYPE"] == "kinesis"
    assert env["AWS_ENDPOINT_URL_KINESIS"] == "http://127.0.0.1:4567"
    assert env["PUBLISHER_KINESIS_AWS_REGION"] == suite.KINESIS_REGION
    assert env["PUBLISHER_KINESIS_STREAM_AUTOCREATE"] == "true"
    # kinesalite refuses ON_DEMAND; as many shards as Kafka's runs have partitions.
    assert env["PUBLISHER_KINESIS_STREAM_MODE"] == "PROVISIONED"
    assert env["PUBLISHER_KINESIS_STREAM_SHARDS"] == str(suite.PARTITIONS)
    assert env["AWS_ACCESS_KEY_ID"] == "raccoon-bench"
    assert "AWS_SESSION_TOKEN" not in env and "AWS_PROFILE" not in env
    assert env["METRIC_PROMETHEUS_ENABLED"] == "true"
    assert int(env["METRIC_PROMETHEUS_PORT"]) not in (WS_PORT, GRPC_PORT)


def test_every_scenario_has_a_peer_a_title_and_a_plot_name():
    assert set(suite.PEER_SCENARIOS.values()) <= set(suite.PEERS)
    assert set(suite.PLOT_NAMES) == set(suite.SCENARIO_TITLES)
    assert suite.SCENARIO_TITLES[suite.KINESIS_SCENARIO].startswith("8. Kinesis")
    for peer in suite.PEERS.values():
        assert peer.publisher_name and peer.peer_name and peer.delivered_note


METRICS = """\
# HELP kinesis_messages_delivered_total Number of events successfully delivered to Kinesis
# TYPE kinesis_messages_delivered_total counter
kinesis_messages_delivered_total{stream="s-type-0",conn_group="group 1",event_type="type-0"} 1500
kinesis_messages_delivered_total{stream="s-type-1",conn_group="",event_type="type-1"} 2.5e+03
kinesis_messages_delivered_total_extra{stream="s-type-0"} 7
kinesis_messages_undelivered_total{stream="s-type-0",conn_group="",event_type="type-0"} 30
pubsub_messages_delivered_total{topic="t",conn_group="",event_type="type-0"} 11
"""


def test_a_counter_is_the_sum_of_its_own_series_only():
    assert suite.counter_total(METRICS, "kinesis_messages_delivered_total") == 4000
    assert suite.counter_total(METRICS, "pubsub_messages_delivered_total") == 11
    assert suite.counter_total(METRICS, "kafka_messages_delivered_total") == 0


@pytest.fixture
def metrics_server():
    """A /metrics endpoint on loopback serving METRICS; yields its port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = METRICS.encode()
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer((suite.HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@pytest.mark.parametrize("publisher,count", [("kinesis", 4000), ("pubsub", 11)])
def test_a_peer_counted_by_the_server_reads_its_counter_while_the_server_runs(
        metrics_server, publisher, count):
    peer = suite.PEERS[publisher]("/nonexistent")
    run = {"metrics_port": str(metrics_server), "topic": "s-type-0"}
    peer.server_stopping(run)
    assert peer.delivered(run) == count


def fake_script(tmp_path, start_body):
    """A peer script: `start DIR` runs start_body, every call is logged."""
    script = tmp_path / "peer.sh"
    script.write_text("#!/bin/sh\n"
                      f'echo "$@" >>"{tmp_path}/calls"\n'
                      'if [ "$1" = start ]; then\n'
                      f"{start_body}\n"
                      "fi\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def peer_with_script(tmp_path, start_body):
    peer_class = type("ScriptedPeer", (suite.Kinesalite,),
                      {"script": fake_script(tmp_path, start_body), "pid_file": "peer.pid"})
    directory = tmp_path / "peer"
    directory.mkdir()
    return peer_class(str(directory))


def test_a_peer_takes_its_address_from_the_scripts_last_line_and_its_pid_from_its_file(
        tmp_path):
    peer = peer_with_script(tmp_path, 'echo installing\necho 4242 >"$2/peer.pid"\n'
                                      "echo 127.0.0.1:45678")
    peer.start()
    assert (peer.address, peer.pid) == ("127.0.0.1:45678", 4242)
    peer.stop()
    directory = peer.directory
    assert (tmp_path / "calls").read_text().splitlines() == [f"start {directory}",
                                                             f"stop {directory}"]


def test_a_peer_that_does_not_start_fails_with_its_scripts_reason(tmp_path):
    peer = peer_with_script(tmp_path, 'echo "npm is missing" >&2\nexit 1')
    with pytest.raises(RuntimeError, match="peer.sh start failed: npm is missing"):
        peer.start()


class RecordingPeer(suite.Peer):
    """A peer that records when the runner asks it what."""

    publisher = "kinesis"

    def __init__(self, events, server):
        super().__init__("/nonexistent")
        self.events = events
        self.server = server
        self.pid = os.getpid()

    def pauses(self, since, until):
        return [1.5]

    def server_stopping(self, run):
        self.events.append(("server_stopping", self.server.poll() is None))

    def delivered(self, run):
        self.events.append(("delivered", self.server.poll() is None))
        return 1234


def test_a_run_reads_its_peer_while_the_server_runs_and_counts_after_it_stopped(tmp_path):
    events = []
    server = subprocess.Popen(["sleep", "60"])
    try:
        bench = object.__new__(suite.Bench)
        bench.work = str(tmp_path)
        bench.warmup = bench.duration = 0
        bench.runs = []
        bench.peers = {"kinesis": RecordingPeer(events, server)}
        prepared = {"name": "01-8-max", "topic": "s-type-0", "server": server, "cmd": ["true"],
                    "out": str(tmp_path / "absent.json"), "scenario": 8, "label": "max",
                    "transport": "websocket", "event_ack": 1, "plan": ["--window", 4],
                    "fraction": None, "publisher": "kinesis", "metrics_port": None}
        [result] = bench.measure([prepared])
    finally:
        server.kill()
        server.wait(timeout=10)
    assert events == [("server_stopping", True), ("delivered", False)]
    assert result["events_delivered"] == 1234
    assert result["broker_gc_pauses_ms"] == [1.5]
    assert result["publisher"] == "kinesis"
