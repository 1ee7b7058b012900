"""The brokers of the fault suite, one of each publisher's, started by this
suite in its own folders (so killing one disturbs no other test) and stopped
by the PID their scripts wrote. Each can be killed (SIGKILL) and started
again in the same folder, paused (SIGSTOP) and resumed (SIGCONT), and read
back by an independent client: a Kafka consumer, a Pub/Sub subscription pull,
Kinesis GetRecords."""

import collections
import os
import signal
import subprocess
import time

from integration_helpers import (
    PUBSUB_PROJECT,
    PUBSUB_PUBLISH_TIMEOUT_MS,
    KafkaReader,
    KinesisReader,
    PubsubEmulator,
    env_path,
    kinesis_settings,
    start_kinesalite,
    stop_kinesalite,
)

START_TIMEOUT_S = 240
DEATH_TIMEOUT_S = 10
READ_TIMEOUT_S = 60
DRAIN_TIMEOUT_S = 30


def gone(pid):
    """Exited, or a zombie its parent has not reaped (the scripts' children
    are reparented, and nothing here is their parent)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def kill_and_wait(pid):
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + DEATH_TIMEOUT_S
    while not gone(pid):
        if time.monotonic() > deadline:
            raise AssertionError(f"PID {pid} outlived SIGKILL by {DEATH_TIMEOUT_S}s")
        time.sleep(0.05)


def read_pid(path):
    with open(path) as f:
        return int(f.read().strip())


class Peer:
    """What every broker does; `pid_file` names the file its script writes."""

    name = ""
    pid_file = ""

    def __init__(self, directory):
        self.directory = str(directory)
        self.paused = False
        self.dead = False

    @property
    def pid(self):
        return read_pid(os.path.join(self.directory, self.pid_file))

    def pause(self):
        os.kill(self.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self):
        os.kill(self.pid, signal.SIGCONT)
        self.paused = False

    def kill(self):
        kill_and_wait(self.pid)
        self.dead = True

    def restart(self):
        self.start()
        self.dead = False

    def heal(self):
        """Running and answering again, whatever a failed run left behind."""
        if self.paused:
            self.resume()
        if self.dead:
            self.restart()

    def prepare(self, topic):
        """Before the load: whatever reading `topic` back needs."""

    def kill_under(self, load, topic):
        """SIGKILL while `load` runs."""
        self.kill()

    def after_restart(self, topic, load):
        """Once started again: what publishing to `topic` needs again."""


class KafkaPeer(Peer):
    name = "kafka"
    pid_file = "kafka.pid"

    def start(self):
        subprocess.run([env_path("RACCOON_KAFKA_SCRIPT"), "start", self.directory], check=True,
                       timeout=START_TIMEOUT_S, stdout=subprocess.DEVNULL)

    def stop(self):
        subprocess.run([env_path("RACCOON_KAFKA_SCRIPT"), "stop", self.directory],
                       timeout=60, stdout=subprocess.DEVNULL)

    def kill(self):
        super().kill()
        # kafka.sh counts a zombie as running: the PID file goes, as its stop does.
        os.remove(os.path.join(self.directory, self.pid_file))

    @property
    def bootstrap(self):
        with open(os.path.join(self.directory, "bootstrap")) as f:
            return f.read().strip()

    def settings(self):
        return {
            "PUBLISHER_TYPE": "kafka",
            "PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS": self.bootstrap,
            "PUBLISHER_KAFKA_FLUSH_INTERVAL_MS": 2000,
            # Reconnects within a second of the broker's return.
            "PUBLISHER_KAFKA_CLIENT_RECONNECT_BACKOFF_MS": 100,
            "PUBLISHER_KAFKA_CLIENT_RECONNECT_BACKOFF_MAX_MS": 1000,
            "PUBLISHER_KAFKA_CLIENT_SOCKET_CONNECTION_SETUP_TIMEOUT_MS": 2000,
            "PUBLISHER_KAFKA_CLIENT_TOPIC_METADATA_REFRESH_INTERVAL_MS": 1000,
        }

    def prepare(self, topic):
        KafkaReader(self.bootstrap).ensure_topics([topic])

    def read(self, topic, count, timeout=READ_TIMEOUT_S):
        got = KafkaReader(self.bootstrap).read([topic], count, timeout=timeout)
        return [value for _, value in got]


class PubsubPeer(Peer):
    """Google's emulator keeps everything in memory: a SIGKILL erases every
    topic, subscription and message, which Pub/Sub itself would keep. So what
    was acked before the kill is pulled just before it, and the topic and a
    new subscription are made again after the restart; the server does not
    create topics here, so it cannot publish into a topic nobody subscribed
    to."""

    name = "pubsub"
    pid_file = "emulator.pid"

    def __init__(self, directory):
        super().__init__(directory)
        self.emulator = PubsubEmulator(self.directory, env_path("RACCOON_PUBSUB_SCRIPT"))
        self.subscriptions = {}
        self.pulled = collections.defaultdict(list)

    def start(self):
        self.emulator.start()

    def stop(self):
        subprocess.run([env_path("RACCOON_PUBSUB_SCRIPT"), "stop", self.directory], timeout=60,
                       stdout=subprocess.DEVNULL)

    def settings(self):
        return {
            "PUBLISHER_TYPE": "pubsub",
            "PUBLISHER_PUBSUB_PROJECT_ID": PUBSUB_PROJECT,
            "PUBSUB_EMULATOR_HOST": self.emulator.host,
            "PUBLISHER_PUBSUB_PUBLISH_TIMEOUT_MS": PUBSUB_PUBLISH_TIMEOUT_MS,
            "PUBLISHER_PUBSUB_TOPIC_AUTOCREATE": "false",
        }

    def prepare(self, topic):
        self.subscriptions[topic] = self.emulator.subscribe(topic)

    def kill_under(self, load, topic):
        # What the emulator acked is pulled first, no request in flight
        # meanwhile (one acked after the last pull would go with it); then
        # the kill, and the load goes on.
        with load.held():
            acked = {p for r in load.ledger.snapshot() if r.outcome == "success"
                     for p in r.payloads}
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while time.monotonic() < deadline and not acked <= set(self.pulled[topic]):
                self.pulled[topic] += self.emulator.pull(self.subscriptions[topic], 0, timeout=1,
                                                         settle=0.1)
            assert acked <= set(self.pulled[topic]), \
                f"the emulator did not give back what it acked within {DRAIN_TIMEOUT_S}s"
            self.kill()

    def after_restart(self, topic, load):
        # No request while they are made, or the server could publish into
        # the topic before it has a subscription to keep what it is sent.
        with load.held():
            self.prepare(topic)

    def read(self, topic, count, timeout=READ_TIMEOUT_S):
        earlier = self.pulled.pop(topic, [])
        rest = self.emulator.pull(self.subscriptions.pop(topic), max(0, count - len(earlier)),
                                  timeout=timeout)
        return earlier + rest


class KinesisPeer(Peer):
    name = "kinesis"
    pid_file = "kinesalite.pid"

    def start(self):
        self.endpoint = start_kinesalite(self.directory)

    def stop(self):
        stop_kinesalite(self.directory)

    def settings(self):
        return kinesis_settings(self.endpoint)

    def read(self, topic, count, timeout=READ_TIMEOUT_S):
        return KinesisReader(self.endpoint).data(topic, count, timeout=timeout)


PEERS = {peer.name: peer for peer in (KafkaPeer, PubsubPeer, KinesisPeer)}


class Peers:
    """Each broker started on first use and stopped at the end of the session."""

    def __init__(self, tmp_path_factory):
        self.tmp_path_factory = tmp_path_factory
        self.started = {}

    def get(self, name):
        if name not in self.started:
            peer = PEERS[name](self.tmp_path_factory.mktemp(name))
            peer.start()
            self.started[name] = peer
        return self.started[name]

    def stop_all(self):
        for peer in self.started.values():
            if peer.paused:
                peer.resume()
            peer.stop()
