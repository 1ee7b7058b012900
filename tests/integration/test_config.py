"""Start-up configuration: a bad value stops the binary with one line naming
the key; `raccoon server --help` lists every setting with its default."""

import os
import re
import socket
import subprocess

import pytest

from conftest import HOST, free_port, raccoon_bin, server_environment

try:
    import yaml
except ImportError:  # pragma: no cover - python3-yaml is a Debian package
    yaml = None

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run_raccoon(env, args=(), timeout=15):
    settings = {
        "SERVER_WEBSOCKET_PORT": free_port(),
        "SERVER_GRPC_PORT": free_port(),
        "SERVER_BIND_ADDRESS": HOST,
        # A broker nobody listens on: a start-up that gets past validation
        # must still not need one to fail.
        "PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS": f"{HOST}:1",
    }
    settings.update(env)
    return subprocess.run(
        [raccoon_bin(), "server", *args],
        env=server_environment({k: v for k, v in settings.items()}),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
    )


BAD_SETTINGS = [
    ("SERVER_WEBSOCKET_PORT", "70000"),
    ("SERVER_WEBSOCKET_PORT", "http"),
    ("SERVER_WEBSOCKET_PORT", "0"),
    ("SERVER_GRPC_PORT", "-1"),
    ("PUBLISHER_TYPE", "rabbitmq"),
    ("EVENT_DISTRIBUTION_PUBLISHER_PATTERN", "clickstream-%s-%s"),
    ("EVENT_ACK", "true"),
    ("WORKER_POOL_SIZE", "none"),
    ("SERVER_CORS_ENABLED", "maybe"),
    ("LOG_LEVEL", "loud"),
    ("PUBLISHER_KAFKA_CLIENT_NO_SUCH_PROPERTY", "1"),
    ("PUBLISHER_KAFKA_CLIENT_ACKS", "several"),
    ("PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS", None),
    ("SERVER_BIND_ADDRESS", "not-an-address"),
]


@pytest.mark.parametrize("key,value", BAD_SETTINGS, ids=[f"{k}={v}" for k, v in BAD_SETTINGS])
def test_bad_setting_stops_with_one_line_naming_it(key, value):
    result = run_raccoon({key: value})
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode != 0, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert key in lines[0], lines[0]
    if value:
        assert value in lines[0], lines[0]
    assert result.stdout == b""


def test_bad_flag_stops_with_one_line_naming_it():
    result = run_raccoon({}, args=["--server.websocket.port=99999"])
    lines = result.stderr.decode().splitlines()
    assert result.returncode != 0
    assert len(lines) == 1 and "SERVER_WEBSOCKET_PORT" in lines[0].upper(), lines


def test_port_in_use_stops_with_one_line_naming_it():
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_raccoon({"SERVER_WEBSOCKET_PORT": str(port), "PUBLISHER_TYPE": "log"})
    lines = result.stderr.decode().splitlines()
    assert result.returncode != 0
    assert len(lines) == 1 and "SERVER_WEBSOCKET_PORT" in lines[0] and str(port) in lines[0], lines


