"""The fault suite (`make faults`, docs/reliability.md): for every publisher,
the real server under load from clients of all three transports at once, with
EVENT_ACK=1, while a fault strikes: the broker killed (SIGKILL) and started
again, the broker paused (SIGSTOP) for longer than EVENT_ACK_DEADLINE_MS, the
server stopped (SIGTERM) or killed (SIGKILL). Each run reads the broker back
and compares it with every request's outcome: an event acked as a success and
missing from the broker is lost, and none may be. Two runs under EVENT_ACK=0
give the figures of what acking before delivery costs.

Environment (set by `make faults`):
  RACCOON_BIN             the server binary
  RACCOON_PYTHON_PROTO    dir holding the Python classes of the proto
  RACCOON_FAULTS_REPORT   where the figures go (JSON lines; a Markdown table beside it)
"""

import collections
import json
import os
import signal
import time

import pytest

from clients import EVENT_TYPE, TRANSPORTS, Load, Request
from integration_helpers import RaccoonFactory
from peers import Peers

PUBLISHERS = ("kafka", "pubsub", "kinesis")
FAULTS = ("broker_sigkill", "broker_sigstop", "server_sigterm", "server_sigkill")

ACK_DEADLINE_MS = 2000
SERVER_SETTINGS = {"EVENT_ACK_DEADLINE_MS": ACK_DEADLINE_MS}
# Successes every transport has before the fault strikes, and after the broker is back.
WARM_UP_SUCCESSES = 10
RECOVERY_SUCCESSES = 3
WARM_UP_TIMEOUT_S = 60
RECOVERY_TIMEOUT_S = 90
# The broker stays dead, or paused, this long: past the ack deadline.
OUTAGE_S = 2.5 * ACK_DEADLINE_MS / 1000
# The load runs this long before the fault and after the broker's return.
LOAD_BEFORE_S = 2.0
LOAD_AFTER_S = 1.0
READ_TIMEOUT_S = {0: 15, 1: 60}
# A request sent during a pause is answered within the deadline plus this.
ANSWER_MARGIN_S = 3.0


@pytest.fixture(scope="session")
def peers(tmp_path_factory):
    started = Peers(tmp_path_factory)
    yield started
    started.stop_all()


@pytest.fixture(scope="session")
def report():
    path = os.environ.get("RACCOON_FAULTS_REPORT")
    results = []
    yield results
    if path:
        with open(path, "w") as f:
            for row in results:
                f.write(json.dumps(row) + "\n")
        with open(os.path.splitext(path)[0] + ".md", "w") as f:
            f.write(markdown_table(results))


