#!/usr/bin/env bash
# `make run`: the server with a local single-node Kafka, ready to take events.
# With PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS set it uses that broker and
# starts none; with PUBLISHER_TYPE=log it needs no broker at all. With
# PUBLISHER_TYPE=pubsub it starts Google's Pub/Sub emulator instead, unless
# PUBSUB_EMULATOR_HOST or credentials name a Pub/Sub of your own. With
# PUBLISHER_TYPE=kinesis it starts kinesalite, a local Kinesis API server,
# unless AWS_ENDPOINT_URL_KINESIS or AWS_ENDPOINT_URL names one.
set -euo pipefail

raccoon=${1:?usage: run.sh PATH_TO_RACCOON}
here=$(cd "$(dirname "$0")" && pwd)
port=${SERVER_WEBSOCKET_PORT:-8080}
export SERVER_WEBSOCKET_PORT=$port
kafka_dir=""
pubsub_dir=""
kinesalite_dir=""

cleanup() {
    if [ -n "${raccoon_pid:-}" ] && kill -0 "$raccoon_pid" 2>/dev/null; then
        kill -TERM "$raccoon_pid"
        wait "$raccoon_pid" || true
    fi
    if [ -n "$kafka_dir" ]; then
        echo "run.sh: stopping Kafka" >&2
        "$here/kafka.sh" stop "$kafka_dir"
        rm -rf "$kafka_dir"
    fi
    if [ -n "$pubsub_dir" ]; then
        echo "run.sh: stopping the Pub/Sub emulator" >&2
        "$here/pubsub-emulator.sh" stop "$pubsub_dir"
        rm -rf "$pubsub_dir"
    fi
    if [ -n "$kinesalite_dir" ]; then
        echo "run.sh: stopping kinesalite" >&2
        "$here/kinesalite.sh" stop "$kinesalite_dir"
        rm -rf "$kinesalite_dir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

publisher=${PUBLISHER_TYPE:-kafka}
if [ "${publisher,,}" = "kafka" ] && [ -z "${PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS:-}" ]; then
    kafka_dir=$(mktemp -d -t raccoon-kafka.XXXXXX)
    echo "run.sh: starting a single-node Kafka in $kafka_dir" >&2
    PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS=$("$here/kafka.sh" start "$kafka_dir")
    export PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS
fi
if [ "${publisher,,}" = "pubsub" ] && [ -z "${PUBSUB_EMULATOR_HOST:-}" ] &&
    [ -z "${PUBLISHER_PUBSUB_CREDENTIALS:-}${GOOGLE_APPLICATION_CREDENTIALS:-}" ]; then
    pubsub_dir=$(mktemp -d -t raccoon-pubsub.XXXXXX)
    echo "run.sh: starting the Pub/Sub emulator in $pubsub_dir" >&2
    PUBSUB_EMULATOR_HOST=$("$here/pubsub-emulator.sh" start "$pubsub_dir")
    export PUBSUB_EMULATOR_HOST
    export PUBLISHER_PUBSUB_PROJECT_ID=${PUBLISHER_PUBSUB_PROJECT_ID:-raccoon-local}
    export PUBLISHER_PUBSUB_TOPIC_AUTOCREATE=${PUBLISHER_PUBSUB_TOPIC_AUTOCREATE:-true}
fi

if [ "${publisher,,}" = "kinesis" ] &&
    [ -z "${AWS_ENDPOINT_URL_KINESIS:-}${AWS_ENDPOINT_URL:-}" ]; then
    kinesalite_dir=$(mktemp -d -t raccoon-kinesalite.XXXXXX)
    echo "run.sh: starting kinesalite in $kinesalite_dir" >&2
    AWS_ENDPOINT_URL_KINESIS=http://$("$here/kinesalite.sh" start "$kinesalite_dir")
    export AWS_ENDPOINT_URL_KINESIS
    # kinesalite takes any key, and makes PROVISIONED streams only.
    export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-local} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-local}
    export PUBLISHER_KINESIS_AWS_REGION=${PUBLISHER_KINESIS_AWS_REGION:-us-east-1}
    export PUBLISHER_KINESIS_STREAM_AUTOCREATE=${PUBLISHER_KINESIS_STREAM_AUTOCREATE:-true}
    export PUBLISHER_KINESIS_STREAM_MODE=${PUBLISHER_KINESIS_STREAM_MODE:-PROVISIONED}
fi

"$raccoon" server "${@:2}" &
raccoon_pid=$!

for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/ping" >/dev/null 2>&1 && break
    kill -0 "$raccoon_pid" 2>/dev/null || exit 1
    sleep 0.1
done

payload=$(printf 'hello raccoon' | base64)
cat >&2 <<EOF_HELP

Raccoon listens on http://127.0.0.1:$port (REST: POST /api/v1/events, health: GET /ping).
Send a batch:

  curl -s -X POST http://127.0.0.1:$port/api/v1/events \\
    -H 'Content-Type: application/json' -H 'X-User-ID: user-1' \\
    -d '{"req_guid":"req-1","sent_time":{"seconds":$(date +%s)},"events":[{"type":"click","event_bytes":"$payload"}]}'

EOF_HELP
if [ "${publisher,,}" = "kafka" ]; then
    cat >&2 <<EOF_HELP
Read it back from Kafka:

  kcat -b $PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS -C -t clickstream-click-log -o beginning -e

EOF_HELP
fi
if [ -n "$pubsub_dir" ]; then
    emulator=http://$PUBSUB_EMULATOR_HOST/v1/projects/$PUBLISHER_PUBSUB_PROJECT_ID
    cat >&2 <<EOF_HELP
A Pub/Sub subscription sees what is published after it is made; make one
before sending, then read it back from the emulator:

  curl -s -X PUT $emulator/topics/clickstream-click-log
  curl -s -X PUT $emulator/subscriptions/click-reader -H 'Content-Type: application/json' \\
    -d '{"topic":"projects/$PUBLISHER_PUBSUB_PROJECT_ID/topics/clickstream-click-log"}'
  curl -s -X POST $emulator/subscriptions/click-reader:pull -H 'Content-Type: application/json' \\
    -d '{"maxMessages":10}'

EOF_HELP
fi
if [ -n "$kinesalite_dir" ]; then
    cat >&2 <<EOF_HELP
Read it back from kinesalite (botocore, install-deps.sh kinesis):

  python3 - <<'PY'
import botocore.session
c = botocore.session.get_session().create_client("kinesis", region_name="us-east-1",
    endpoint_url="$AWS_ENDPOINT_URL_KINESIS", aws_access_key_id="local",
    aws_secret_access_key="local")
for shard in c.list_shards(StreamName="clickstream-click-log")["Shards"]:
    it = c.get_shard_iterator(StreamName="clickstream-click-log", ShardId=shard["ShardId"],
                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    print([r["Data"] for r in c.get_records(ShardIterator=it)["Records"]])
PY

EOF_HELP
fi
echo "Ctrl-C stops everything." >&2
wait "$raccoon_pid"
