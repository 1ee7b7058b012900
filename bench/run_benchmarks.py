#!/usr/bin/python3
"""The benchmark suite behind `make bench`: the real raccoon binary against a
real local Kafka (and, for one scenario each, the other publishers' local
peers), driven by raccoon-loadgen; writes docs/benchmarks.md and PNG plots
(gnuplot) into docs/benchmarks/.

Scenarios (issue 6), each with batches of 10 events of 200 bytes over 1,000
connections:
  1. WebSocket, EVENT_ACK=1: the maximum sustained events/s (closed loop,
     a window of requests in flight per connection), then open loop at a
     ramp of fractions of it, 50% among them, for the latency
  2. the same with EVENT_ACK=0
  3. REST with keep-alive
  4. gRPC (one channel per connection)
  5. idle WebSockets: server RSS per connection (bench/idle_rss.py)
  6. server CPU per event (user+sys of the raccoon process alone over the
     loadgen's run, divided by the events the broker holds for that run), for
     every run of 1-4, 7 and 8
  7. scenario 1's load to Google's Pub/Sub emulator instead of Kafka
     (scripts/pubsub-emulator.sh), side by side with it in the same run
  8. the same to kinesalite, a local Kinesis API server (scripts/kinesalite.sh)

Each publisher's peer is a Peer: the runner starts, stops, points servers at
and counts through that interface alone, whichever the publisher.

Every run gets a fresh server and topics of its own, so the events in the
broker after the server stopped (the sum of the high watermarks: the
server's delivered count) belong to that run alone. With two cores or more
the server runs on core 0 and the load generator on core 1 (taskset); the
broker is not pinned, and its CPU over each run is reported. Only loopback
addresses are used; every wait is bounded; only processes started here are
stopped, by their PID; the broker is stopped on the way out, also on failure
or SIGINT/SIGTERM.

  /usr/bin/python3 bench/run_benchmarks.py --raccoon build/src/raccoon \\
      --loadgen build/bench/raccoon-loadgen [--quick] [--out docs/benchmarks.md]

A/B of a hot-path change: --compare OLD_BINARY runs scenario 1 at its maximum
(closed loop) with OLD_BINARY and --raccoon side by side, both servers on the
server core at the same time, --rounds times, and prints the ratio of their
server CPU per event; nothing is written to docs/. This machine's speed drifts
by a third within half an hour; side by side, the drift hits both alike (an
A/A comparison agrees within 1%), where runs in turn differ by 15%.

BENCH_QUICK=1 in the environment is the same as --quick (a few minutes).
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench_common import HOST, free_port, server_environment, stop_process
import client_libraries

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KAFKA_SCRIPT = os.path.join(ROOT, "scripts", "kafka.sh")
PUBSUB_SCRIPT = os.path.join(ROOT, "scripts", "pubsub-emulator.sh")
PUBSUB_PROJECT = "raccoon-bench"
KINESALITE_SCRIPT = os.path.join(ROOT, "scripts", "kinesalite.sh")
KINESIS_REGION = "us-east-1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

CONNECTIONS = 1000
BATCH = 10
EVENT_SIZE = 200
EVENT_TYPE = "type-0"  # loadgen's one type with --event-types 1
PARTITIONS = 4
SOURCES = "127.0.0.1-127.0.0.4"
# Closed loop: requests in flight per connection when looking for the maximum.
MAX_WINDOW = 4
# The broker's JVM as Kafka's own kafka-server-start.sh sets it (1 GB heap,
# G1 aiming at 20 ms pauses), not the tests' small serial one: with that one
# the broker paused 10-30 ms every 1.5 s at 144k events/s, and those pauses
# were the acks' p99.
BROKER_JVM_OPTS = ("-Xms1g -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 "
                   "-XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent "
                   "-XX:MaxInlineLevel=15")
# A deleted topic's files go this long after the deletion (Kafka's default is a
# minute), and the suite waits for them: removing the maximum run's gigabytes
# had fallen inside a later 50% run and coincided with its worst stretch of
# slow acks. The broker's first pass at removing files comes after the initial
# task delay (30 s by default), which a short suite's first deletion would wait
# out.
BROKER_PROPERTIES = ("log.segment.delete.delay.ms=1000", "log.initial.task.delay.ms=1000")

# Unreported runs at the maximum before the suite, about a minute in all.
BROKER_WARMUP_RUNS = 3
# Scenario 1 at 50% of its maximum, where the ack p99 target is: one run's p99
# is the host's phase as much as ours (3 to 184 ms at one rate, same binaries,
# minutes apart), so the target's figure is the median of this many runs, each
# shown.
HALF_LOAD_REPEATS = 3


class Interrupted(Exception):
    pass


def on_signal(number, _frame):
    raise Interrupted(f"signal {number}")


def log(message):
    print(f"[bench] {message}", flush=True)


def stat_fields(pid):
    """/proc/PID/stat's fields from the third on (stat(5)): the command name
    before them may hold spaces and parentheses."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid):
    """utime + stime of a whole process (every thread): stat(5) fields 14 and 15."""
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_cpu_seconds():
    """CPU seconds of all cores since boot, (busy, stolen): see
    cpu_seconds_from_stat."""
    with open("/proc/stat") as f:
        return cpu_seconds_from_stat(f.readline())