# Upstream raystack/raccoon settings and their defaults, which ours must keep.
UPSTREAM_DEFAULTS = {
    "SERVER_WEBSOCKET_PORT": "8080",
    "SERVER_WEBSOCKET_MAX_CONN": "30000",
    "SERVER_WEBSOCKET_READ_BUFFER_SIZE": "10240",
    "SERVER_WEBSOCKET_WRITE_BUFFER_SIZE": "10240",
    "SERVER_WEBSOCKET_PING_INTERVAL_MS": "30000",
    "SERVER_WEBSOCKET_PONG_WAIT_INTERVAL_MS": "60000",
    "SERVER_WEBSOCKET_WRITE_WAIT_INTERVAL_MS": "5000",
    "SERVER_WEBSOCKET_PINGER_SIZE": "1",
    "SERVER_WEBSOCKET_CHECK_ORIGIN": "true",
    "SERVER_WEBSOCKET_CONN_ID_HEADER": None,
    "SERVER_WEBSOCKET_CONN_GROUP_HEADER": None,
    "SERVER_WEBSOCKET_CONN_GROUP_DEFAULT": "--default--",
    "SERVER_BATCH_DEDUP_IN_CONNECTION_ENABLED": "false",
    "SERVER_GRPC_PORT": "8081",
    "SERVER_CORS_ENABLED": "false",
    "SERVER_CORS_ALLOWED_ORIGIN": None,
    "SERVER_CORS_ALLOWED_METHODS": None,
    "SERVER_CORS_ALLOWED_HEADERS": None,
    "SERVER_CORS_ALLOW_CREDENTIALS": "false",
    "SERVER_CORS_PREFLIGHT_MAX_AGE_SECONDS": "0",
    "WORKER_POOL_SIZE": "5",
    "WORKER_BUFFER_CHANNEL_SIZE": "100",
    "WORKER_BUFFER_FLUSH_TIMEOUT_MS": "5000",
    "EVENT_DISTRIBUTION_PUBLISHER_PATTERN": "clickstream-%s-log",
    "EVENT_ACK": "0",
    "PUBLISHER_TYPE": "kafka",
    "PUBLISHER_KAFKA_FLUSH_INTERVAL_MS": "1000",
    "PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS": None,
    "METRIC_RUNTIME_STATS_RECORD_INTERVAL_MS": "10000",
    "METRIC_STATSD_ENABLED": "false",
    "METRIC_STATSD_ADDRESS": ":8125",
    "METRIC_STATSD_FLUSH_PERIOD_MS": "10000",
    "METRIC_PROMETHEUS_ENABLED": "false",
    "METRIC_PROMETHEUS_PORT": "9090",
    "METRIC_PROMETHEUS_PATH": "/metrics",
    "LOG_LEVEL": "info",
}

HELP_ENTRY = re.compile(r'^  ([A-Z][A-Z0-9_]*) \(default "(.*)"\)$')


def help_settings():
    result = subprocess.run(
        [raccoon_bin(), "server", "--help"],
        env=server_environment(),
        capture_output=True,
        timeout=10,
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    listed = {}
    for line in text.splitlines():
        m = HELP_ENTRY.match(line)
        if m:
            assert m.group(1) not in listed, f"{m.group(1)} listed twice"
            listed[m.group(1)] = m.group(2)
    return text, listed


def test_help_lists_every_setting_with_its_default():
    text, listed = help_settings()
    missing = sorted(set(UPSTREAM_DEFAULTS) - set(listed))
    assert not missing, f"--help does not list {missing}:\n{text}"
    wrong = {
        k: (listed[k], v) for k, v in UPSTREAM_DEFAULTS.items() if v is not None and listed[k] != v
    }
    assert not wrong, f"defaults differ from upstream (listed, upstream): {wrong}"
    for key in listed:
        # Each entry is explained on the line after it.
        assert re.search(rf'^  {key} \(default ".*"\)\n      \S', text, re.M), key


def flatten(node, prefix=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from flatten(value, f"{prefix}_{key}".upper() if prefix else str(key).upper())
    else:
        yield prefix, node


@pytest.mark.skipif(yaml is None, reason="python3-yaml is not installed")
def test_help_lists_every_setting_of_the_sample_config():
    _, listed = help_settings()
    with open(os.path.join(REPO, "config", "raccoon.yaml")) as f:
        sample = dict(flatten(yaml.safe_load(f)))
    missing = sorted(set(sample) - set(listed))
    assert not missing, f"config/raccoon.yaml has settings --help does not list: {missing}"


@pytest.mark.skipif(yaml is None, reason="python3-yaml is not installed")
def test_every_listed_setting_is_accepted(tmp_path):
    """Every setting --help lists, at its default, in a config file, starts
    the server (PUBLISHER_TYPE=log, so no broker is needed)."""
    _, listed = help_settings()
    values = dict(listed)
    port = free_port()
    values.update(
        {
            "SERVER_WEBSOCKET_PORT": str(port),
            "SERVER_GRPC_PORT": str(free_port(avoid={port})),
            "SERVER_BIND_ADDRESS": HOST,
            "PUBLISHER_TYPE": "log",
        }
    )
    config = tmp_path / "all.yaml"
    config.write_text(yaml.safe_dump({k.lower(): v for k, v in values.items()}))
    proc = subprocess.Popen(
        [raccoon_bin(), "server", "--config", str(config)],
        env=server_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        import requests
        import time

        deadline = time.monotonic() + 10
        ok = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ok = requests.get(f"http://{HOST}:{port}/ping", timeout=1).status_code == 200
                if ok:
                    break
            except requests.RequestException:
                time.sleep(0.05)
        assert ok, f"exit {proc.poll()}"
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate(timeout=5)
    assert proc.returncode == 0, err.decode()
