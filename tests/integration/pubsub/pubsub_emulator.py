"""What the pubsub publisher's tests share: Google's Pub/Sub emulator, which
the CTest fixture `pubsub` started (scripts/pubsub-emulator.sh), and the
fixtures that point the servers under test at it. A test module imports the
fixtures (`from pubsub_emulator import pubsub, publisher_settings`): a
conftest.py here would shadow the shared one's module name.

Environment (set by tests/integration/pubsub/CMakeLists.txt):
  RACCOON_PUBSUB_DIR      the emulator's dir; its host:port is in DIR/host
  RACCOON_PUBSUB_SCRIPT   scripts/pubsub-emulator.sh, to restart it
"""

import base64
import collections
import os
import signal
import subprocess
import time
import uuid

import pytest
import requests

from conftest import env_path

PROJECT = "raccoon-it"
# Shorter than upstream's minute, so a test of a stuck publish ends soon.
PUBLISH_TIMEOUT_MS = 5000


class PubsubEmulator:
    """The emulator through its REST API, which needs no credentials, and
    its process, started by the fixture's script."""

    def __init__(self, directory, script):
        self.directory = directory
        self.script = script
        self.session = requests.Session()

    @property
    def host(self):
        with open(os.path.join(self.directory, "host")) as f:
            return f.read().strip()

    def _url(self, path):
        return f"http://{self.host}/v1/projects/{PROJECT}/{path}"

    def create_topic(self, topic):
        resp = self.session.put(self._url(f"topics/{topic}"), timeout=10)
        assert resp.status_code in (200, 409), resp.text

    def delete_topic(self, topic):
        resp = self.session.delete(self._url(f"topics/{topic}"), timeout=10)
        assert resp.status_code == 200, resp.text

    def topic_exists(self, topic):
        return self.session.get(self._url(f"topics/{topic}"), timeout=10).status_code == 200

    def topic(self, topic):
        resp = self.session.get(self._url(f"topics/{topic}"), timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def subscribe(self, topic):
        """A new subscription to `topic` (created first when missing); it
        sees what is published from now on. Returns its name."""
        self.create_topic(topic)
        name = f"sub-{uuid.uuid4().hex[:8]}-{topic}"[:255]
        resp = self.session.put(
            self._url(f"subscriptions/{name}"),
            json={"topic": f"projects/{PROJECT}/topics/{topic}", "ackDeadlineSeconds": 60},
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        return name

    def pull(self, subscription, count, timeout=20.0, settle=0.5):
        """The data of the messages in `subscription`, acknowledged as read,
        until `count` arrived and `settle` seconds brought no more, or the
        deadline passed."""
        got = []
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            resp = self.session.post(
                self._url(f"subscriptions/{subscription}:pull"),
                json={"maxMessages": 1000, "returnImmediately": True},
                timeout=10,
            )
            assert resp.status_code == 200, resp.text
            received = resp.json().get("receivedMessages", [])
            if received:
                got += [base64.b64decode(m["message"].get("data", "")) for m in received]
                ack = self.session.post(
                    self._url(f"subscriptions/{subscription}:acknowledge"),
                    json={"ackIds": [m["ackId"] for m in received]},
                    timeout=10,
                )
                assert ack.status_code == 200, ack.text
                quiet_since = None
                continue
            if len(got) >= count:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle:
                    break
            time.sleep(0.05)
        return got

    @property
    def pid(self):
        with open(os.path.join(self.directory, "emulator.pid")) as f:
            return int(f.read().strip())

    def kill(self):
        """SIGKILL, as a crash: the emulator loses every topic and message."""
        pid = self.pid
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{pid}/status") as f:
                    if any(line.startswith("State:") and "Z" in line for line in f):
                        return
            except FileNotFoundError:
                return
            time.sleep(0.05)
        raise AssertionError(f"the emulator (PID {pid}) outlived SIGKILL")

    def start(self):
        """Starts it again in its dir, on the same port."""
        subprocess.run([self.script, "start", self.directory], check=True, timeout=90,
                       stdout=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def pubsub():
    return PubsubEmulator(env_path("RACCOON_PUBSUB_DIR"), env_path("RACCOON_PUBSUB_SCRIPT"))


@pytest.fixture(scope="session")
def publisher_settings(pubsub):
    return {
        "PUBLISHER_TYPE": "pubsub",
        "PUBLISHER_PUBSUB_PROJECT_ID": PROJECT,
        "PUBSUB_EMULATOR_HOST": pubsub.host,
        "PUBLISHER_PUBSUB_PUBLISH_TIMEOUT_MS": PUBLISH_TIMEOUT_MS,
    }


def assert_in_subscriptions(pubsub, server, events, subscriptions, may_also_hold=(),
                            timeout=20.0):
    """Each event's bytes, untouched, once in its type's topic's subscription.
    Events of `may_also_hold` (acked as a success while the subscription was
    being made) may be there too, once."""
    expected = collections.defaultdict(collections.Counter)
    for e in events:
        expected[server.topic(e.type)][e.bytes] += 1
    allowed = {e.bytes for e in may_also_hold}
    for topic, want in expected.items():
        got = collections.Counter(
            pubsub.pull(subscriptions[topic], sum(want.values()), timeout=timeout)
        )
        missing = want - got
        extra = got - want
        assert not missing, f"{sum(missing.values())} events missing from {topic}"
        unexpected = {data for data in extra if data not in allowed}
        assert not unexpected, f"{len(unexpected)} unexpected events in {topic}"
        repeated = {data for data, count in got.items() if count > 1}
        assert not repeated, f"{len(repeated)} events repeated in {topic}"
