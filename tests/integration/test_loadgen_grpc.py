"""raccoon-loadgen's gRPC mode (EventService/SendEvent on the callback API,
one channel per connection) against the real server and broker under
EVENT_ACK=1: every ack matched to its request by req_guid, every event in
Kafka exactly once and byte for byte. The loadgen helpers are in conftest.py.
"""

import subprocess
import uuid

import pytest

from conftest import (
    HOST,
    assert_loadgen_all_acked,
    assert_loadgen_in_kafka_once,
    free_port,
    loadgen_bin,
    loadgen_standard_args,
    run_loadgen,
)


def grpc_url(server):
    return f"grpc://{HOST}:{server.env['SERVER_GRPC_PORT']}"


@pytest.mark.parametrize("plan", [["--window", 4], ["--rate", 400]], ids=["closed", "open"])
def test_grpc_requests_acked_and_delivered_once(raccoon, kafka, tmp_path, plan):
    server = raccoon.start(event_ack=1)
    guid_prefix = f"loadgen-grpc-{plan[0][2:]}-{uuid.uuid4().hex[:8]}"
    run = run_loadgen(grpc_url(server), tmp_path,
                      *loadgen_standard_args("proto", guid_prefix, "grpc-"), *plan)
    assert_loadgen_all_acked(run, guid_prefix)
    assert run.summary["config"]["transport"] == "grpc"
    assert run.summary["config"]["mode"] == ("closed" if plan[0] == "--window" else "open")
    assert_loadgen_in_kafka_once(kafka, server, guid_prefix)


def test_grpc_refuses_json():
    proc = subprocess.run(
        [loadgen_bin(), "--url", f"grpc://{HOST}:1", "--format", "json", "--requests", "1"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert "protobuf only" in proc.stderr, proc.stderr


def test_grpc_server_down_fails_the_run(tmp_path):
    """No server on the port: the channel never gets ready, and the run says so."""
    run = run_loadgen(f"grpc://{HOST}:{free_port()}", tmp_path, "--requests", 1,
                      "--connect-timeout", 2, timeout=30)
    assert run.returncode == 1, str(run)
    assert run.summary["connections"]["failed"] == 1, run.summary
