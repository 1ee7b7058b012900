#!/usr/bin/python3
"""Server memory under a flood of tiny events (issue 18, item 3).

Against a real local Kafka, for each setting of SERVER_MAX_EVENTS_PER_REQUEST
asked for (`--max-events`, "default" for the built-in 10,000): a fresh raccoon
(EVENT_ACK=1), then
  - a well-behaved client: raccoon-loadgen over WebSocket, open loop, 10
    connections sending 200 requests/s of 10 events of 200 bytes in all, for
    the whole run;
  - after a few seconds, the flood: `--clients` (20) REST connections at once,
    each sending `--requests` (1) bodies of 4 MiB, each body as many events
    of 5 bytes on the wire (type "t", no payload) as fit: 838,857;
  - the server's VmRSS every 0.1 s, its VmHWM (peak) at the end, and its
    VmRSS `--settle` seconds after the flood's last answer (jemalloc's
    background thread returns freed pages within its decay time);
  - the well-behaved client's ack latency (p50/p99/max) over the run, and
    every flood request's answer and time.
Prints one JSON document (also to `--json-out`) and a short table.

Nothing here is a timing benchmark: it measures memory, and a latency only
to show whether a well-behaved client is still served during the flood.
Loopback only; every wait is bounded; only the processes started here are
stopped, by their PID; the broker is stopped on the way out.

  /usr/bin/python3 bench/memory_load.py --raccoon build/src/raccoon \\
      --loadgen build/bench/raccoon-loadgen [--max-events default,1000000] \\
      [--setting WORKER_BUFFER_MAX_BYTES=268435456] [--json-out FILE]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from confluent_kafka import Consumer, TopicPartition

from bench_common import HOST, free_port, server_environment, stop_process
import run_benchmarks

MAX_REQUEST_BYTES = 4 * 1024 * 1024
TINY_EVENT = b"\x1a\x03\x12\x01t"  # field 3 (an Event) of 3 bytes: field 2 (type) = "t"
PATTERN = "memload-%s"
TOPICS = ("memload-t", "memload-type-0")
GOOD_CONNECTIONS = 10
GOOD_RATE = 200
FLOOD_DELAY_S = 5
REQUEST_TIMEOUT_S = 600


def log(message):
    print(f"[memory_load] {message}", file=sys.stderr, flush=True)


def proc_status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def flood_body(guid):
    head = b"\x0a" + varint(len(guid)) + guid.encode()
    count = (MAX_REQUEST_BYTES - len(head)) // len(TINY_EVENT)
    return head + TINY_EVENT * count, count


def read_response(sock):
    """The status code of one HTTP/1.1 response with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status


def flood_client(port, index, requests, results):
    try:
        with socket.create_connection((HOST, port), timeout=REQUEST_TIMEOUT_S) as sock:
            for r in range(requests):
                body, count = flood_body(f"flood-{index}-{r}")
                head = (f"POST /api/v1/events HTTP/1.1\r\nHost: {HOST}\r\n"
                        f"Content-Type: application/proto\r\nX-User-ID: flood-{index}\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n").encode()
                started = time.monotonic()
                sock.sendall(head + body)
                status = read_response(sock)
                results.append({"client": index, "request": r, "events": count,
                                "status": status, "seconds": time.monotonic() - started})
    except OSError as e:
        results.append({"client": index, "error": str(e)})


class Sampler(threading.Thread):
    """The server's VmRSS every 0.1 s, in KiB."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.samples = []
        self.stopping = threading.Event()

    def run(self):
        started = time.monotonic()
        while not self.stopping.wait(0.1):
            try:
                self.samples.append((time.monotonic() - started,
                                     proc_status_kib(self.pid, "VmRSS")))
            except OSError:
                return


def message_count(kafka, topic, timeout=20):
    """The events in `topic`: the sum of its partitions' high watermarks."""
    consumer = Consumer({"bootstrap.servers": kafka.address, "group.id": "memory-load-counter",
                         "enable.auto.commit": False})
    try:
        return sum(
            high - low
            for low, high in (consumer.get_watermark_offsets(TopicPartition(topic, p),
                                                             timeout=timeout)
                              for p in range(run_benchmarks.PARTITIONS)))
    finally:
        consumer.close()


def start_server(args, kafka, work, name, extra):
    port = free_port()
    grpc_port = free_port(avoid={port})
    env = server_environment({
        "SERVER_WEBSOCKET_PORT": port,
        "SERVER_GRPC_PORT": grpc_port,
        "SERVER_BIND_ADDRESS": HOST,
        "PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS": kafka.address,
        "EVENT_DISTRIBUTION_PUBLISHER_PATTERN": PATTERN,
        "EVENT_ACK": 1,
        "LOG_LEVEL": "warn",
        **extra,
    })
    stderr = open(os.path.join(work, f"{name}.server.log"), "wb")
    proc = subprocess.Popen([args.raccoon, "server"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=stderr)
    stderr.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"raccoon exited with {proc.returncode}; see {name}.server.log")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/ping", timeout=1) as r:
                if r.status == 200:
                    return proc, port
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    proc.wait(timeout=10)
    raise RuntimeError("raccoon did not answer /ping within 20 s")


