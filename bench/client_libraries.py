"""make bench's client-library section: what one client of each language
sends, with acks, over each protocol against a fresh server (EVENT_ACK=1)
and the suite's broker, so that a slow client is seen.

Each client has a benchmark command that sends batches for a while with a
window of sends in flight and prints one JSON object (events_per_s,
ack_p50_ms, ack_p99_ms, acked/failed/retried batches):
clients/go/cmd/raccoon-client-bench, clients/python/bench/client_bench.py,
clients/js/bench/client_bench.js and clients/java's ClientBench.
The toolchains come from scripts/clients-setup.sh (its OUT_DIR is
--clients-tools)."""

from __future__ import annotations

import json
import os
import subprocess
import time

from bench_common import HOST, free_port, stop_process

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PROTOCOLS = ("websocket", "grpc", "rest")
BATCH = 10
EVENT_SIZE = 100
WINDOW = 64
EVENT_TYPE = "clientbench"  # the benchmark commands' one event type


def commands(tools, work):
    """{client: (build step or None, run(protocol, target, seconds) -> argv)}."""
    go_bin = os.path.join(work, "raccoon-client-bench")
    go = os.path.join(tools, "go-bin", "go")
    python = os.path.join(tools, "python-venv", "bin", "python")
    common = ["--batch", str(BATCH), "--event-size", str(EVENT_SIZE), "--window", str(WINDOW)]
    java_dir = os.path.join(ROOT, "clients", "java")
    java_classpath = os.path.join(work, "java-classpath.txt")
    return {
        "Go": (
            [go, "build", "-o", go_bin, "./cmd/raccoon-client-bench"],
            os.path.join(ROOT, "clients", "go"),
            lambda protocol, target, seconds: [go_bin, "-protocol", protocol, "-target", target,
                                               "-duration", f"{seconds}s", "-batch", str(BATCH),
                                               "-event-size", str(EVENT_SIZE), "-window", str(WINDOW)],
        ),
        "Python": (
            None,
            None,
            lambda protocol, target, seconds: [python, os.path.join(ROOT, "clients", "python", "bench",
                                                                    "client_bench.py"),
                                               "--protocol", protocol, "--target", target,
                                               "--duration", str(seconds), *common],
        ),
        # clients/js's npm packages come from scripts/install-deps.sh js.
        "JavaScript": (
            None,
            None,
            lambda protocol, target, seconds: ["node", os.path.join(ROOT, "clients", "js", "bench",
                                                                    "client_bench.js"),
                                               "--protocol", protocol, "--target", target,
                                               "--duration", str(seconds), *common],
        ),
        # Compiled by Maven, run on the classpath Maven writes.
        "Java": (
            ["mvn", "-B", "-q", "test-compile", "dependency:build-classpath",
             f"-Dmdep.outputFile={java_classpath}"],
            os.path.join(ROOT, "clients", "java"),
            lambda protocol, target, seconds: [
                "bash", "-c", f'exec java -cp "{java_dir}/target/classes:{java_dir}/target/test-classes:'
                f'$(cat {java_classpath})" io.raccoon.client.ClientBench "$@"', "client-bench-java",
                "--protocol", protocol, "--target", target, "--duration", str(seconds), *common],
        ),
    }


def run(bench, tools, log):
    """Runs every client over every protocol; returns the result rows."""
    seconds = 3 if bench.quick else 10
    rows = []
    for client, (build, build_dir, argv) in commands(tools, bench.work).items():
        if build:
            proc = subprocess.run(build, cwd=build_dir, capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                rows.append({"client": client, "protocol": "–", "error": proc.stderr[-500:]})
                continue
        for protocol in PROTOCOLS:
            bench.seq += 1
            pattern = f"bench-{bench.seq:02d}-{int(time.time())}-clients-%s"
            topic = pattern.replace("%s", EVENT_TYPE)
            bench.kafka.create_topic(topic)
            port = free_port()
            grpc_port = free_port(avoid={port})
            name = f"{bench.seq:02d}-client-{client.lower()}-{protocol}"
            server = bench.start_server(bench.server_env(1, pattern, port, grpc_port), name)
            target = {"websocket": f"ws://{HOST}:{port}/api/v1/events",
                      "rest": f"http://{HOST}:{port}/api/v1/events",
                      "grpc": f"{HOST}:{grpc_port}"}[protocol]
            cmd = bench.taskset(bench.loadgen_core) + argv(protocol, target, seconds)
            log(f"client {client} over {protocol}: {' '.join(cmd)}")
            row = {"client": client, "protocol": protocol, "seconds": seconds}
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
                with open(os.path.join(bench.work, f"{name}.log"), "w") as f:
                    f.write(proc.stdout + proc.stderr)
                lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
                if lines:
                    row.update(json.loads(lines[-1]))
                    row["client"] = client
                if proc.returncode != 0:
                    row["error"] = (proc.stderr or proc.stdout)[-500:]
            except subprocess.TimeoutExpired:
                row["error"] = "timed out"
            finally:
                row["server_exit"] = stop_process(server)
                bench.kafka.delete_topic(topic)
            rows.append(row)
    return rows


def report(rows):
    """The section's Markdown lines."""
    out = ["### 7. Client libraries: one client, acked\n",
           f"One client (one WebSocket connection, one gRPC channel, or REST's own pool) "
           f"sends batches of {BATCH} events of {EVENT_SIZE} bytes, protobuf, with {WINDOW} "
           "sends in flight, to a fresh server with EVENT_ACK=1; a batch counts when its ack "
           "came back (`bench/client_libraries.py`; the commands are "
           "`clients/go/cmd/raccoon-client-bench`, `clients/python/bench/client_bench.py`, "
           "`clients/js/bench/client_bench.js` and `clients/java`'s `ClientBench`). "
           "The client is pinned like the load generator.\n",
           "| client | protocol | events/s | ack p50 | ack p99 | acked batches | failed | retried |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "events_per_s" not in r:
            out.append(f"| {r['client']} | {r['protocol']} | failed: "
                       f"{r.get('error', '?').strip().splitlines()[-1] if r.get('error') else '?'} "
                       "| | | | | |")
            continue
        out.append(f"| {r['client']} | {r['protocol']} | {r['events_per_s']:,.0f} "
                   f"| {r['ack_p50_ms']:.1f} ms | {r['ack_p99_ms']:.1f} ms "
                   f"| {r['acked_batches']:,} | {r['failed_batches']:,} "
                   f"| {r.get('retried_batches', 0):,} |")
    out.append("")
    return out
