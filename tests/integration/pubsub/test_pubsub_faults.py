"""The pubsub publisher when Pub/Sub fails under load: a topic deleted, the
emulator killed and started again, and SIGTERM while events wait. Every
request is answered, a failure as an error with its reason; every batch acked
as a success is in its subscription (the killed emulator's memory aside); and
the server recovers without a restart."""

import signal
import threading
import time
import uuid

import requests

from conftest import (
    CODE_INTERNAL_ERROR,
    STATUS_ERROR,
    STATUS_SUCCESS,
    decode_response,
    encode_request,
    make_events,
    post_events,
)
from pubsub_emulator import (  # noqa: F401 (fixtures)
    assert_in_subscriptions,
    publisher_settings,
    pubsub,
)

EVENTS_PER_BATCH = 5
LOAD_LIMIT_S = 60


class Load:
    """Batches of one type posted back to back from a thread until stopped,
    each with its outcome and when it was sent."""

    def __init__(self, server, event_type):
        self.server = server
        self.event_type = event_type
        self.outcomes = []  # (sent_at, events, decoded or None)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the load did not stop"

    def _run(self):
        session = requests.Session()
        deadline = time.monotonic() + LOAD_LIMIT_S
        while not self.stopping.is_set() and time.monotonic() < deadline:
            events = make_events(EVENTS_PER_BATCH, types=(self.event_type,))
            sent_at = time.monotonic()
            body = encode_request("proto", events, f"load-{uuid.uuid4()}")
            try:
                decoded = decode_response(
                    post_events(self.server.events_url, "proto", body, session=session), "proto"
                )
            except requests.RequestException:
                decoded = None
            with self.lock:
                self.outcomes.append((sent_at, events, decoded))

    def snapshot(self):
        with self.lock:
            return list(self.outcomes)

    def wait_for(self, predicate, timeout=30.0):
        """Waits until predicate(outcomes) holds; False at the deadline."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.snapshot()):
                return True
            time.sleep(0.05)
        return False


def succeeded(outcome):
    decoded = outcome[2]
    return decoded is not None and decoded["status"] == STATUS_SUCCESS


def failed_with(outcome, words):
    decoded = outcome[2]
    return (
        decoded is not None
        and decoded["status"] == STATUS_ERROR
        and decoded["code"] == CODE_INTERNAL_ERROR
        and decoded["reason"] != ""
        and any(word in decoded["reason"] for word in words)
    )


def answered_with_error(outcome):
    return failed_with(outcome, ("",))


def successful_events(outcomes, sent_from, sent_until=float("inf")):
    return [e for sent_at, events, decoded in outcomes
            if sent_from < sent_at <= sent_until and succeeded((sent_at, events, decoded))
            for e in events]


def successes_after(outcomes, moment):
    return sum(1 for o in outcomes if o[0] > moment and succeeded(o))


def test_a_topic_deleted_under_load_fails_its_batches_until_it_is_back(raccoon, pubsub):
    server = raccoon.start(event_ack=1)
    topic = server.topic("ps-deleted")
    first_subscription = pubsub.subscribe(topic)

    with Load(server, "ps-deleted") as load:
        assert load.wait_for(lambda o: sum(map(succeeded, o)) >= 20), "no load got through"
        pubsub.delete_topic(topic)
        deleted_at = time.monotonic()
        assert load.wait_for(
            lambda o: any(s > deleted_at and failed_with((s, e, d), ("NOT_FOUND", "does not exist"))
                          for s, e, d in o)
        ), "no batch failed for the deleted topic"
        # Made again by its operator: the server goes on by itself.
        subscription = pubsub.subscribe(topic)
        back_at = time.monotonic()
        assert load.wait_for(lambda o: successes_after(o, back_at + 0.1) >= 10, timeout=20), \
            "the server did not publish to the topic made again"
    outcomes = load.snapshot()

    # Every request is answered: a success, or an error with its reason.
    for outcome in outcomes:
        assert succeeded(outcome) or answered_with_error(outcome), outcome
    # Acked as a success before the deletion: in the subscription of then,
    # which keeps its messages.
    assert_in_subscriptions(pubsub, server, successful_events(outcomes, 0, deleted_at),
                            {topic: first_subscription})
    # Sent before it was back, published after: may be there too.
    assert_in_subscriptions(pubsub, server, successful_events(outcomes, back_at),
                            {topic: subscription},
                            may_also_hold=successful_events(outcomes, deleted_at, back_at))


def test_the_emulator_killed_and_started_again_under_load(raccoon, pubsub):
    server = raccoon.start(event_ack=1, env={"PUBLISHER_PUBSUB_TOPIC_AUTOCREATE": "true"})
    topic = server.topic("ps-crash")
    subscription = pubsub.subscribe(topic)

    with Load(server, "ps-crash") as load:
        assert load.wait_for(lambda o: sum(map(succeeded, o)) >= 20), "no load got through"
        pubsub.kill()
        killed_at = time.monotonic()
        # Sent once the emulator was gone: none can be a success.
        assert load.wait_for(lambda o: sum(1 for x in o if x[0] > killed_at) >= 20), \
            "the server stopped answering while the emulator was down"
        down = [x for x in load.snapshot() if x[0] > killed_at]
        pubsub.start()
        subscription = pubsub.subscribe(topic)
        back_at = time.monotonic()
        assert load.wait_for(lambda o: successes_after(o, back_at) >= 10, timeout=30), \
            "the server did not recover by itself"
    outcomes = load.snapshot()

    assert down, "no batch was sent while the emulator was down"
    for outcome in down:
        assert not succeeded(outcome), f"acked as a success with no Pub/Sub: {outcome}"
        assert outcome[2] is not None, "a request sent while the emulator was down got no answer"
    for outcome in outcomes:
        assert succeeded(outcome) or answered_with_error(outcome), outcome
    # What the restarted emulator acked after the subscription was made.
    assert_in_subscriptions(pubsub, server, successful_events(outcomes, back_at),
                            {topic: subscription},
                            may_also_hold=successful_events(outcomes, killed_at, back_at))
    assert pubsub.topic_exists(topic)


def test_sigterm_sends_what_waits_and_acks_it_before_exiting(raccoon, pubsub):
    # Events wait for the delay threshold far longer than the test: only the
    # shutdown's flush sends them.
    server = raccoon.start(event_ack=1, env={
        "PUBLISHER_PUBSUB_PUBLISH_DELAY_THRESHOLD_MS": 60_000,
        "PUBLISHER_PUBSUB_PUBLISH_COUNT_THRESHOLD": 1000,
    })
    topic = server.topic("ps-drain")
    subscription = pubsub.subscribe(topic)

    results = []
    batches = [make_events(4, types=("ps-drain",)) for _ in range(6)]

    def post(events):
        body = encode_request("proto", events, f"drain-{uuid.uuid4()}")
        resp = post_events(server.events_url, "proto", body, timeout=30)
        results.append((events, decode_response(resp, "proto")))

    threads = [threading.Thread(target=post, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    time.sleep(1.0)
    assert not results, "a batch was acked before its events could be sent"
    server.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(timeout=30)
    code, _ = server.stop()
    assert code == 0, server.stderr()

    assert len(results) == len(batches)
    for events, decoded in results:
        assert decoded["status"] == STATUS_SUCCESS, decoded
    assert_in_subscriptions(pubsub, server, [e for b in batches for e in b], {topic: subscription})
    assert "not delivered" not in server.stderr()