def one_run(args, kafka, work, max_events):
    name = f"max-events-{max_events}"
    extra = dict(s.split("=", 1) for s in args.setting)
    if max_events != "default":
        extra["SERVER_MAX_EVENTS_PER_REQUEST"] = max_events
    counted_before = sum(message_count(kafka, t) for t in TOPICS)
    server, port = start_server(args, kafka, work, name, extra)
    try:
        time.sleep(1)
        idle_kib = proc_status_kib(server.pid, "VmRSS")
        sampler = Sampler(server.pid)
        sampler.start()
        good_out = os.path.join(work, f"{name}.loadgen.json")
        good = subprocess.Popen(
            [args.loadgen, "--url", f"ws://{HOST}:{port}/api/v1/events",
             "--connections", str(GOOD_CONNECTIONS), "--rate", str(GOOD_RATE),
             "--batch-size", "10", "--event-size", "200", "--event-types", "1",
             "--warmup", "0", "--duration", str(args.good_seconds), "--drain-timeout", "60",
             "--json-out", good_out],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, f"{name}.loadgen.log"), "wb"))
        time.sleep(FLOOD_DELAY_S)
        log(f"{name}: flood of {args.clients} x {args.requests} requests")
        results = []
        flood_started = time.monotonic()
        clients = [threading.Thread(target=flood_client, args=(port, i, args.requests, results))
                   for i in range(args.clients)]
        for c in clients:
            c.start()
        for c in clients:
            c.join(timeout=REQUEST_TIMEOUT_S * args.requests)
        flood_seconds = time.monotonic() - flood_started
        log(f"{name}: flood answered in {flood_seconds:.1f} s")
        good.wait(timeout=args.good_seconds + 120)
        peak_kib = proc_status_kib(server.pid, "VmHWM")
        after = {}
        settle_started = time.monotonic()
        for mark in sorted({5, 15, args.settle}):
            time.sleep(max(0.0, settle_started + mark - time.monotonic()))
            after[f"{mark}s"] = proc_status_kib(server.pid, "VmRSS")
        sampler.stopping.set()
        sampler.join(timeout=5)
    finally:
        stop_process(server)
    with open(good_out) as f:
        summary = json.load(f)
    accepted = [r for r in results if r.get("status") == 200]
    delivered = sum(message_count(kafka, t) for t in TOPICS) - counted_before
    return {
        "max_events": max_events,
        "settings": extra,
        "idle_rss_kib": idle_kib,
        "peak_rss_kib": peak_kib,
        "rss_after_kib": after,
        "flood_seconds": round(flood_seconds, 1),
        "flood_answers": sorted({str(r.get("status", r.get("error"))) for r in results}),
        "flood_accepted": len(accepted),
        "flood_events_accepted": sum(r["events"] for r in accepted),
        "flood_slowest_answer_s": round(max((r.get("seconds", 0) for r in results), default=0), 1),
        "good_requests": summary.get("requests", {}),
        "good_connections": summary.get("connections", {}),
        "good_latency_us": summary.get("latency_us", {}),
        "events_delivered": delivered,
        "rss_samples_kib": sampler.samples[::10],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raccoon", required=True)
    parser.add_argument("--loadgen", required=True)
    parser.add_argument("--max-events", default="default,1000000",
                        help="SERVER_MAX_EVENTS_PER_REQUEST values, one run each")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=1, help="bodies per flood client")
    parser.add_argument("--good-seconds", type=int, default=60,
                        help="how long the well-behaved client sends")
    parser.add_argument("--settle", type=int, default=30,
                        help="RSS read this long after the flood")
    parser.add_argument("--setting", action="append", default=[],
                        help="KEY=VALUE for the server, repeatable")
    parser.add_argument("--json-out")
    args = parser.parse_args()

    runs = []
    with tempfile.TemporaryDirectory(prefix="raccoon-memload-") as work:
        kafka = run_benchmarks.Kafka(os.path.join(work, "kafka"))
        try:
            kafka.start()
            for topic in TOPICS:
                kafka.create_topic(topic)
            for max_events in args.max_events.split(","):
                runs.append(one_run(args, kafka, work, max_events.strip()))
        finally:
            kafka.stop()
    out = {"raccoon": args.raccoon, "clients": args.clients, "requests": args.requests,
           "runs": runs}
    text = json.dumps(out, indent=2)
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(text + "\n")
    print(text)
    marks = " / ".join(f"{m} s" for m in sorted({5, 15, args.settle}))
    print("| SERVER_MAX_EVENTS_PER_REQUEST | flood answers | peak RSS | RSS "
          f"{marks} after | good client p50 / p99 / max | events delivered |", file=sys.stderr)
    for r in runs:
        lat = r["good_latency_us"]
        after = " / ".join(f"{v / 1024:.0f}" for v in r["rss_after_kib"].values())
        print(f"| {r['max_events']} | {','.join(r['flood_answers'])} | "
              f"{r['peak_rss_kib'] / 1024:.0f} MiB | {after} MiB | "
              f"{lat.get('p50', 0) / 1000:.0f} / {lat.get('p99', 0) / 1000:.0f} / "
              f"{lat.get('max', 0) / 1000:.0f} ms | {r['events_delivered']} |", file=sys.stderr)


if __name__ == "__main__":
    main()
