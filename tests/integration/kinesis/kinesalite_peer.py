"""kinesalite, a local Kinesis API server, for the kinesis publisher's tests,
and botocore (an independent client) to read it back. A test module imports
the fixtures it uses (`from kinesalite_peer import kinesalite, publisher_settings`):
a second conftest.py would shadow the shared one's module name.

Environment (set by tests/integration/kinesis/CMakeLists.txt):
  RACCOON_KINESALITE_DIR     the fixture's kinesalite state dir (its port in DIR/port)
  RACCOON_KINESALITE_SCRIPT  scripts/kinesalite.sh (start DIR / stop DIR)
"""

import base64
import json
import os
import subprocess
import time

import botocore.config
import botocore.session
import pytest

from conftest import HOST, env_path

REGION = "us-east-1"
# kinesalite checks only that requests are signed, not by whom.
ACCESS_KEY = "AKIDRACCOONTEST"
SECRET_KEY = "raccoon-test-secret"


def kinesalite_script():
    return env_path("RACCOON_KINESALITE_SCRIPT")


def kinesalite_endpoint(directory):
    with open(os.path.join(directory, "port")) as f:
        return f"http://{HOST}:{f.read().strip()}"


def start_kinesalite(directory):
    out = subprocess.run([kinesalite_script(), "start", str(directory)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return kinesalite_endpoint(directory)


def stop_kinesalite(directory):
    subprocess.run([kinesalite_script(), "stop", str(directory)], timeout=30, check=True)


def kinesis_client(endpoint):
    return botocore.session.get_session().create_client(
        "kinesis", region_name=REGION, endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=botocore.config.Config(retries={"max_attempts": 2}, connect_timeout=5,
                                      read_timeout=10))


def kinesis_settings(endpoint, **extra):
    settings = {
        "PUBLISHER_TYPE": "kinesis",
        "PUBLISHER_KINESIS_AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_KINESIS": endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "PUBLISHER_KINESIS_STREAM_AUTOCREATE": "true",
        "PUBLISHER_KINESIS_STREAM_MODE": "PROVISIONED",
        "PUBLISHER_KINESIS_STREAM_SHARDS": 2,
        "PUBLISHER_KINESIS_STREAM_PROBE_INTERVAL_MS": 100,
        "PUBLISHER_KINESIS_PUBLISH_TIMEOUT_MS": 15000,
    }
    settings.update(extra)
    return settings


@pytest.fixture(scope="session")
def kinesalite():
    return kinesalite_endpoint(env_path("RACCOON_KINESALITE_DIR"))


@pytest.fixture(scope="session")
def publisher_settings(kinesalite):
    return kinesis_settings(kinesalite)


class KinesisReader:
    """Reads streams back with GetRecords, every shard from its start."""

    def __init__(self, endpoint):
        self.client = kinesis_client(endpoint)

    def shards(self, stream):
        return self.client.list_shards(StreamName=stream)["Shards"]

    def read(self, stream, count, timeout=30.0):
        """{shard id: [data, ...]} once `count` records arrived or `timeout` passed."""
        deadline = time.monotonic() + timeout
        while True:
            by_shard = self._read_all(stream)
            total = sum(len(records) for records in by_shard.values())
            if total >= count or time.monotonic() > deadline:
                return by_shard
            time.sleep(0.2)

    def _read_all(self, stream):
        try:
            shards = self.shards(stream)
        except self.client.exceptions.ResourceNotFoundException:
            return {}
        by_shard = {}
        for shard in shards:
            iterator = self.client.get_shard_iterator(
                StreamName=stream, ShardId=shard["ShardId"],
                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            records = []
            for _ in range(1000):
                page = self.client.get_records(ShardIterator=iterator, Limit=10000)
                records.extend(r["Data"] for r in page["Records"])
                iterator = page.get("NextShardIterator")
                if not page["Records"] or not iterator:
                    break
            by_shard[shard["ShardId"]] = records
        return by_shard

    def data(self, stream, count, timeout=30.0):
        return [d for records in self.read(stream, count, timeout).values() for d in records]


@pytest.fixture
def reader(kinesalite):
    return KinesisReader(kinesalite)


def records_of(put_records_body):
    """(data, record) of each record of a PutRecords request body."""
    return [(base64.b64decode(r["Data"]), r) for r in json.loads(put_records_body)["Records"]]
