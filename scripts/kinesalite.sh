#!/usr/bin/env bash
# kinesalite, a local Kinesis Data Streams API server, on loopback, for tests
# and `make run` with PUBLISHER_TYPE=kinesis.
#
#   kinesalite.sh install     npm ci of scripts/kinesalite/package.json into the cache
#   kinesalite.sh start DIR   start a server whose streams live in DIR (same port on
#                             a restart, so a client reconnects); prints host:port
#   kinesalite.sh stop DIR    stop the server started in DIR, by its PID
#
# The cache is ${RACCOON_CACHE_DIR:-~/.cache/raccoon}; nothing goes in the repo.
# KINESALITE_SHARD_LIMIT caps the shards of all streams (LimitExceededException past it).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib/peer.sh
. "$here/lib/peer.sh"
cache_dir=${RACCOON_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/raccoon}
lock_hash=$(sha256sum "$here/kinesalite/package-lock.json" | cut -c1-16)
install_dir="$cache_dir/kinesalite-$lock_hash"
start_timeout_s=${KINESALITE_START_TIMEOUT_S:-30}

die() { echo "kinesalite.sh: $*" >&2; exit 1; }

install() {
    [ -f "$install_dir/.complete" ] && return 0
    command -v npm >/dev/null || die "npm is missing; run scripts/install-deps.sh kinesis"
    echo "kinesalite.sh: installing kinesalite into $install_dir" >&2
    rm -rf "$install_dir"
    mkdir -p "$install_dir"
    cp "$here/kinesalite/package.json" "$here/kinesalite/package-lock.json" "$install_dir/"
    (cd "$install_dir" && npm ci --no-audit --no-fund --loglevel=error >&2) ||
        die "npm ci of kinesalite failed"
    touch "$install_dir/.complete"
}

running() {
    local dir=$1
    peer_running "$dir/kinesalite.pid"
}

listening() {
    local log=$1
    grep -q '^listening ' "$log"
}

start() {
    local dir=$1
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    install
    running "$dir" && die "kinesalite already runs in $dir (PID $(cat "$dir/kinesalite.pid"))"
    [ -f "$dir/port" ] || free_port >"$dir/port"
    local port
    port=$(cat "$dir/port")
    mkdir -p "$dir/data"
    : >"$dir/kinesalite.log"
    # A session of its own: a Ctrl-C meant for `make run` must not stop it
    # before the server has drained into it.
    nohup setsid node "$here/kinesalite/launch.js" "$install_dir/node_modules" "$dir/data" "$port" \
        "${KINESALITE_SHARD_LIMIT:-100}" >>"$dir/kinesalite.log" 2>&1 </dev/null &
    echo $! >"$dir/kinesalite.pid"

    peer_wait_ready kinesalite "$dir/kinesalite.pid" "$dir/kinesalite.log" "$start_timeout_s" 0.1 \
        listening "$dir/kinesalite.log"
    echo "127.0.0.1:$port"
}

stop() {
    local dir=$1
    peer_stop "$dir/kinesalite.pid" 5
}

case "${1:-}" in
    install) install ;;
    start) [ $# -eq 2 ] || die "usage: kinesalite.sh start DIR"; start "$2" ;;
    stop) [ $# -eq 2 ] || die "usage: kinesalite.sh stop DIR"; stop "$2" ;;
    *) die "usage: kinesalite.sh install | start DIR | stop DIR" ;;
esac
