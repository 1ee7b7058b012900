"""The WebSocket conformance cases (cases.py) against the real server with
the log publisher: each case's result must be the one cases.py expects of
this server (a pass unless a note says why not).

By default the quick cases run (sections 1-7, about a minute). With
CONFORMANCE=all every case runs (section 9's large messages too), and with
CONFORMANCE_REPORT=FILE the results are written into FILE's results section
(`make conformance` writes docs/websocket-conformance.md). The server runs
with EVENT_ACK=1, or CONFORMANCE_EVENT_ACK's value."""

import datetime
import json
import os
import re
import time

import pytest

import cases as conformance
from conftest import pb
from wsclient import BINARY, CLOSE, PONG, TEXT, Connection, close_payload, frame

RUN_ALL = os.environ.get("CONFORMANCE") == "all"
REPORT = os.environ.get("CONFORMANCE_REPORT")
SELECTED = [c for c in conformance.CASES if RUN_ALL or c.quick]
FAILURE_CODES = (conformance.PROTOCOL_ERROR, conformance.BAD_PAYLOAD, conformance.TOO_BIG)


@pytest.fixture(scope="session")
def publisher_settings():
    """No broker: events go to the server's stdout."""
    return {"PUBLISHER_TYPE": "log"}


@pytest.fixture(scope="module")
def server(module_raccoon):
    return module_raccoon.start(event_ack=int(os.environ.get("CONFORMANCE_EVENT_ACK", "1")))


@pytest.fixture(scope="module")
def results():
    collected = {}
    started = time.monotonic()
    yield collected
    if REPORT and collected:
        write_report(REPORT, collected, time.monotonic() - started)


def ack_of(received):
    """A server data frame as an ack's key (cases.Ack.key)."""
    if received.opcode == TEXT:
        answer = json.loads(received.payload)
        if answer.get("status") == pb.STATUS_SUCCESS:
            return ("ok", answer.get("data", {}).get("req_guid", ""), "text")
        return ("error", f"code {answer.get('code')}", "text")
    answer = pb.SendEventResponse()
    answer.ParseFromString(received.payload)
    if answer.status == pb.STATUS_SUCCESS:
        return ("ok", answer.data.get("req_guid", ""), "binary")
    return ("error", f"code {answer.code}", "binary")


def run_case(case, port):
    """Runs one case; returns (result, what was observed)."""
    case.materialize()
    conn = Connection(port)
    last_step_at = time.monotonic()
    try:
        for step in case.steps:
            last_step_at = time.monotonic()
            if not step.run(conn):
                break
        if case.server_close is None:
            def answered(frames, eof):
                acks = sum(f.opcode in (TEXT, BINARY) for f in frames)
                pongs = sum(f.opcode == PONG for f in frames)
                return (eof or any(f.opcode == CLOSE for f in frames)
                        or (acks >= len(case.acks) and pongs >= len(case.pongs)))

            conn.wait_for(answered, case.timeout)
            conn.send(frame(CLOSE, close_payload(1000)))
        conn.wait_for(lambda frames, eof: eof, case.timeout)
    finally:
        conn.close()
    return judge(case, list(conn.frames), conn.eof_at is not None, last_step_at)


def judge(case, frames, eof, last_step_at):
    acks = [ack_of(f) for f in frames if f.opcode in (TEXT, BINARY)]
    pongs = [f.payload for f in frames if f.opcode == PONG]
    closes = [f for f in frames if f.opcode == CLOSE]
    failures, softer = [], []
    expected_acks = [a.key() for a in case.acks]
    if acks != expected_acks:
        shown = acks if len(acks) <= 4 else f"{len(acks)} acks, {sum(a[0] == 'ok' for a in acks)} ok"
        failures.append(f"acks {shown}, expected {len(expected_acks)}")
    if pongs != case.pongs:
        failures.append(f"pongs {[p[:16] for p in pongs]}, expected {len(case.pongs)}")
    expected_code = case.server_close or 1000
    if not closes:
        if case.server_close in FAILURE_CODES and eof:
            softer.append("the TCP connection ended without a close frame")
        else:
            failures.append("no close frame")
    else:
        code = closes[0].close_code
        if len(closes) > 1:
            failures.append(f"{len(closes)} close frames")
        if frames[-1] is not closes[0]:
            failures.append("frames after the close frame")
        if code != expected_code:
            if case.server_close in FAILURE_CODES and code in FAILURE_CODES:
                softer.append(f"closed with {code}, not {expected_code}")
            else:
                failures.append(f"closed with {code}, expected {expected_code}")
        if case.fail_fast and closes[0].at > last_step_at:
            softer.append("failed when the message ended, not at the invalid fragment")
    if not eof:
        failures.append("the server did not end the TCP connection")
    observed = describe(acks, pongs, closes, eof)
    if failures:
        return conformance.FAIL, observed + "; " + "; ".join(failures)
    if softer:
        return conformance.NON_STRICT, observed + "; " + "; ".join(softer)
    return conformance.PASS, observed


def describe(acks, pongs, closes, eof):
    parts = []
    if acks:
        ok = sum(a[0] == "ok" for a in acks)
        parts.append(f"{len(acks)} ack{'s' if len(acks) > 1 else ''}"
                     + (f" ({ok} ok)" if ok != len(acks) else ""))
    if pongs:
        parts.append(f"{len(pongs)} pong{'s' if len(pongs) > 1 else ''}")
    parts.append(f"close {closes[0].close_code}" if closes else "no close frame")
    parts.append("TCP ended" if eof else "TCP open")
    return ", ".join(parts)


@pytest.mark.parametrize("case", SELECTED, ids=lambda c: c.id)
def test_case(server, results, case):
    result, observed = run_case(case, server.port)
    case.release()
    results[case.id] = (case, result, observed)
    assert server.running(), server.stderr()[-4000:]
    if case.known == conformance.INFORMATIONAL:
        return
    assert result == case.known, f"{case.id} {case.title}: {result}: {observed}"


BEGIN, END = "<!-- conformance-results:begin -->", "<!-- conformance-results:end -->"


def write_report(path, collected, seconds):
    order = {c.id: i for i, c in enumerate(conformance.CASES)}
    rows = sorted(collected.values(), key=lambda r: order[r[0].id])
    counts = {}
    for case, result, _ in rows:
        shown = conformance.INFORMATIONAL if case.known == conformance.INFORMATIONAL else result
        counts[shown] = counts.get(shown, 0) + 1
    summary = ", ".join(f"{counts[k]} {k}" for k in (conformance.PASS, conformance.NON_STRICT,
                                                     conformance.FAIL, conformance.INFORMATIONAL)
                        if counts.get(k))
    lines = [BEGIN, "",
             f"Last run: {datetime.date.today().isoformat()}, {len(rows)} cases in {seconds:.0f} s "
             f"({'every case' if RUN_ALL else 'the quick cases'}): {summary}.", "",
             "| Case | What the client does | Expected (RFC 6455) | Result | Observed |",
             "|---|---|---|---|---|"]
    for case, result, observed in rows:
        shown = conformance.INFORMATIONAL if case.known == conformance.INFORMATIONAL else result
        note = f" ({case.note})" if case.note else ""
        cells = [case.id, case.title, case.expected, f"**{shown}**" if shown != "pass" else shown,
                 observed + note]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", END]
    with open(path) as f:
        text = f.read()
    text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: "\n".join(lines), text,
                  flags=re.S)
    with open(path, "w") as f:
        f.write(text)