def cpu_seconds_from_stat(line):
    """From /proc/stat's "cpu" line: (busy, stolen) seconds. Busy is time the
    cores ran anything here (not idle, not waiting for I/O); stolen is time
    this virtual machine had work to run while the hypervisor ran another
    (steal): it slows every process here alike, and on this host it comes and
    goes (0.1% of a run, then a third)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, line.split()[1:9])
    return (user + nice + system + irq + softirq) / CLOCK_TICKS, steal / CLOCK_TICKS


def uptime_seconds():
    """Seconds since boot, the clock of /proc/PID/stat's start times."""
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def process_start_uptime(pid):
    """When the process started, in seconds since boot (stat(5) field 22)."""
    return int(stat_fields(pid)[19]) / CLOCK_TICKS


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def wait_with_rusage(proc, timeout):
    """Waits for `proc` like Popen.wait, and returns its own CPU seconds."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            proc.kill()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        time.sleep(0.05)


def machine():
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, timeout=10).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=10).stdout.strip()
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    load = os.getloadavg()
    return {
        "nproc": os.cpu_count(),
        "usable_cores": sorted(os.sched_getaffinity(0)),
        "model": model,
        "kernel": platform.release(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + (" (with local changes)" if dirty else ""),
        "loadavg_at_start": [round(x, 2) for x in load],
    }


class Peer:
    """A publisher's peer on this machine, started by its script in scripts/
    (`start DIR` prints the peer's address last and writes its PID into DIR;
    `stop DIR` stops it by that PID). The runner knows a peer only by this
    interface: start and stop, the settings that point a server at it, the
    PID whose CPU is the report's broker column, and how a run's delivered
    events are counted."""

    publisher = None  # PUBLISHER_TYPE
    publisher_name = None  # the publisher in the report
    peer_name = None  # the peer in the report and the log
    script = None
    pid_file = None
    start_timeout = 120
    stop_timeout = 60

    def __init__(self, directory):
        self.directory = directory
        self.address = None
        self.pid = None

    def start(self):
        out = subprocess.run([self.script, "start", self.directory], capture_output=True,
                             text=True, timeout=self.start_timeout,
                             env=self.script_environment())
        if out.returncode != 0:
            raise RuntimeError(f"{os.path.basename(self.script)} start failed: "
                               f"{out.stderr.strip()}")
        self.address = out.stdout.strip().splitlines()[-1]
        with open(os.path.join(self.directory, self.pid_file)) as f:
            self.pid = int(f.read().strip())
        log(f"{self.peer_name} pid {self.pid} on {self.address}")

    def stop(self):
        subprocess.run([self.script, "stop", self.directory], timeout=self.stop_timeout)

    def script_environment(self):
        """The start script's environment; None: the suite's own."""
        return None

    def server_settings(self, metrics_port):
        """The settings that make a server publish to this peer. metrics_port
        is free for the server's Prometheus endpoint, for a peer that counts
        delivered events there."""
        raise NotImplementedError

    def prepare_destination(self, topic):
        """Before a run's server starts: the topic it publishes to, for a
        peer whose topics the server does not make itself."""

    def server_stopping(self, run):
        """The run's load is over and its server still up: the last moment
        the server's own metrics can be read."""

    def delivered(self, run):
        """After the run's server stopped (its flush included): how many of
        its events the peer accepted."""
        raise NotImplementedError

    def pauses(self, since, until):
        """The peer's stop-the-world pauses (ms) between two readings of
        uptime_seconds(), for a peer that logs them."""
        return []

    def conditions(self):
        """The report's line on this peer and how the server used it."""
        raise NotImplementedError

    # What the report's delivered count is for this peer.
    delivered_note = None


class CountedByServer(Peer):
    """A peer the suite does not ask for a run's events: delivered is the
    server's own counter of the events the peer accepted, read before the
    server stops."""

    delivered_metric = None

    def metrics_settings(self, metrics_port):
        return {"METRIC_PROMETHEUS_ENABLED": "true", "METRIC_PROMETHEUS_PORT": metrics_port}

    def server_stopping(self, run):
        run["delivered"] = server_counter(run["metrics_port"], self.delivered_metric)

    def delivered(self, run):
        return run["delivered"]


def counter_total(metrics_text, name):
    """The sum of a counter's series (every label set) in Prometheus' text format."""
    total = 0.0
    for line in metrics_text.splitlines():
        series, _, value = line.rpartition(" ")
        if series == name or series.startswith(name + "{"):
            total += float(value)
    return int(total)


def server_counter(metrics_port, name):
    with urllib.request.urlopen(f"http://{HOST}:{metrics_port}/metrics", timeout=10) as r:
        return counter_total(r.read().decode(), name)


class Kafka(Peer):
    publisher = "kafka"
    publisher_name = "Kafka"
    peer_name = "Kafka's broker"
    script = KAFKA_SCRIPT
    pid_file = "kafka.pid"
    delivered_note = ("the events in the run's topic after the server stopped (the sum of its "
                      "partitions' high watermarks)")
    start_timeout = 300
    stop_timeout = 120

    def script_environment(self):
        # The collector's pauses, logged with the JVM's uptime, so that each
        # run can say which of them fell inside it.
        self.gc_log = os.path.join(self.directory, "gc.log")
        return dict(os.environ,
                    KAFKA_BROKER_JVM_OPTS=f"{BROKER_JVM_OPTS} -Xlog:gc:file={self.gc_log}:uptime",
                    KAFKA_BROKER_PROPERTIES="\n".join(BROKER_PROPERTIES))

    def start(self):
        super().start()
        self.admin = AdminClient({"bootstrap.servers": self.address})
        self.started_uptime = process_start_uptime(self.pid)

    def stop(self):
        # The admin client would log the broker's going away.
        self.admin = None
        super().stop()
        # A suite leaves gigabytes of events in the broker's log dirs.
        shutil.rmtree(self.directory, ignore_errors=True)

    def server_settings(self, metrics_port):
        return {"PUBLISHER_TYPE": self.publisher,
                "PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS": self.address}

    def prepare_destination(self, topic):
        self.create_topic(topic)

    def delivered(self, run):
        # After the server's flush: what the broker holds is what it delivered.
        count = self.message_count(run["topic"])
        self.delete_topic(run["topic"])
        return count

    def pauses(self, since, until):
        return self.gc_pauses(since, until)

    def conditions(self):
        with open(os.path.join(ROOT, "scripts", "kafka", "pom.xml")) as f:
            version = f.read().split("<kafka.version>", 1)[1].split("<", 1)[0]
        return (f"Kafka {version}, single node (KRaft) from `scripts/kafka.sh`, on the "
                f"same machine; each run's topic has {PARTITIONS} partitions; the server's "
                "producer settings are its defaults (`linger.ms` 1, librdkafka's 5 being what "
                "upstream ships); the broker's JVM as Kafka's start script sets it: "
                f"`{BROKER_JVM_OPTS}`; `{'`, `'.join(BROKER_PROPERTIES)}`, and each run's topic "
                "is deleted and its files gone before the next run starts")

    def gc_pauses(self, since, until):
        """The broker's stop-the-world pauses (ms) that ended between two
        readings of uptime_seconds(). The JVM's uptime starts a little after
        its process, so a pause can be placed up to about 0.1 s early."""
        pauses = []
        with open(self.gc_log, errors="replace") as f:
            for line in f:
                m = re.match(r"\[([0-9.]+)s\].* Pause .* ([0-9.]+)ms$", line.strip())
                if m and since <= self.started_uptime + float(m.group(1)) <= until:
                    pauses.append(float(m.group(2)))
        return pauses

    def delete_topic(self, topic, timeout=30):
        """Frees a counted run's events on disk, so a suite needs room for one
        run, not all, and returns once the files are gone: the broker removes
        them in the background, which is work no later run should carry."""
        for future in self.admin.delete_topics([topic], operation_timeout=timeout).values():
            future.result(timeout=timeout)
        self.wait_until_files_gone(topic, timeout)

    def topic_dirs(self, topic):
        """The topic's partition directories in the broker's log dir (kafka.sh's
        log.dirs), as they were or renamed for deletion."""
        partition_dir = re.compile(rf"{re.escape(topic)}-[0-9]+(\..*-delete)?")
        return sorted(d for d in os.listdir(os.path.join(self.directory, "data"))
                      if partition_dir.fullmatch(d))

    def wait_until_files_gone(self, topic, timeout):
        deadline = time.monotonic() + timeout
        while self.topic_dirs(topic):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the broker kept topic {topic}'s files {timeout}s after "
                                   "deleting it")
            time.sleep(0.2)

    def create_topic(self, topic, timeout=30):
        futures = self.admin.create_topics(
            [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)],
            operation_timeout=timeout, request_timeout=timeout)
        for future in futures.values():
            try:
                future.result(timeout=timeout)
            except KafkaException as e:
                if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
        # Wait until the leader of every partition is known to a client.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            t = self.admin.list_topics(topic, timeout=5).topics.get(topic)
            if t and t.error is None and len(t.partitions) == PARTITIONS and all(
                    p.leader >= 0 for p in t.partitions.values()):
                return
            time.sleep(0.2)
        raise RuntimeError(f"topic {topic} has no leaders after {timeout}s")

    def message_count(self, topic, timeout=20):
        consumer = Consumer({"bootstrap.servers": self.address, "group.id": "bench-counter",
                             "enable.auto.commit": False})
        try:
            total = 0
            for p in range(PARTITIONS):
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p),
                                                           timeout=timeout)
                total += high - low
            return total
        finally:
            consumer.close()


