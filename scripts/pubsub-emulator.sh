#!/usr/bin/env bash
# Google's Cloud Pub/Sub emulator on loopback, for tests, `make run` and the benchmark.
#
#   pubsub-emulator.sh start DIR   start an emulator whose files live in DIR (the same port
#                                  on a restart in the same DIR); prints host:port, the value
#                                  for PUBSUB_EMULATOR_HOST
#   pubsub-emulator.sh stop DIR    stop the emulator started in DIR, by its PID
#
# The emulator keeps topics and messages in memory only: a restart starts empty.
# It comes with the Google Cloud CLI (scripts/install-deps.sh pubsub says how to get it);
# PUBSUB_EMULATOR_BIN names another copy.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib/peer.sh
. "$here/lib/peer.sh"
emulator=${PUBSUB_EMULATOR_BIN:-/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator}
start_timeout_s=${PUBSUB_EMULATOR_START_TIMEOUT_S:-60}
# Small and serial for the tests: published messages with no subscription are not kept.
jvm_opts=${PUBSUB_EMULATOR_JVM_OPTS:--Xms64m -Xmx512m -XX:+UseSerialGC}

die() { echo "pubsub-emulator.sh: $*" >&2; exit 1; }

running() {
    local dir=$1
    peer_running "$dir/emulator.pid"
}

answers() {
    local host=$1
    [ "$(curl -s --max-time 2 "http://$host/" 2>/dev/null)" = "Ok" ]
}

start() {
    local dir=$1
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ -x "$emulator" ] || die "no emulator at $emulator; run scripts/install-deps.sh pubsub"
    command -v java >/dev/null || die "java is missing; run scripts/install-deps.sh pubsub"
    running "$dir" && die "an emulator already runs in $dir (PID $(cat "$dir/emulator.pid"))"

    [ -f "$dir/host" ] || echo "127.0.0.1:$(free_port)" >"$dir/host"
    local host
    host=$(cat "$dir/host")
    # Its INFO lines name every REST request's headers: warnings only.
    echo ".level=WARNING" >"$dir/logging.properties"
    # The launcher execs java, so $! is the emulator's own PID.
    # shellcheck disable=SC2086 # the options are words
    JAVA_OPTS="$jvm_opts -Djava.util.logging.config.file=$dir/logging.properties" \
        nohup "$emulator" --host=127.0.0.1 --port="${host##*:}" >>"$dir/emulator.log" 2>&1 </dev/null &
    echo $! >"$dir/emulator.pid"

    peer_wait_ready "the emulator on $host" "$dir/emulator.pid" "$dir/emulator.log" \
        "$start_timeout_s" 0.3 answers "$host"
    echo "$host"
}

stop() {
    local dir=$1
    peer_stop "$dir/emulator.pid" 10
}

case "${1:-}" in
    start) [ $# -eq 2 ] || die "usage: pubsub-emulator.sh start DIR"; start "$2" ;;
    stop) [ $# -eq 2 ] || die "usage: pubsub-emulator.sh stop DIR"; stop "$2" ;;
    *) die "usage: pubsub-emulator.sh start DIR | stop DIR" ;;
esac
