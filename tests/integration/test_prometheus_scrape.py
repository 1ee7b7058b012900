"""A real Prometheus server (Debian's `prometheus`, installed by
scripts/install-deps.sh test) scrapes raccoon's metrics endpoint, and its
query API counts the events this test sent: the exposition is one that
Prometheus itself accepts, not only one our own parser reads."""

import os
import signal
import subprocess
import time
import uuid

import pytest
import requests

from conftest import (
    HOST,
    WS_ID_HEADER,
    assert_success,
    free_port,
    make_events,
    post_events,
    proto_request,
)

PROMETHEUS_BIN = "/usr/bin/prometheus"
GROUP_HEADER = "X-Connection-Group"
GROUP = "prom-it"
JOB = "raccoon"
BATCHES = 3
BATCH_SIZE = 4
EVENTS = BATCHES * BATCH_SIZE
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Prometheus hands discovered targets to its scrapers every 5 s, so the first
# scrape lands 5-6 s after start; the rest is margin for a loaded machine.
PROMETHEUS_READY_TIMEOUT_S = 30.0
QUERY_TIMEOUT_S = 30.0
PROMETHEUS_EXIT_TIMEOUT_S = 15.0


class Prometheus:
    """One prometheus process on a free 127.0.0.1 port, scraping `target`
    every second, its output and TSDB under `workdir`."""

    def __init__(self, workdir, target, metrics_path):
        if not os.access(PROMETHEUS_BIN, os.X_OK):
            pytest.fail(f"{PROMETHEUS_BIN} is missing: run `scripts/install-deps.sh test` "
                        "(Debian package prometheus)")
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = os.path.join(workdir, "prometheus.log")
        config_path = os.path.join(workdir, "prometheus.yml")
        with open(config_path, "w") as f:
            f.write(
                "global:\n"
                "  scrape_interval: 1s\n"
                "  scrape_timeout: 1s\n"
                "scrape_configs:\n"
                f"  - job_name: {JOB}\n"
                f"    metrics_path: {metrics_path}\n"
                "    static_configs:\n"
                f"      - targets: ['{target}']\n"
            )
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS_BIN, f"--config.file={config_path}",
             f"--storage.tsdb.path={os.path.join(workdir, 'tsdb')}",
             f"--web.listen-address={HOST}:{self.port}"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-8000:]

    def wait_ready(self):
        deadline = time.monotonic() + PROMETHEUS_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"prometheus exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        pytest.fail(f"prometheus not ready within {PROMETHEUS_READY_TIMEOUT_S}s:\n{self.log()}")

    def query(self, expression):
        """The instant vector of `expression` as {labels: value}."""
        r = requests.get(self.url + "/api/v1/query", params={"query": expression}, timeout=5)
        r.raise_for_status()
        body = r.json()
        assert body["status"] == "success", body
        assert body["data"]["resultType"] == "vector", body
        return {tuple(sorted(s["metric"].items())): float(s["value"][1])
                for s in body["data"]["result"]}

    def wait_for_scalar(self, expression, expected, deadline):
        """Polls until the one-sample vector of `expression` equals
        `expected`, until the monotonic `deadline`."""
        seen = None
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"prometheus exited with {self.proc.returncode}:\n{self.log()}")
            seen = self.query(expression)
            if list(seen.values()) == [expected]:
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        targets = requests.get(self.url + "/api/v1/targets", timeout=5).text
        pytest.fail(f"{expression} = {seen}, expected {expected}\ntargets: {targets}\n"
                    f"prometheus log:\n{self.log()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=PROMETHEUS_EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture
def prometheus(tmp_path):
    """Factory: prometheus(target, metrics_path) -> a ready Prometheus; each
    one is stopped by its PID on teardown."""
    started = []

    def start(target, metrics_path):
        server = Prometheus(str(tmp_path), target, metrics_path)
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


def test_prometheus_scrapes_event_counts(raccoon, prometheus):
    metrics_port = free_port()
    server = raccoon.start(event_ack=1, env={
        "METRIC_PROMETHEUS_ENABLED": "true",
        "METRIC_PROMETHEUS_PORT": metrics_port,
        "SERVER_WEBSOCKET_CONN_GROUP_HEADER": GROUP_HEADER,
    })
    metrics_url = f"http://{HOST}:{metrics_port}"

    scrape = requests.get(metrics_url + "/metrics", timeout=5)
    assert scrape.status_code == 200, scrape.text[:500]
    assert scrape.headers.get("Content-Type") == PROMETHEUS_CONTENT_TYPE, scrape.headers
    assert requests.get(metrics_url + "/not-metrics", timeout=5).status_code == 404

    with requests.Session() as session:
        for _ in range(BATCHES):
            guid = str(uuid.uuid4())
            events = make_events(BATCH_SIZE, types=("click", "view"))
            resp = post_events(server.events_url, "proto", proto_request(events, guid),
                               session=session,
                               headers={GROUP_HEADER: GROUP, WS_ID_HEADER: "prom-it-user"})
            # EVENT_ACK=1: every event of the batch was delivered before this ack.
            assert_success(resp, "proto", guid)

    prom = prometheus(f"{HOST}:{metrics_port}", "/metrics")
    deadline = time.monotonic() + QUERY_TIMEOUT_S
    prom.wait_for_scalar(f'sum(events_rx_total{{conn_group="{GROUP}"}})', EVENTS, deadline)
    prom.wait_for_scalar(f'up{{job="{JOB}"}}', 1, deadline)
    prom.wait_for_scalar(
        f'sum(kafka_messages_delivered_total{{success="true",conn_group="{GROUP}"}})',
        EVENTS, deadline)
    by_type = prom.query(f'sum by (event_type) (events_rx_total{{conn_group="{GROUP}"}})')
    assert by_type == {(("event_type", "click"),): EVENTS / 2,
                       (("event_type", "view"),): EVENTS / 2}, by_type