class PubsubEmulator(CountedByServer):
    """Google's Pub/Sub emulator. Topics are made by the server (autocreate);
    with no subscription, the emulator keeps no message."""

    publisher = "pubsub"
    publisher_name = "Pub/Sub"
    peer_name = "the Pub/Sub emulator"
    script = PUBSUB_SCRIPT
    pid_file = "emulator.pid"
    delivered_metric = "pubsub_messages_delivered_total"
    delivered_note = ("the server's `pubsub_messages_delivered_total` before it stopped, events "
                      "whose Publish the emulator answered with message IDs (with no "
                      "subscription, the emulator keeps no message to count)")

    def server_settings(self, metrics_port):
        return {"PUBLISHER_TYPE": self.publisher, "PUBLISHER_PUBSUB_PROJECT_ID": PUBSUB_PROJECT,
                "PUBSUB_EMULATOR_HOST": self.address,
                "PUBLISHER_PUBSUB_TOPIC_AUTOCREATE": "true",
                **self.metrics_settings(metrics_port)}

    def conditions(self):
        return ("Google's Pub/Sub emulator from `scripts/pubsub-emulator.sh` (its JVM as the "
                "script sets it), on the same machine, not pinned; the server makes each run's "
                "topic (`PUBLISHER_PUBSUB_TOPIC_AUTOCREATE=true`)")


