"""The benchmark suite's own arithmetic (bench/run_benchmarks.py), without a
broker or a server: which of the broker's GC pauses a run is charged with,
the p99 target's figure at 50% load, and the results table's columns."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench"))
import run_benchmarks as suite  # noqa: E402


def test_a_run_is_charged_with_the_pauses_that_ended_within_it(tmp_path):
    log = tmp_path / "gc.log"
    log.write_text(
        "[0.003s] Using G1\n"
        "[1.500s] GC(0) Pause Young (Normal) (G1 Evacuation Pause) 51M->7M(1024M) 10.910ms\n"
        "[2.125s] GC(1) Pause Young (Concurrent Start) (Metadata GC Threshold) "
        "23M->9M(1024M) 11.462ms\n"
        "[2.125s] GC(2) Concurrent Mark Cycle\n"
        "[2.147s] GC(2) Pause Remark 10M->10M(1024M) 4.661ms\n"
        "[2.200s] GC(2) Concurrent Mark Cycle 75.123ms\n"
        "[9.000s] GC(3) Pause Young (Normal) (G1 Evacuation Pause) 60M->8M(1024M) 13.000ms\n")
    kafka = object.__new__(suite.Kafka)
    kafka.gc_log = str(log)
    kafka.started_uptime = 100.0  # the broker started 100 s after the machine
    # Uptime 101.0-102.2: the pauses at JVM seconds 1.5, 2.125 and 2.147; the
    # concurrent cycle is not a pause, the one at 9 s is after the run.
    assert kafka.gc_pauses(101.0, 102.2) == [10.910, 11.462, 4.661]
    assert kafka.gc_pauses(102.2, 108.0) == []


def run(label, p99, mode="open", lag_p99=250.0, fraction=None):
    return {"label": label, "mode": mode, "fraction": fraction,
            "offered_requests_per_s": 1000 if mode == "open" else None,
            "latency_us": {"p50": 900.0, "p90": 1500.0, "p99": p99, "p99_9": 2 * p99,
                           "max": 3 * p99},
            "loadgen_schedule_lag_us": {"p99": lag_p99} if mode == "open" else {},
            "events_per_s": 10000.0, "acks_per_s": 1000.0, "server_cpu_us_per_event": 1.5,
            "server_cores": 0.5, "broker_cores": 0.2, "loadgen_cores": 0.4, "other_cores": 0.0,
            "stolen_cores": 0.3, "machine_busy_cores": 1.1,
            "broker_gc_pauses_ms": [12.0], "events_delivered": 150000, "events_acked": 150000,
            "errors": {}}


def test_the_p99_target_takes_the_median_of_the_half_load_runs_and_shows_each():
    runs = [run("max (closed loop)", 50_000, mode="closed"),
            run("25% of max (open loop)", 2_000, fraction=0.25),
            run("50% of max (open loop), run 1 of 3", 3_000, fraction=0.5),
            run("50% of max (open loop), run 2 of 3", 184_000, fraction=0.5),
            run("50% of max (open loop), run 3 of 3", 4_600, fraction=0.5),
            run("75% of max (open loop)", 9_000, fraction=0.75)]
    half = suite.half_load_runs(runs)
    assert [r["latency_us"]["p99"] for r in half] == [3_000, 184_000, 4_600]
    assert suite.median_by_p99(half)["latency_us"]["p99"] == 4_600
    assert suite.half_load_p99(half) == "4.6 ms (median of 3 runs: 3.0 ms, 184 ms, 4.6 ms)"
    assert suite.half_load_p99(half[:1]) == "3.0 ms"


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_every_row_of_the_results_table_has_the_headers_columns(mode):
    table = suite.run_table([run("a run", 5_000, mode=mode)]).splitlines()
    header, rule, row = table
    cells = [c.strip() for c in row.strip("|").split("|")]
    names = [c.strip() for c in header.strip("|").split("|")]
    assert len(cells) == len(names) == rule.count("|") - 1
    late = cells[names.index("loadgen late p99")]
    assert late == ("250 µs" if mode == "open" else "–")
    assert cells[names.index("p99")] == "5.0 ms"
    assert cells[names.index("stolen cores")] == "0.30"


def test_busy_and_stolen_seconds_come_apart_from_proc_stat():
    # user nice system idle iowait irq softirq steal guest guest_nice
    line = "cpu  1000 20 300 5000 70 0 10 450 0 0"
    busy, stolen = suite.cpu_seconds_from_stat(line)
    assert busy == pytest.approx((1000 + 20 + 300 + 0 + 10) / suite.CLOCK_TICKS)
    assert stolen == pytest.approx(450 / suite.CLOCK_TICKS)


def test_a_machine_busy_with_the_hypervisors_other_guests_is_named_as_the_bound():
    peak = run("max (closed loop)", 50_000, mode="closed")
    peak.update(server_cores=0.7, loadgen_cores=0.4, broker_cores=0.2, other_cores=0.0,
                machine_busy_cores=1.3, stolen_cores=0.6)
    verdict = suite.bottleneck(peak, 2)
    assert "stolen by the hypervisor 0.60" in verdict
    assert verdict.endswith("bound by the machine's CPU as a whole (server, load generator, "
                            "broker, the hypervisor's other guests share it)")


def publisher_run(scenario, publisher, label, p99, fraction=None):
    r = run(label, p99, mode="closed" if fraction is None else "open", fraction=fraction)
    r.update(scenario=scenario, publisher=publisher, transport="websocket", event_ack=1,
             server_vm_hwm_kib=50_000, server_exit=0)
    return r


def test_the_publishers_stand_side_by_side_at_the_maximum_and_the_median_half_load_run():
    by = {1: [publisher_run(1, "kafka", "max (closed loop)", 40_000),
              publisher_run(1, "kafka", "50% of max (open loop), run 1 of 3", 3_000, 0.5),
              publisher_run(1, "kafka", "50% of max (open loop), run 2 of 3", 9_000, 0.5),
              publisher_run(1, "kafka", "50% of max (open loop), run 3 of 3", 5_000, 0.5)],
          suite.KINESIS_SCENARIO: [
              publisher_run(8, "kinesis", "max (closed loop)", 900_000),
              publisher_run(8, "kinesis", "50% of max (open loop)", 20_000, 0.5)]}
    rows = suite.publishers_table(by).splitlines()[2:]
    assert [row.split("|")[1:4] for row in rows] == [
        [" Kafka (1) ", " Kafka's broker ", " max (closed loop) "],
        [" Kafka (1) ", " Kafka's broker ", " 50% of max (open loop), run 3 of 3 "],
        [" Pub/Sub (7) ", " the Pub/Sub emulator ", " not run "],
        [" Kinesis (8) ", " kinesalite ", " max (closed loop) "],
        [" Kinesis (8) ", " kinesalite ", " 50% of max (open loop) "]]
    kinesis_max = [c.strip() for c in rows[3].strip("|").split("|")]
    assert kinesis_max[3:] == ["10,000", "900 µs", "900 ms", "1.50", "0.20"]
    assert all(row.count("|") == rows[0].count("|") for row in rows)


def test_the_report_names_each_peer_that_ran_and_how_it_counted_delivered(tmp_path):
    bench = object.__new__(suite.Bench)
    bench.runs = [publisher_run(1, "kafka", "max (closed loop)", 40_000),
                  publisher_run(8, "kinesis", "max (closed loop)", 900_000)]
    bench.peers = {publisher: peer("/nonexistent") for publisher, peer in suite.PEERS.items()}
    bench.quick, bench.pinned, bench.warmup, bench.duration = True, False, 2, 5
    bench.half_load_repeats, bench.idle_levels = 1, [2000]
    mach = {"nproc": 2, "usable_cores": [0, 1], "model": "", "memory_gib": 1.0,
            "kernel": "6", "date": "today", "commit": "abc", "loadavg_at_start": [0, 0, 0]}
    path = tmp_path / "benchmarks.md"
    suite.write_report(bench, mach, {}, [], str(path), started=0.0)
    report = path.read_text()
    assert "- Kafka 3." in report and "- kinesalite 3." in report
    assert "Pub/Sub emulator from" not in report
    assert "Kinesis: the server's `kinesis_messages_delivered_total`" in report
    assert f"### {suite.SCENARIO_TITLES[suite.KINESIS_SCENARIO]}\n" in report
    assert f"### {suite.SCENARIO_TITLES[suite.PUBSUB_SCENARIO]}\n\nNot run." in report
    assert "| 8 (websocket, EVENT_ACK=1, Kinesis) | max (closed loop) | 1.50 |" in report
