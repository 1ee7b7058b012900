"""The benchmark suite's broker (bench/run_benchmarks.py's Kafka, started by
scripts/kafka.sh with the suite's extra properties): a deleted run's files are
gone before delete_topic returns, so no later run carries their removal.
Kafka's default would keep them for a minute, past delete_topic's bound."""

from confluent_kafka import Producer
from confluent_kafka.admin import ConfigResource

import run_benchmarks as suite  # bench/, on the path through conftest

TOPIC = "bench-01-1-type-0"
MESSAGES = 20_000


def test_a_deleted_topics_files_are_gone_when_delete_topic_returns(tmp_path):
    kafka = suite.Kafka(str(tmp_path / "kafka"))
    kafka.start()
    try:
        broker = ConfigResource(ConfigResource.Type.BROKER, "1")
        configs = kafka.admin.describe_configs([broker])[broker].result(timeout=30)
        for name in ("log.segment.delete.delay.ms", "log.initial.task.delay.ms"):
            assert configs[name].value == "1000", name

        kafka.create_topic(TOPIC)
        producer = Producer({"bootstrap.servers": kafka.address, "linger.ms": 5})
        for i in range(MESSAGES):
            producer.produce(TOPIC, value=b"x" * 200, partition=i % suite.PARTITIONS)
            producer.poll(0)
        assert producer.flush(30) == 0
        # As the suite stops its server first: a live producer's metadata
        # requests would create the topic again (auto.create.topics.enable).
        del producer
        assert kafka.message_count(TOPIC) == MESSAGES
        assert kafka.topic_dirs(TOPIC) == [f"{TOPIC}-{p}" for p in range(suite.PARTITIONS)]

        kafka.delete_topic(TOPIC, timeout=30)
        assert kafka.topic_dirs(TOPIC) == []
    finally:
        kafka.stop()