class Kinesalite(CountedByServer):
    """kinesalite, a Kinesis Data Streams API server in Node keeping its
    streams in LevelDB. Streams are made by the server (autocreate) in
    PROVISIONED mode: kinesalite refuses ON_DEMAND."""

    publisher = "kinesis"
    publisher_name = "Kinesis"
    peer_name = "kinesalite"
    script = KINESALITE_SCRIPT
    pid_file = "kinesalite.pid"
    # A first start installs kinesalite from npm into the cache.
    start_timeout = 300
    delivered_metric = "kinesis_messages_delivered_total"
    delivered_note = ("the server's `kinesis_messages_delivered_total` before it stopped, records "
                      "kinesalite's PutRecords accepted")

    def stop(self):
        super().stop()
        # The streams' records, kept on disk.
        shutil.rmtree(os.path.join(self.directory, "data"), ignore_errors=True)

    def server_settings(self, metrics_port):
        return {"PUBLISHER_TYPE": self.publisher,
                "AWS_ENDPOINT_URL_KINESIS": f"http://{self.address}",
                "PUBLISHER_KINESIS_AWS_REGION": KINESIS_REGION,
                # kinesalite checks that requests are signed, not by whom; the
                # caller's own AWS identity is not for it.
                "AWS_ACCESS_KEY_ID": "raccoon-bench", "AWS_SECRET_ACCESS_KEY": "raccoon-bench",
                "AWS_SESSION_TOKEN": None, "AWS_PROFILE": None,
                "PUBLISHER_KINESIS_CREDENTIALS": None,
                "PUBLISHER_KINESIS_STREAM_AUTOCREATE": "true",
                "PUBLISHER_KINESIS_STREAM_MODE": "PROVISIONED",
                "PUBLISHER_KINESIS_STREAM_SHARDS": PARTITIONS,
                # The new stream is ACTIVE within kinesalite's 50 ms: looking
                # every 100 ms, not every second, keeps that wait inside the
                # warm-up.
                "PUBLISHER_KINESIS_STREAM_PROBE_INTERVAL_MS": 100,
                **self.metrics_settings(metrics_port)}

    def conditions(self):
        with open(os.path.join(ROOT, "scripts", "kinesalite", "package.json")) as f:
            version = json.load(f)["dependencies"]["kinesalite"]
        return (f"kinesalite {version} (Node, its streams in LevelDB on local disk) from "
                "`scripts/kinesalite.sh`, on the same machine, not pinned; the server makes "
                "each run's stream (`PUBLISHER_KINESIS_STREAM_AUTOCREATE=true`) in PROVISIONED "
                f"mode with {PARTITIONS} shards (kinesalite refuses ON_DEMAND); the server's "
                "other Kinesis settings are its defaults")


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.cores = sorted(os.sched_getaffinity(0))
        self.pinned = len(self.cores) >= 2
        self.server_core = self.cores[0] if self.pinned else None
        self.loadgen_core = self.cores[1] if self.pinned else None
        self.warmup = 2 if self.quick else 5
        self.duration = 5 if self.quick else 15
        self.half_load_repeats = 1 if self.quick else HALF_LOAD_REPEATS
        self.work = tempfile.mkdtemp(prefix="raccoon-bench.")
        # The binary under test; --compare switches it between runs.
        self.raccoon = args.raccoon
        # Each publisher's peer by its PUBLISHER_TYPE; Kafka's runs the whole
        # suite, the others only their own scenario.
        self.peers = {publisher: peer(os.path.join(self.work, publisher))
                      for publisher, peer in PEERS.items()}
        self.kafka = self.peers["kafka"]
        self.runs = []
        self.seq = 0
        self.idle_levels = [2000, 5000] if self.quick else [5000, 10000, 20000]

    def taskset(self, core):
        return ["taskset", "-c", str(core)] if core is not None else []

    def server_env(self, event_ack, topic_pattern, port, grpc_port, publisher="kafka"):
        metrics_port = free_port(avoid={port, grpc_port})
        env = server_environment({
            "SERVER_WEBSOCKET_PORT": port,
            "SERVER_GRPC_PORT": grpc_port,
            "SERVER_BIND_ADDRESS": HOST,
            "SERVER_WEBSOCKET_MAX_CONN": CONNECTIONS * 2,
            "EVENT_DISTRIBUTION_PUBLISHER_PATTERN": topic_pattern,
            "EVENT_ACK": event_ack,
            "LOG_LEVEL": "warn",
            **self.peers[publisher].server_settings(metrics_port),
        })
        if self.pinned:
            # One core: one io thread, no handoffs between two that take turns.
            env["SERVER_IO_THREADS"] = "1"
        return env

    def start_server(self, env, name):
        stderr = open(os.path.join(self.work, f"{name}.server.log"), "wb")
        proc = subprocess.Popen(self.taskset(self.server_core) + [self.raccoon, "server"],
                                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=stderr)
        stderr.close()
        url = f"http://{HOST}:{env['SERVER_WEBSOCKET_PORT']}/ping"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"raccoon exited with {proc.returncode}; see {name}.server.log")
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return proc
            except OSError:
                pass
            time.sleep(0.1)
        proc.kill()
        proc.wait(timeout=10)
        raise RuntimeError("raccoon did not answer /ping within 20 s")

    def prepare(self, scenario, label, transport, event_ack, plan, fraction=None,
                publisher="kafka"):
        """A topic of its own and a fresh server for one loadgen run, and the
        loadgen's command; `plan` is ["--window", W] or ["--rate", R], the
        latter `fraction` of the scenario's maximum."""
        self.seq += 1
        name = f"{self.seq:02d}-{scenario}-{label}".replace(" ", "_").replace("%", "pct")
        pattern = f"bench-{self.seq:02d}-{int(time.time())}-%s"
        topic = pattern.replace("%s", EVENT_TYPE)
        self.peers[publisher].prepare_destination(topic)
        port = free_port()
        grpc_port = free_port(avoid={port})
        env = self.server_env(event_ack, pattern, port, grpc_port, publisher)
        server = self.start_server(env, name)
        url = {"websocket": f"ws://{HOST}:{port}/api/v1/events",
               "rest": f"http://{HOST}:{port}/api/v1/events",
               "grpc": f"grpc://{HOST}:{grpc_port}"}[transport]
        out = os.path.join(self.work, f"{name}.json")
        cmd = self.taskset(self.loadgen_core) + [
            self.args.loadgen, "--url", url, "--connections", CONNECTIONS,
            "--batch-size", BATCH, "--event-size", EVENT_SIZE, "--warmup", self.warmup,
            "--duration", self.duration, "--drain-timeout", 10, "--connect-timeout", 30,
            "--json-out", out, *plan]
        if transport != "grpc":
            cmd += ["--source-addresses", SOURCES]
        cmd = [str(c) for c in cmd]
        log(f"{name}: {' '.join(cmd[cmd.index(self.args.loadgen):])}")
        return {"name": name, "topic": topic, "server": server, "cmd": cmd, "out": out,
                "scenario": scenario, "label": label, "transport": transport,
                "event_ack": event_ack, "plan": plan, "fraction": fraction,
                "publisher": publisher, "metrics_port": env.get("METRIC_PROMETHEUS_PORT")}

    def measure(self, prepared):
        """Runs the prepared loadgens at once and waits for them; returns the
        results, in order. Each server is stopped, so its flush is counted."""
        servers = [p["server"] for p in prepared]
        peer = self.peers[prepared[0]["publisher"]]
        try:
            server_cpu0 = [cpu_seconds(s.pid) for s in servers]
            broker_cpu0 = cpu_seconds(peer.pid)
            machine_cpu0 = machine_cpu_seconds()
            started_uptime = uptime_seconds()
            started = time.monotonic()
            loadgens = []
            for p in prepared:
                with open(os.path.join(self.work, f"{p['name']}.loadgen.log"), "wb") as lg_log:
                    loadgens.append(subprocess.Popen(p["cmd"], stdin=subprocess.DEVNULL,
                                                     stdout=lg_log, stderr=subprocess.STDOUT))
            try:
                timeout = self.warmup + self.duration + 10 + 30 + 120
                loadgen_cpu = [wait_with_rusage(lg, timeout) for lg in loadgens]
            except Interrupted:
                for lg in loadgens:
                    lg.terminate()
                    lg.wait(timeout=60)
                raise
            wall = time.monotonic() - started
            server_cpu = [cpu_seconds(s.pid) - c0 for s, c0 in zip(servers, server_cpu0)]
            broker_cpu = cpu_seconds(peer.pid) - broker_cpu0
            machine_cpu = [b - a for a, b in zip(machine_cpu0, machine_cpu_seconds())]
            gc_pauses = peer.pauses(started_uptime, uptime_seconds())
            server_hwm = [vm_hwm_kib(s.pid) for s in servers]
            for p in prepared:
                peer.server_stopping(p)
        finally:
            server_exit = [stop_process(s) for s in servers]
        return [self.result(p, wall, server_cpu[i], broker_cpu, machine_cpu, loadgen_cpu[i],
                            gc_pauses, server_hwm[i], server_exit[i], loadgens[i].returncode)
                for i, p in enumerate(prepared)]

    def result(self, prepared, wall, server_cpu, broker_cpu, machine_cpu, loadgen_cpu,
               gc_pauses, server_hwm, server_exit, loadgen_exit):
        machine_busy, machine_stolen = machine_cpu
        plan = prepared["plan"]
        delivered = self.peers[prepared["publisher"]].delivered(prepared)
        summary = {}
        if os.path.exists(prepared["out"]):
            with open(prepared["out"]) as f:
                summary = json.load(f)
        measured = summary.get("measured", {})
        lat = summary.get("latency_us", {})
        errors = dict(summary.get("errors_by_code", {}))
        errors.update({f"transport: {k}": v for k, v in summary.get("transport_errors",
                                                                     {}).items()})
        req = summary.get("requests", {})
        if req.get("unacked"):
            errors["unacked"] = req["unacked"]
        conns = summary.get("connections", {})
        if conns.get("failed") or conns.get("lost"):
            errors["connections failed/lost"] = f"{conns.get('failed')}/{conns.get('lost')}"
        acked_events = summary.get("events", {}).get("acked_ok", 0)
        result = {
            "scenario": prepared["scenario"], "label": prepared["label"],
            "publisher": prepared["publisher"],
            "transport": prepared["transport"], "event_ack": prepared["event_ack"],
            "plan": plan, "fraction": prepared["fraction"],
            "mode": "closed" if plan[0] == "--window" else "open",
            "offered_requests_per_s": plan[1] if plan[0] == "--rate" else None,
            "events_per_s": measured.get("events_per_s", 0),
            "acks_per_s": measured.get("acks_per_s", 0),
            "latency_us": lat,
            "loadgen_schedule_lag_us": summary.get("schedule_lag_us", {}),
            "events_acked": acked_events,
            "events_delivered": delivered,
            "server_cpu_s": round(server_cpu, 3),
            "server_cpu_us_per_event": server_cpu / delivered * 1e6 if delivered else None,
            "server_cores": server_cpu / wall,
            "broker_cpu_s": round(broker_cpu, 3),
            "broker_cores": broker_cpu / wall,
            "broker_gc_pauses_ms": gc_pauses,
            "loadgen_cpu_s": round(loadgen_cpu, 3),
            "loadgen_cores": loadgen_cpu / wall,
            "machine_busy_cores": machine_busy / wall,
            "stolen_cores": machine_stolen / wall,
            # Whatever else ran meanwhile (e.g. a compile) took this from us.
            "other_cores": max(0.0, (machine_busy - server_cpu - broker_cpu - loadgen_cpu) / wall),
            "wall_s": round(wall, 2),
            "server_vm_hwm_kib": server_hwm,
            "server_exit": server_exit,
            "loadgen_exit": loadgen_exit,
            "errors": errors,
        }
        log(f"{prepared['name']}: {result['events_per_s']:.0f} events/s, "
            f"p99 {lat.get('p99', 0):.0f} us, "
            f"server {result['server_cores']:.2f} cores, broker {result['broker_cores']:.2f}, "
            f"loadgen {result['loadgen_cores']:.2f}, others {result['other_cores']:.2f}, "
            f"stolen {result['stolen_cores']:.2f}; "
            f"broker GC pauses {fmt_pauses(gc_pauses)}; "
            f"{result['server_cpu_us_per_event'] or 0:.2f} us CPU/event; "
            f"delivered {delivered} of {acked_events} acked; exit {loadgen_exit}; "
            f"errors {errors or 'none'}")
        self.runs.append(result)
        return result

    def run(self, scenario, label, transport, event_ack, plan, fraction=None,
            publisher="kafka"):
        """One loadgen run against a fresh server; returns the measurements,
        also kept in self.runs."""
        return self.measure([self.prepare(scenario, label, transport, event_ack, plan,
                                          fraction, publisher)])[0]

    def transport_scenario(self, scenario, transport, event_ack, fractions,
                           half_load_repeats=1, publisher="kafka"):
        peak = self.run(scenario, "max (closed loop)", transport, event_ack,
                        ["--window", MAX_WINDOW], publisher=publisher)
        rate = peak["acks_per_s"]
        if rate <= 0:
            log(f"scenario {scenario}: no throughput, no open-loop runs")
            return
        for fraction in fractions:
            repeats = half_load_repeats if fraction == 0.5 else 1
            label = f"{fraction:.0%} of max (open loop)"
            for k in range(1, repeats + 1):
                self.run(scenario, label + (f", run {k} of {repeats}" if repeats > 1 else ""),
                         transport, event_ack, ["--rate", round(rate * fraction)], fraction,
                         publisher)

    def idle_rss(self):
        levels = ",".join(map(str, self.idle_levels))
        out = os.path.join(self.work, "idle_rss.json")
        cmd = [sys.executable, os.path.join(HERE, "idle_rss.py"), "--raccoon", self.args.raccoon,
               "--loadgen", self.args.loadgen, "--levels", levels, "--json-out", out]
        if self.pinned:
            cmd += ["--io-threads", "1"]
        log(f"scenario 5: {' '.join(cmd)}")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        with open(os.path.join(self.work, "idle_rss.log"), "w") as f:
            f.write(proc.stdout + proc.stderr)
        result = {"exit": proc.returncode, "log_tail": (proc.stdout + proc.stderr)[-3000:]}
        if os.path.exists(out):
            with open(out) as f:
                result.update(json.load(f))
        return result

    def compare(self, baseline, rounds):
        """Scenario 1 at its maximum, baseline and candidate side by side:
        both servers on the server core at once, their load generators on the
        other, so whatever the machine's speed does, it does to both."""
        binaries = {"baseline": baseline, "candidate": self.args.raccoon}
        ratios = []
        print("| round | baseline µs/event | candidate µs/event | candidate / baseline | "
              "events/s baseline, candidate |")
        print("|---|---:|---:|---:|---|")
        for round_number in range(1, rounds + 1):
            prepared = []
            for name, binary in binaries.items():
                self.raccoon = binary
                prepared.append(self.prepare(1, f"{name} round {round_number}", "websocket", 1,
                                             ["--window", MAX_WINDOW]))
            base, cand = self.measure(prepared)
            b, c = base["server_cpu_us_per_event"], cand["server_cpu_us_per_event"]
            if b and c:
                ratios.append(c / b)
                print(f"| {round_number} | {b:.3f} | {c:.3f} | {c / b:.3f} | "
                      f"{base['events_per_s']:,.0f}, {cand['events_per_s']:,.0f} |", flush=True)
        self.raccoon = self.args.raccoon
        if ratios:
            print(f"\ncandidate / baseline, median of {len(ratios)}: "
                  f"**{statistics.median(ratios):.3f}** (range {min(ratios):.3f}-"
                  f"{max(ratios):.3f}); baseline {baseline}, candidate {self.args.raccoon}")

    def warm_up_broker(self):
        """Runs at the maximum that are not reported: a fresh broker JVM spends
        its first minute of load compiling, on CPU the server would have had
        (0.67 cores against 0.25 later, in one suite). One run of 20 s was not
        enough: scenario 1's maximum then found the broker still at 0.38-0.44
        cores, against 0.20 at scenario 2's higher rate right after."""
        for _ in range(BROKER_WARMUP_RUNS):
            self.run(0, "broker warm-up", "websocket", 1, ["--window", MAX_WINDOW])
            self.runs.pop()

    def suite(self):
        ramp = [0.5] if self.quick else [0.25, 0.5, 0.75, 0.9]
        self.warm_up_broker()
        self.transport_scenario(1, "websocket", 1, ramp,
                                half_load_repeats=self.half_load_repeats)
        self.transport_scenario(2, "websocket", 0, [0.5])
        self.transport_scenario(3, "rest", 1, [0.5])
        self.transport_scenario(4, "grpc", 1, [0.5])
        for scenario, publisher in PEER_SCENARIOS.items():
            self.peer_scenario(scenario, publisher)

    def peer_scenario(self, scenario, publisher):
        """Scenario 1's load to another publisher's peer instead of Kafka, in
        the same run: the publishers side by side."""
        peer = self.peers[publisher]
        try:
            # Inside: a start cut short may have left the peer running.
            peer.start()
            self.transport_scenario(scenario, "websocket", 1, [0.5], publisher=publisher)
        finally:
            peer.stop()