def markdown_table(rows):
    columns = ("publisher", "fault", "event_ack", "transport", "requests", "success", "error",
               "no_answer", "events_acked", "lost", "duplicated", "unacked", "unacked_in_broker")
    lines = ["| " + " | ".join(columns).replace("_", " ") + " |",
             "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row[c]) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def compare(requests, got):
    """Per transport: the requests' outcomes against what the broker holds."""
    held = collections.Counter(got)
    delivered_reasons = collections.Counter()
    rows = {}
    for transport in TRANSPORTS:
        mine = [r for r in requests if r.transport == transport]
        row = collections.Counter(requests=len(mine))
        for request in mine:
            row[request.outcome if request.outcome != "none" else "no_answer"] += 1
            for payload in request.payloads:
                if held[payload] > 1:
                    row["duplicated"] += held[payload] - 1
                if request.outcome == "success":
                    row["events_acked"] += 1
                    if held[payload] == 0:
                        row["lost"] += 1
                else:
                    row["unacked"] += 1
                    if held[payload] > 0:
                        row["unacked_in_broker"] += 1
                        delivered_reasons[request.detail[:100]] += 1
        rows[transport] = row
    sent = {p for r in requests for p in r.payloads}
    stray = sum(n for payload, n in held.items() if payload not in sent)
    return rows, stray, delivered_reasons


def outcomes(requests):
    """Each transport's outcomes, with a failure of each kind."""
    counts = collections.Counter((r.transport, r.outcome) for r in requests)
    examples = {(r.transport, r.detail.split(":")[0]): r.detail for r in requests
                if r.outcome != "success"}
    return f"{dict(counts)}; {list(examples.values())[:6]}"


def broker_sigkill(peer, server, load, topic, marks):
    peer.kill_under(load, topic)
    marks["killed_at"] = time.monotonic()
    time.sleep(OUTAGE_S)
    peer.restart()
    peer.after_restart(topic, load)
    marks["back_at"] = time.monotonic()


def broker_sigstop(peer, server, load, topic, marks):
    peer.pause()
    marks["paused_at"] = time.monotonic()
    time.sleep(OUTAGE_S)
    peer.resume()
    marks["back_at"] = time.monotonic()


def server_sigterm(peer, server, load, topic, marks):
    marks["signalled_at"] = time.monotonic()
    code, seconds = server.stop()
    marks["exit"] = code
    marks["exit_seconds"] = round(seconds, 2)


def server_sigkill(peer, server, load, topic, marks):
    marks["signalled_at"] = time.monotonic()
    server.send_signal(signal.SIGKILL)
    marks["exit"], _ = server.stop(timeout=10)


FAULT_ACTIONS = {f.__name__: f for f in (broker_sigkill, broker_sigstop, server_sigterm,
                                          server_sigkill)}


def run(publisher, fault, event_ack, peers, tmp_path_factory, report):
    """One fault under load; returns (per-transport rows, stray events,
    server problems, marks, requests)."""
    peer = peers.get(publisher)
    factory = RaccoonFactory(tmp_path_factory, peer.settings())
    server = factory.start(event_ack=event_ack, env=SERVER_SETTINGS)
    topic = server.topic(EVENT_TYPE)
    peer.prepare(topic)
    marks = {}
    started = time.monotonic()
    try:
        with Load(server) as load:
            warm = load.ledger.wait_for_successes(WARM_UP_SUCCESSES, timeout=WARM_UP_TIMEOUT_S)
            assert warm is not None, \
                f"the load did not get through: {outcomes(load.ledger.snapshot())}\n" \
                f"{server.stderr()[-3000:]}"
            time.sleep(LOAD_BEFORE_S)
            FAULT_ACTIONS[fault](peer, server, load, topic, marks)
            if "back_at" in marks:
                marks["recovery_s"] = load.ledger.wait_for_successes(
                    RECOVERY_SUCCESSES, sent_after=marks["back_at"], timeout=RECOVERY_TIMEOUT_S)
                time.sleep(LOAD_AFTER_S)
    finally:
        peer.heal()
        problems = factory.stop_all()
    requests = load.ledger.snapshot()
    # What the broker should hold; reading waits for it, and no longer (under
    # EVENT_ACK=0 it may never all come).
    expected = sum(len(r.payloads) for r in requests if r.outcome == "success")
    got = peer.read(topic, expected, timeout=READ_TIMEOUT_S[event_ack])
    rows, stray, delivered_reasons = compare(requests, got)

    seconds = round(time.monotonic() - started, 1)
    for transport, row in rows.items():
        report.append({"publisher": publisher, "fault": fault, "event_ack": event_ack,
                       "transport": transport, "seconds": seconds, **{k: row[k] for k in (
                           "requests", "success", "error", "no_answer", "events_acked", "lost",
                           "duplicated", "unacked", "unacked_in_broker")}})
    print(f"{publisher} {fault} EVENT_ACK={event_ack} in {seconds}s, marks {marks}")
    for transport, row in rows.items():
        print(f"  {transport}: {dict(row)}")
    print(f"  outcomes: {outcomes(requests)}")
    print(f"  unacked events in the broker, by the answer: {dict(delivered_reasons)}")
    return rows, stray, problems, marks, requests


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("publisher", PUBLISHERS)
def test_no_success_acked_event_is_lost(publisher, fault, peers, tmp_path_factory, report):
    rows, stray, problems, marks, requests = run(publisher, fault, 1, peers, tmp_path_factory,
                                                 report)
    lost = {t: row["lost"] for t, row in rows.items() if row["lost"]}
    assert not lost, f"success-acked events missing from {publisher}: {lost}"
    assert stray == 0, f"{stray} events in the topic that no client sent"
    assert not problems, "\n".join(problems)
    if fault == "server_sigterm":
        assert marks["exit"] == 0, f"SIGTERM under load: exit {marks['exit']}"
    if "back_at" in marks:
        assert marks["recovery_s"] is not None, \
            f"no transport got {RECOVERY_SUCCESSES} successes within {RECOVERY_TIMEOUT_S}s " \
            "of the broker's return"
    if fault == "broker_sigstop":
        paused = [r for r in requests
                  if marks["paused_at"] <= r.sent_at < marks["back_at"] - ANSWER_MARGIN_S]
        slow = [r for r in paused
                if r.answered_at - r.sent_at > ACK_DEADLINE_MS / 1000 + ANSWER_MARGIN_S]
        assert not slow, f"{len(slow)} requests sent during the pause waited past the deadline"


@pytest.mark.parametrize("fault", ("broker_sigkill", "server_sigkill"))
def test_figures_under_event_ack_0(fault, peers, tmp_path_factory, report):
    """EVENT_ACK=0 acks a batch once it is read, before the broker has it:
    these runs give the figures of what that costs (docs/reliability.md), and
    check only that nothing arrives that was not sent."""
    rows, stray, problems, marks, requests = run("kafka", fault, 0, peers, tmp_path_factory,
                                                 report)
    assert stray == 0, f"{stray} events in the topic that no client sent"
    assert not problems, "\n".join(problems)


def test_the_comparison_counts_lost_duplicated_and_unacked_events():
    acked = Request("rest", "a", [b"a0", b"a1", b"a2"], 0.0, 1.0, "success")
    failed = Request("grpc", "b", [b"b0", b"b1"], 0.0, 1.0, "error")
    unanswered = Request("websocket", "c", [b"c0"], 0.0)
    rows, stray, _ = compare([acked, failed, unanswered],
                             [b"a0", b"a2", b"a2", b"b1", b"c0", b"x"])
    assert (rows["rest"]["lost"], rows["rest"]["duplicated"]) == (1, 1)
    assert (rows["grpc"]["unacked"], rows["grpc"]["unacked_in_broker"]) == (2, 1)
    assert (rows["websocket"]["no_answer"], rows["websocket"]["unacked_in_broker"]) == (1, 1)
    assert stray == 1
