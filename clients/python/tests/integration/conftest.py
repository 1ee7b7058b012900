"""Fixtures of the Python client's integration tests: the real raccoon
binary and the real Kafka broker of the project's CTest fixture.

Environment (set by clients/CMakeLists.txt):
  RACCOON_BIN        the server binary
  RACCOON_KAFKA_DIR  the broker's state dir; its host:port is in DIR/bootstrap

Every wait is bounded; every address is 127.0.0.1.
"""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import time
import uuid

import httpx
import pytest

HOST = "127.0.0.1"
SETTING_PREFIXES = ("SERVER_", "WORKER_", "EVENT_", "PUBLISHER_", "METRIC_", "LOG_")


def env_path(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set; run the integration tests through ctest (clients/CMakeLists.txt)")
    return value


def bootstrap() -> str:
    with open(os.path.join(env_path("RACCOON_KAFKA_DIR"), "bootstrap")) as f:
        return f.read().strip()


def free_port(avoid=()) -> int:
    for _ in range(20):
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in avoid:
            return port
    raise RuntimeError("no free port")


class Server:
    """One raccoon process on free ports, EVENT_ACK=1, a unique topic pattern."""

    def __init__(self, workdir, extra=None):
        self.port = free_port()
        self.grpc_port = free_port(avoid={self.port})
        self.pattern = f"pyclient-{uuid.uuid4().hex[:12]}-%s"
        self.workdir = workdir
        settings = {
            "SERVER_WEBSOCKET_PORT": self.port,
            "SERVER_GRPC_PORT": self.grpc_port,
            "SERVER_BIND_ADDRESS": HOST,
            "SERVER_IO_THREADS": 2,
            "PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS": bootstrap(),
            "EVENT_DISTRIBUTION_PUBLISHER_PATTERN": self.pattern,
            "EVENT_ACK": 1,
            "WORKER_BUFFER_FLUSH_TIMEOUT_MS": 3000,
            "PUBLISHER_KAFKA_FLUSH_INTERVAL_MS": 2000,
            "LOG_LEVEL": "info",
            **(extra or {}),
        }
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
        self.env.update({k: str(v) for k, v in settings.items()})
        self.runs = 0
        self.proc = None
        self.run()

    @property
    def http_url(self):
        return f"http://{HOST}:{self.port}"

    @property
    def rest_url(self):
        return self.http_url + "/api/v1/events"

    @property
    def ws_url(self):
        return f"ws://{HOST}:{self.port}/api/v1/events"

    @property
    def grpc_address(self):
        return f"{HOST}:{self.grpc_port}"

    def topic(self, event_type):
        return self.pattern.replace("%s", event_type, 1)

    def run(self):
        self.runs += 1
        stderr = open(os.path.join(self.workdir, f"stderr-{self.runs}"), "wb")
        self.proc = subprocess.Popen(
            [env_path("RACCOON_BIN"), "server"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        stderr.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"raccoon exited with {self.proc.returncode}:\n{self.stderr()}")
            try:
                if httpx.get(self.http_url + "/ping", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        pytest.fail(f"raccoon did not answer /ping within 20 s:\n{self.stderr()}")

    def stop(self):
        """SIGTERM; the exit code (-9 when it had to be killed)."""
        if self.proc is None:
            return 0
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            return -9

    def restart(self):
        code = self.stop()
        assert code == 0, f"raccoon exited with {code} on restart:\n{self.stderr()}"
        self.run()

    def stderr(self):
        out = b""
        for i in range(1, self.runs + 1):
            with open(os.path.join(self.workdir, f"stderr-{i}"), "rb") as f:
                out += f.read()
        return out.decode("utf-8", "replace")[-8000:]


@pytest.fixture
def server(tmp_path):
    s = Server(str(tmp_path))
    yield s
    code = s.stop()
    assert code == 0, f"raccoon exited with {code}:\n{s.stderr()}"


def read_topic(topic: str, want: int, timeout: float = 30.0) -> list[bytes]:
    """The topic's messages from the beginning (kcat), once it holds `want`."""
    deadline = time.monotonic() + timeout
    last = ""
    got: list[bytes] = []
    while True:
        proc = subprocess.run(
            ["kcat", "-C", "-b", bootstrap(), "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%S\n%s"],
            capture_output=True,
            timeout=15,
        )
        if proc.returncode == 0:
            got = parse_sized(proc.stdout)
            if len(got) >= want:
                return got
        else:
            last = proc.stderr.decode("utf-8", "replace")
        if time.monotonic() > deadline:
            pytest.fail(f"topic {topic}: {len(got)} of {want} messages within {timeout}s ({last})")
        time.sleep(0.3)


def parse_sized(out: bytes) -> list[bytes]:
    """kcat's "%S\\n%s": a decimal size, a newline, that many bytes, per message."""
    messages = []
    i = 0
    while i < len(out):
        j = out.index(b"\n", i)
        n = int(out[i:j])
        messages.append(out[j + 1 : j + 1 + n])
        i = j + 1 + n
    return messages


def assert_topic_holds(topic: str, want: list[bytes], exact: bool = True) -> None:
    got = collections.Counter(read_topic(topic, len(want)))
    missing = collections.Counter(want) - got
    assert not missing, f"{topic} lacks {sum(missing.values())} events, e.g. {list(missing)[:2]}"
    if exact:
        extra = got - collections.Counter(want)
        assert not extra, f"{topic} holds {sum(extra.values())} events more than were sent"