PEERS = {peer.publisher: peer for peer in (Kafka, PubsubEmulator, Kinesalite)}
PUBSUB_SCENARIO = 7
KINESIS_SCENARIO = 8
# Scenario 1's load, each to another publisher's peer.
PEER_SCENARIOS = {PUBSUB_SCENARIO: "pubsub", KINESIS_SCENARIO: "kinesis"}
SCENARIO_TITLES = {
    1: "1. WebSocket, 1,000 connections, EVENT_ACK=1",
    2: "2. WebSocket, 1,000 connections, EVENT_ACK=0",
    3: "3. REST with keep-alive, 1,000 connections, EVENT_ACK=1",
    4: "4. gRPC, 1,000 channels, EVENT_ACK=1",
    PUBSUB_SCENARIO: "7. Pub/Sub: WebSocket, 1,000 connections, EVENT_ACK=1, to the emulator",
    KINESIS_SCENARIO: "8. Kinesis: WebSocket, 1,000 connections, EVENT_ACK=1, to kinesalite",
}
# The closed-loop runs' names in the maximum-throughput plot.
PLOT_NAMES = {1: "WS ack=1", 2: "WS ack=0", 3: "REST", 4: "gRPC", PUBSUB_SCENARIO: "Pub/Sub",
              KINESIS_SCENARIO: "Kinesis"}


