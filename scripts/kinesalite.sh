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

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

running() {
    local dir=$1 pid state
    [ -f "$dir/kinesalite.pid" ] || return 1
    pid=$(cat "$dir/kinesalite.pid")
    [ -r "/proc/$pid/stat" ] || return 1
    # A killed server its parent has not reaped yet is a zombie, not running.
    state=$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f1)
    [ "$state" != "Z" ]
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

    local deadline=$((SECONDS + start_timeout_s))
    until grep -q '^listening ' "$dir/kinesalite.log"; do
        if ! running "$dir"; then
            rm -f "$dir/kinesalite.pid"
            die "kinesalite exited: $(tail -5 "$dir/kinesalite.log")"
        fi
        if [ $SECONDS -ge $deadline ]; then
            stop "$dir"
            die "kinesalite did not listen within ${start_timeout_s}s"
        fi
        sleep 0.1
    done
    echo "127.0.0.1:$port"
}

stop() {
    local dir=$1
    [ -f "$dir/kinesalite.pid" ] || return 0
    local pid
    pid=$(cat "$dir/kinesalite.pid")
    if running "$dir"; then
        kill -TERM "$pid"
        for _ in $(seq 1 50); do
            running "$dir" || break
            sleep 0.1
        done
        running "$dir" && kill -KILL "$pid"
    fi
    rm -f "$dir/kinesalite.pid"
}

case "${1:-}" in
    install) install ;;
    start) [ $# -eq 2 ] || die "usage: kinesalite.sh start DIR"; start "$2" ;;
    stop) [ $# -eq 2 ] || die "usage: kinesalite.sh stop DIR"; stop "$2" ;;
    *) die "usage: kinesalite.sh install | start DIR | stop DIR" ;;
esac
