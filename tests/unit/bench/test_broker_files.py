"""The benchmark suite waits after deleting a run's topic until the broker
has removed its files (bench/run_benchmarks.py), without a broker: which
directories of the log dir are the topic's, and how long it waits."""

import os
import sys
import threading

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench"))
import run_benchmarks as suite  # noqa: E402

TOPIC = "bench-07-1795800000-type-0"


def kafka_with_log_dir(tmp_path, names):
    data = tmp_path / "data"
    data.mkdir()
    for name in names:
        (data / name).mkdir()
    kafka = object.__new__(suite.Kafka)
    kafka.directory = str(tmp_path)
    return kafka


def test_the_topics_dirs_are_its_partitions_as_they_were_or_renamed_for_deletion(tmp_path):
    kafka = kafka_with_log_dir(tmp_path, [
        f"{TOPIC}-0",
        f"{TOPIC}-1.9f8e7d6c5b4a39281706f5e4d3c2b1a0-delete",
        f"{TOPIC}-12",
        # Another topic whose name starts with this one's, a partition moved
        # aside as stray (Kafka keeps those), and the broker's own topics.
        f"{TOPIC}-extra-0",
        f"{TOPIC}-2.9f8e7d6c5b4a39281706f5e4d3c2b1a0-stray",
        "__consumer_offsets-0",
        "__cluster_metadata-0",
    ])
    assert kafka.topic_dirs(TOPIC) == [
        f"{TOPIC}-0", f"{TOPIC}-1.9f8e7d6c5b4a39281706f5e4d3c2b1a0-delete", f"{TOPIC}-12"]


def test_the_wait_returns_once_the_broker_has_removed_the_files(tmp_path):
    kafka = kafka_with_log_dir(tmp_path, [f"{TOPIC}-0.0a-delete", "__consumer_offsets-0"])
    remover = threading.Timer(0.5, os.rmdir, [tmp_path / "data" / f"{TOPIC}-0.0a-delete"])
    remover.start()
    try:
        kafka.wait_until_files_gone(TOPIC, timeout=10)
    finally:
        remover.join()
    assert kafka.topic_dirs(TOPIC) == []


def test_the_wait_fails_when_the_files_stay(tmp_path):
    kafka = kafka_with_log_dir(tmp_path, [f"{TOPIC}-0.0a-delete"])
    with pytest.raises(RuntimeError, match="kept topic .* files 0.5s after deleting it"):
        kafka.wait_until_files_gone(TOPIC, timeout=0.5)