def fmt_us(value):
    if value is None:
        return "–"
    if value >= 10000:
        return f"{value / 1000:,.0f} ms"
    if value >= 1000:
        return f"{value / 1000:,.1f} ms"
    return f"{value:,.0f} µs"


def half_load_runs(runs):
    return [r for r in runs if r.get("fraction") == 0.5]


def median_by_p99(runs):
    """The run whose ack p99 is the median (the upper one of an even count)."""
    ranked = sorted(runs, key=lambda r: r["latency_us"].get("p99", 0))
    return ranked[len(ranked) // 2]


def half_load_p99(runs):
    """Scenario 1's figure for the p99 target: the median run's p99, and
    every run's when there are several."""
    p99 = fmt_us(median_by_p99(runs)["latency_us"].get("p99"))
    if len(runs) == 1:
        return p99
    each = ", ".join(fmt_us(r["latency_us"].get("p99")) for r in runs)
    return f"{p99} (median of {len(runs)} runs: {each})"


def fmt_pauses(pauses):
    if not pauses:
        return "none"
    return f"{len(pauses)}, longest {max(pauses):.0f} ms"


def run_table(runs):
    lines = [
        "| run | offered req/s | events/s | acks/s | p50 | p90 | p99 | p99.9 | max "
        "| loadgen late p99 | server CPU µs/event | server cores | broker cores | loadgen cores "
        "| other cores | stolen cores | broker GC pauses | delivered / acked events | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for r in runs:
        lat = r["latency_us"]
        errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "none"
        cpu = r["server_cpu_us_per_event"]
        lines.append(
            f"| {r['label']} | {r['offered_requests_per_s'] or '–'} "
            f"| {r['events_per_s']:,.0f} | {r['acks_per_s']:,.0f} "
            f"| {fmt_us(lat.get('p50'))} | {fmt_us(lat.get('p90'))} | {fmt_us(lat.get('p99'))} "
            f"| {fmt_us(lat.get('p99_9'))} | {fmt_us(lat.get('max'))} "
            f"| {fmt_us(r['loadgen_schedule_lag_us'].get('p99')) if r['mode'] == 'open' else '–'} "
            f"| {cpu:.2f} | {r['server_cores']:.2f} | {r['broker_cores']:.2f} "
            f"| {r['loadgen_cores']:.2f} | {r['other_cores']:.2f} | {r['stolen_cores']:.2f} "
            f"| {fmt_pauses(r['broker_gc_pauses_ms'])} "
            f"| {r['events_delivered']:,} / {r['events_acked']:,} "
            f"| {errors} |" if cpu is not None else
            f"| {r['label']} | – | – | – | – | – | – | – | – | – | – | – | – | – | – | – | – | – "
            f"| {errors} |")
    return "\n".join(lines)


def bottleneck(run, cores):
    """Which process had a core's worth of CPU at the maximum: the one that
    limited it (each of server and load generator has one core when pinned)."""
    parts = [("server", run["server_cores"]), ("load generator", run["loadgen_cores"]),
             ("broker", run["broker_cores"]), ("other processes", run["other_cores"])]
    busy = [f"{name} {value:.2f}" for name, value in parts]
    busy.append(f"stolen by the hypervisor {run['stolen_cores']:.2f}")
    saturated = [name for name, value in parts[:2] if value >= 0.9]
    if run["machine_busy_cores"] + run["stolen_cores"] >= 0.9 * cores:
        sharers = "server, load generator, broker"
        if run["other_cores"] >= 0.1:
            sharers += ", other processes"
        if run["stolen_cores"] >= 0.1:
            sharers += ", the hypervisor's other guests"
        verdict = f"the machine's CPU as a whole ({sharers} share it)"
    elif saturated:
        verdict = " and ".join(saturated) + " (a full core)"
    else:
        verdict = "none of the processes is CPU-bound: latency or flow control"
    return f"cores used: {', '.join(busy)} of {cores}; bound by {verdict}"


def gnuplot_png(png, title, body):
    """Draws `body` (gnuplot commands) into `png` under `title`."""
    script = (f"set terminal pngcairo noenhanced size 900,540 font \",11\"\n"
              f"set output '{png}'\nset title '{title}'\n{body}")
    subprocess.run(["gnuplot"], input=script, text=True, check=True, timeout=60)


def plot(bench, outdir):
    """PNG plots with gnuplot; returns the file names written."""
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no plots")
        return []
    os.makedirs(outdir, exist_ok=True)
    written = []
    by_rate = {}
    for r in bench.runs:
        if r["scenario"] == 1 and r["mode"] == "open":
            by_rate.setdefault(r["offered_requests_per_s"], []).append(r)
    ramp = [median_by_p99(by_rate[rate]) for rate in sorted(by_rate)]
    if ramp:
        data = os.path.join(bench.work, "latency_vs_rate.dat")
        with open(data, "w") as f:
            for r in ramp:
                lat = r["latency_us"]
                f.write(f"{r['offered_requests_per_s'] * BATCH} {lat['p50'] / 1000} "
                        f"{lat['p90'] / 1000} {lat['p99'] / 1000} {lat['p99_9'] / 1000}\n")
        png = os.path.join(outdir, "ws_ack1_latency_vs_rate.png")
        gnuplot_png(png, "Scenario 1: WebSocket, EVENT_ACK=1, 1,000 connections, open loop", f"""
set xlabel 'offered events/s'
set ylabel 'ack latency (ms)'
set logscale y
set grid
set key top left
plot '{data}' using 1:2 with linespoints title 'p50', \\
     '' using 1:3 with linespoints title 'p90', \\
     '' using 1:4 with linespoints title 'p99', \\
     '' using 1:5 with linespoints title 'p99.9'
""")
        written.append(os.path.basename(png))
    peaks = [r for r in bench.runs if r["mode"] == "closed"]
    if peaks:
        data = os.path.join(bench.work, "peaks.dat")
        with open(data, "w") as f:
            for r in peaks:
                name = PLOT_NAMES[r["scenario"]]
                f.write(f"\"{name}\" {r['events_per_s']:.0f} "
                        f"{r['server_cpu_us_per_event'] or 0:.3f}\n")
        png = os.path.join(outdir, "max_throughput_and_cpu.png")
        gnuplot_png(png, "Maximum sustained events/s (closed loop) and server CPU per event", f"""
set style data histograms
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set ylabel 'events/s'
set y2label 'server CPU µs/event'
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set grid y
set key below
plot '{data}' using 2:xtic(1) title 'events/s' axes x1y1, \\
     '' using 3 title 'CPU µs/event' axes x1y2
""")
        written.append(os.path.basename(png))
    return written


def publishers_table(by_scenario):
    """Scenario 1 (Kafka) and its load to the other publishers' peers side by
    side, at the maximum and at 50% of it (the median run by ack p99 when
    repeated)."""
    lines = ["| publisher (scenario) | peer | run | events/s | ack p50 | ack p99 "
             "| server CPU µs/event | broker cores |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for scenario, publisher in {1: "kafka", **PEER_SCENARIOS}.items():
        peer = PEERS[publisher]
        runs = by_scenario.get(scenario, [])
        lead = f"| {peer.publisher_name} ({scenario}) | {peer.peer_name} "
        if not runs:
            lines.append(lead + "| not run | – | – | – | – | – |")
            continue
        half = half_load_runs(runs)
        for r in [runs[0]] + ([median_by_p99(half)] if half else []):
            lat = r["latency_us"]
            cpu = r["server_cpu_us_per_event"]
            lines.append(lead + f"| {r['label']} | {r['events_per_s']:,.0f} "
                         f"| {fmt_us(lat.get('p50'))} | {fmt_us(lat.get('p99'))} "
                         f"| {f'{cpu:.2f}' if cpu is not None else '–'} "
                         f"| {r['broker_cores']:.2f} |")
    return "\n".join(lines)


def write_report(bench, mach, idle, plots, path, started, clients=()):
    by = {}
    for r in bench.runs:
        by.setdefault(r["scenario"], []).append(r)
    cores = len(mach["usable_cores"])
    out = []
    out.append("# Benchmarks\n")
    out.append("Written by `make bench` (`bench/run_benchmarks.py`"
               f"{', BENCH_QUICK=1: short runs' if bench.quick else ''}); "
               "every figure below was measured by that run, nothing is edited by hand. "
               "How the hot path got here, change by change with A/B figures: "
               "[performance.md](performance.md).\n")
    out.append("## Machine and conditions\n")
    out.append(f"- {mach['nproc']} CPUs (`nproc`), usable {mach['usable_cores']}; "
               f"{mach['model'] or 'model unknown'}; {mach['memory_gib']} GiB RAM")
    out.append(f"- kernel {mach['kernel']}; {mach['date']}; commit {mach['commit']}")
    out.append(f"- load average when the suite started: {mach['loadavg_at_start']}; "
               f"the suite took {(time.monotonic() - started) / 60:.1f} min")
    if bench.pinned:
        out.append(f"- the server runs on core {bench.server_core} with SERVER_IO_THREADS=1 and "
                   f"raccoon-loadgen (one io thread) on core {bench.loadgen_core} (`taskset`); "
                   "the broker is not pinned and takes CPU from both")
    else:
        out.append("- one usable core: no pinning; server, load generator and broker share it")
    used = [peer for peer in bench.peers.values()
            if any(r["publisher"] == peer.publisher for r in bench.runs)]
    for peer in used:
        out.append(f"- {peer.conditions()}")
    out.append("- on this development container another engineer may have been compiling on the "
               "same cores during the run: throughput and latency are noisy, server CPU "
               "µs/event is the figure least affected\n")
    out.append("## Method\n")
    out.append(
        f"Requests are batches of {BATCH} events of {EVENT_SIZE} bytes, protobuf, over "
        f"{CONNECTIONS:,} connections (WebSocket and REST from source addresses {SOURCES}; "
        f"gRPC: {CONNECTIONS:,} channels, each its own TCP connection). Each run starts a "
        f"fresh server and a topic of its own, warms up for {bench.warmup} s and measures "
        f"{bench.duration} s. Before the first, {BROKER_WARMUP_RUNS} unreported runs at the "
        f"maximum warm the broker's JVM up (a fresh one spends its first minute of load "
        f"compiling).\n")
    out.append(
        f"- **max (closed loop)**: {MAX_WINDOW} requests in flight per connection "
        f"({MAX_WINDOW * CONNECTIONS:,} in all): the maximum sustained rate, and its latency "
        "under that saturation.")
    repeats = bench.half_load_repeats
    out.append("- **N% of max (open loop)**: requests at N% of that run's acks/s, latency "
               "counted from when each request was due (no coordinated omission). Scenario 1 "
               f"runs 50% {'once' if repeats == 1 else f'{repeats} times'}: its p99 "
               "target's figure is their median, and the plot shows the median run at each "
               "rate.")
    out.append("- **loadgen late p99**: open loop, how late the load generator itself got "
               "to a request after its due time (p99): the part of the latency that was the "
               "generator's own, when it was short of CPU.")
    out.append("- **events/s, acks/s**: events acked with success and acks, per second of "
               "the measured window (loadgen).")
    out.append("- **latency**: from request due/sent to its ack, matched by req_guid "
               "(loadgen's log-linear histogram, 1/128 bucket width).")
    out.append("- **server CPU µs/event**: utime+stime of the raccoon process alone "
               "(`/proc/PID/stat`) from just before the load generator starts to just after it "
               "exits (connection set-up, warm-up and drain included), divided by the run's "
               "delivered events (below).")
    out.append("- **cores**: CPU seconds of the process over the run's wall time: 1.00 is one "
               "core busy; the broker's share is the publisher's peer, its own process (the PID "
               "its script wrote): "
               + ", ".join(f"{peer.peer_name} for {peer.publisher_name}" for peer in used) + "; "
               "other cores: the machine's busy time (`/proc/stat`) less those three, i.e. "
               "whatever else ran meanwhile; stolen cores: time this virtual machine had work "
               "while the hypervisor ran other guests (`/proc/stat`'s steal). Steal slows all "
               "three processes alike and comes and goes on this host, so a run with steal "
               "measured a slower machine.")
    out.append("- **broker GC pauses**: Kafka's broker's stop-the-world collections that ended "
               "during the run (warm-up and drain included), from its GC log: while one lasts, "
               "no produce request is answered, so every ack then in flight waits for it. The "
               "other peers' pauses are not logged: none are shown for them.")
    out.append("- **delivered / acked events**: events the publisher's peer accepted vs. "
               "events acked with success (warm-up included in both). Delivered, by publisher: "
               + "; ".join(f"{peer.publisher_name}: {peer.delivered_note}" for peer in used)
               + ".\n")
    out.append("## Results\n")
    for scenario in SCENARIO_TITLES:
        runs = by.get(scenario, [])
        out.append(f"### {SCENARIO_TITLES[scenario]}\n")
        if not runs:
            out.append("Not run.\n")
            continue
        out.append(run_table(runs) + "\n")
        peak = runs[0]
        out.append(f"Maximum sustained: **{peak['events_per_s']:,.0f} events/s**; "
                   f"{bottleneck(peak, cores)}.")
        half = half_load_runs(runs)
        if half:
            out.append(f"At 50% of it: ack p99 **{half_load_p99(half)}**.")
        out.append("")
    out.append("### Publishers side by side: scenario 1's load\n")
    out.append(publishers_table(by) + "\n")
    captions = {"ws_ack1_latency_vs_rate.png": "Scenario 1: latency vs offered rate",
                "max_throughput_and_cpu.png": "Maximum throughput and server CPU per event"}
    for png in plots:
        out.append(f"![{captions[png]}](benchmarks/{png})\n")

    out.append("### 5. Idle WebSocket connections: server RSS per connection\n")
    if idle.get("levels"):
        out.append("`bench/idle_rss.py` (log publisher, no broker; pings every 5 s; "
                   f"descriptor limit {idle.get('fd_limit')}):\n")
        out.append("| idle connections | VmRSS KiB | bytes/connection | slope since previous |")
        out.append("|---:|---:|---:|---:|")
        out.append(f"| 0 | {idle.get('rss0_kib', 0):,} | – | – |")
        for level in idle["levels"]:
            slope = level.get("slope_bytes_per_connection")
            out.append(f"| {level['connections']:,} | {level['rss_kib']:,} "
                       f"| {level['bytes_per_connection']:,} "
                       f"| {f'{slope:,}' if slope is not None else '–'} |")
        last = idle["levels"][-1]
        capped = last["connections"] < bench.idle_levels[-1]
        out.append(f"\nReached {last['connections']:,} of {bench.idle_levels[-1]:,} idle "
                   f"connections{' (the descriptor limit capped the last step)' if capped else ''}"
                   f": **{last['bytes_per_connection'] / 1024:.2f} KiB per connection**.\n")
    else:
        out.append(f"Failed (exit {idle.get('exit')}):\n\n```\n{idle.get('log_tail', '')}\n```\n")

    out.append("### 6. Server CPU per event\n")
    out.append("| scenario | run | server CPU µs/event |")
    out.append("|---|---|---:|")
    for r in bench.runs:
        cpu = r["server_cpu_us_per_event"]
        out.append(f"| {r['scenario']} ({r['transport']}, EVENT_ACK={r['event_ack']}, "
                   f"{PEERS[r['publisher']].publisher_name}) "
                   f"| {r['label']} | {f'{cpu:.2f}' if cpu is not None else '–'} |")
    out.append("")

    if clients:
        out += client_libraries.report(clients)

    out.append("## Targets\n")
    out.append("| target | measured |")
    out.append("|---|---|")
    s1 = by.get(1, [])
    if s1:
        peak = s1[0]
        half = half_load_runs(s1)
        out.append(f"| scenario 1 ≤ 2 µs server CPU per event | "
                   f"{peak['server_cpu_us_per_event'] or 0:.2f} µs at max |")
        out.append(f"| scenario 1 ≥ 250,000 events/s when the broker is not the bottleneck | "
                   f"{peak['events_per_s']:,.0f} events/s; {bottleneck(peak, cores)} |")
        if half:
            out.append(f"| ack p99 ≤ 10 ms at 50% of max, EVENT_ACK=1 | {half_load_p99(half)} |")
    if idle.get("levels"):
        out.append(f"| ≤ 10 KiB RSS per idle WebSocket | "
                   f"{idle['levels'][-1]['bytes_per_connection'] / 1024:.2f} KiB at "
                   f"{idle['levels'][-1]['connections']:,} |")
    closed = [r for r in bench.runs if r["mode"] == "closed"]
    if closed:
        worst = max(r["server_vm_hwm_kib"] for r in closed)
        errs = sum(1 for r in closed if r["errors"])
        out.append(f"| under overload: server up, memory bounded, backpressure not errors | "
                   f"closed-loop saturation runs: server exit codes "
                   f"{sorted({r['server_exit'] for r in closed})}, peak VmHWM {worst:,} KiB, "
                   f"{errs} of {len(closed)} with errors |")
    out.append("")
    with open(path, "w") as f:
        f.write("\n".join(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raccoon", required=True)
    parser.add_argument("--loadgen", required=True)
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("BENCH_QUICK", "") not in ("", "0"))
    parser.add_argument("--compare", metavar="BASELINE",
                        help="A/B: scenario 1 at max with BASELINE and --raccoon side by side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients-tools", metavar="DIR",
                        help="scripts/clients-setup.sh's OUT_DIR: also benchmark the client libraries")
    args = parser.parse_args()
    args.raccoon = os.path.abspath(args.raccoon)
    args.loadgen = os.path.abspath(args.loadgen)
    if args.compare:
        return compare(args)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    started = time.monotonic()
    mach = machine()
    bench = Bench(args)
    log(f"work dir {bench.work}; {'quick' if bench.quick else 'full'} suite; cores "
        f"{bench.cores}: " + (f"server on {bench.server_core}, loadgen on {bench.loadgen_core}"
                              if bench.pinned else "one core, no pinning"))
    idle = {}
    clients = []
    try:
        bench.kafka.start()
        bench.suite()
        idle = bench.idle_rss()
        if args.clients_tools:
            clients = client_libraries.run(bench, os.path.abspath(args.clients_tools), log)
    except Interrupted as e:
        log(f"interrupted ({e}): stopping")
        return 130
    finally:
        bench.kafka.stop()
        log("kafka stopped")
        with open(os.path.join(bench.work, "results.json"), "w") as f:
            json.dump({"machine": mach, "runs": bench.runs, "idle_rss": idle, "clients": clients},
                      f, indent=2)
    outdir = os.path.join(os.path.dirname(os.path.abspath(args.out)), "benchmarks")
    plots = plot(bench, outdir)
    write_report(bench, mach, idle, plots, args.out, started, clients)
    shutil.copy(os.path.join(bench.work, "results.json"), os.path.join(outdir, "results.json"))
    log(f"wrote {args.out} and {outdir}/ ({', '.join(plots + ['results.json'])}); "
        f"raw logs in {bench.work}")
    return 0


def compare(args):
    bench = Bench(args)
    try:
        bench.kafka.start()
        bench.compare(os.path.abspath(args.compare), args.rounds)
    except Interrupted as e:
        log(f"interrupted ({e}): stopping")
        return 130
    finally:
        bench.kafka.stop()
        log(f"kafka stopped; raw logs in {bench.work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
