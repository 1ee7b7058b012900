#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft) on loopback, for tests and `make run`.
#
#   kafka.sh fetch        download the broker from Maven Central into the cache
#   kafka.sh start DIR    start a broker whose state lives in DIR (formatted on
#                         first use, same port on a restart); prints host:port
#   kafka.sh stop DIR     stop the broker started in DIR, by its PID
#
# The cache is ${RACCOON_CACHE_DIR:-~/.cache/raccoon}; nothing goes in the repo.
# KAFKA_BROKER_PROPERTIES holds extra server.properties lines for a new DIR.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib/peer.sh
. "$here/lib/peer.sh"
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")
cache_dir=${RACCOON_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/raccoon}
libs_dir="$cache_dir/kafka-$kafka_version/libs"
start_timeout_s=${KAFKA_START_TIMEOUT_S:-90}
# The broker's heap and collector: small and serial for the tests; the
# benchmark passes Kafka's own (bench/run_benchmarks.py).
broker_jvm_opts=${KAFKA_BROKER_JVM_OPTS:--Xms256m -Xmx768m -XX:+UseSerialGC}

die() { echo "kafka.sh: $*" >&2; exit 1; }

fetch() {
    [ -f "$libs_dir/.complete" ] && return 0
    command -v mvn >/dev/null || die "maven is missing; run scripts/install-deps.sh"
    echo "kafka.sh: fetching Apache Kafka $kafka_version from Maven Central" >&2
    rm -rf "$libs_dir"
    mkdir -p "$libs_dir"
    mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$libs_dir" >&2 ||
        die "could not fetch the broker with Maven"
    touch "$libs_dir/.complete"
}

java_cmd() {
    local main=$1
    shift
    java -Xms128m -Xmx512m -XX:+UseSerialGC -Djava.awt.headless=true \
        -cp "$libs_dir/*" "$main" "$@"
}

running() {
    local dir=$1
    peer_running "$dir/kafka.pid"
}

takes_requests() {
    local bootstrap=$1
    # A metadata answer that lists the broker means it takes requests.
    timeout 5 kcat -b "$bootstrap" -L -m 3 2>/dev/null | grep -q 'broker 1 at'
}

start() {
    local dir=$1
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    fetch
    running "$dir" && die "a broker already runs in $dir (PID $(cat "$dir/kafka.pid"))"

    if [ ! -f "$dir/server.properties" ]; then
        local port controller_port
        port=$(free_port)
        controller_port=$(free_port)
        while [ "$controller_port" = "$port" ]; do controller_port=$(free_port); done
        cat >"$dir/server.properties" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
log.flush.interval.messages=9223372036854775807
${KAFKA_BROKER_PROPERTIES:-}
PROPERTIES
        echo "127.0.0.1:$port" >"$dir/bootstrap"
        java_cmd kafka.tools.StorageTool format -t "$(java_cmd kafka.tools.StorageTool random-uuid)" \
            -c "$dir/server.properties" >"$dir/format.log" 2>&1 ||
            die "formatting the log dir failed: $(tail -3 "$dir/format.log")"
    fi

    local bootstrap
    bootstrap=$(cat "$dir/bootstrap")
    # shellcheck disable=SC2086 # the options are words
    nohup java $broker_jvm_opts -Djava.awt.headless=true \
        -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
        -cp "$libs_dir/*" kafka.Kafka "$dir/server.properties" >>"$dir/kafka.log" 2>&1 </dev/null &
    echo $! >"$dir/kafka.pid"

    peer_wait_ready "the broker" "$dir/kafka.pid" "$dir/kafka.log" "$start_timeout_s" 0.5 \
        takes_requests "$bootstrap"
    echo "$bootstrap"
}

stop() {
    local dir=$1
    peer_stop "$dir/kafka.pid" 30
}

case "${1:-}" in
    fetch) fetch ;;
    start) [ $# -eq 2 ] || die "usage: kafka.sh start DIR"; start "$2" ;;
    stop) [ $# -eq 2 ] || die "usage: kafka.sh stop DIR"; stop "$2" ;;
    *) die "usage: kafka.sh fetch | start DIR | stop DIR" ;;
esac
