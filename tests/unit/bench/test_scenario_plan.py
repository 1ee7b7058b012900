"""Which runs a scenario makes (bench/run_benchmarks.py's transport_scenario),
without a broker or a server: the maximum first, then each fraction of it,
50% repeated when asked, every open-loop run carrying its fraction; a peer
scenario's runs between its peer's start and stop."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench"))
import run_benchmarks as suite  # noqa: E402


class RecordingBench(suite.Bench):
    """A Bench whose runs are recorded instead of made; the maximum's run
    answers at `max_acks_per_s`."""

    def __init__(self, max_acks_per_s):
        self.max_acks_per_s = max_acks_per_s
        self.calls = []

    def run(self, scenario, label, transport, event_ack, plan, fraction=None,
            publisher="kafka"):
        self.calls.append((label, plan, fraction))
        return {"acks_per_s": self.max_acks_per_s}


def test_the_half_load_run_is_repeated_and_every_open_loop_run_names_its_fraction():
    bench = RecordingBench(max_acks_per_s=1000.0)
    bench.transport_scenario(1, "websocket", 1, [0.25, 0.5, 0.9], half_load_repeats=3)
    assert bench.calls == [
        ("max (closed loop)", ["--window", suite.MAX_WINDOW], None),
        ("25% of max (open loop)", ["--rate", 250], 0.25),
        ("50% of max (open loop), run 1 of 3", ["--rate", 500], 0.5),
        ("50% of max (open loop), run 2 of 3", ["--rate", 500], 0.5),
        ("50% of max (open loop), run 3 of 3", ["--rate", 500], 0.5),
        ("90% of max (open loop)", ["--rate", 900], 0.9),
    ]
    # The report finds the target's runs by that fraction.
    runs = [{"fraction": fraction} for _label, _plan, fraction in bench.calls]
    assert len(suite.half_load_runs(runs)) == 3


def test_a_single_half_load_run_has_no_run_number():
    bench = RecordingBench(max_acks_per_s=1000.0)
    bench.transport_scenario(3, "rest", 1, [0.5])
    assert [label for label, _plan, _fraction in bench.calls] == [
        "max (closed loop)", "50% of max (open loop)"]


def test_no_open_loop_runs_without_throughput_at_the_maximum():
    bench = RecordingBench(max_acks_per_s=0.0)
    bench.transport_scenario(4, "grpc", 1, [0.5], half_load_repeats=3)
    assert [label for label, _plan, _fraction in bench.calls] == ["max (closed loop)"]


class StartStopPeer:
    def __init__(self, log, publisher):
        self.log = log
        self.publisher = publisher

    def start(self):
        self.log.append(("start", self.publisher))

    def stop(self):
        self.log.append(("stop", self.publisher))


class PeerRecordingBench(RecordingBench):
    """A RecordingBench whose peers record their starts and stops among the runs."""

    def __init__(self, max_acks_per_s, fail_on=None):
        super().__init__(max_acks_per_s)
        self.log = []
        self.fail_on = fail_on
        self.peers = {publisher: StartStopPeer(self.log, publisher) for publisher in suite.PEERS}

    def run(self, scenario, label, transport, event_ack, plan, fraction=None,
            publisher="kafka"):
        self.log.append(("run", publisher, scenario, label))
        if publisher == self.fail_on:
            raise RuntimeError("the server did not start")
        return super().run(scenario, label, transport, event_ack, plan, fraction, publisher)


def test_each_peer_scenario_runs_scenario_1s_load_against_its_own_peer_between_start_and_stop():
    bench = PeerRecordingBench(max_acks_per_s=1000.0)
    for scenario, publisher in suite.PEER_SCENARIOS.items():
        bench.peer_scenario(scenario, publisher)
    assert bench.log == [
        ("start", "pubsub"),
        ("run", "pubsub", suite.PUBSUB_SCENARIO, "max (closed loop)"),
        ("run", "pubsub", suite.PUBSUB_SCENARIO, "50% of max (open loop)"),
        ("stop", "pubsub"),
        ("start", "kinesis"),
        ("run", "kinesis", suite.KINESIS_SCENARIO, "max (closed loop)"),
        ("run", "kinesis", suite.KINESIS_SCENARIO, "50% of max (open loop)"),
        ("stop", "kinesis"),
    ]
    assert [plan for _label, plan, _fraction in bench.calls] == [
        ["--window", suite.MAX_WINDOW], ["--rate", 500]] * 2


def test_a_peer_is_stopped_when_its_scenario_fails():
    bench = PeerRecordingBench(max_acks_per_s=1000.0, fail_on="kinesis")
    with pytest.raises(RuntimeError, match="did not start"):
        bench.peer_scenario(suite.KINESIS_SCENARIO, "kinesis")
    assert bench.log[-1] == ("stop", "kinesis")
