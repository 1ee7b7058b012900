# Shared by the scripts that run a test peer on loopback (kafka.sh,
# pubsub-emulator.sh, kinesalite.sh): a free port, and a process known by the
# PID file it was started with, waited for and stopped by that PID only.
# The sourcing script defines die().

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Alive and not a zombie: a peer killed by a test may wait to be reaped.
peer_alive() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}

peer_running() {
    local pid_file=$1
    [ -f "$pid_file" ] && peer_alive "$(cat "$pid_file")"
}

# peer_wait_ready NAME PID_FILE LOG TIMEOUT_S INTERVAL_S CHECK...: runs CHECK
# every INTERVAL_S until it succeeds; dies with LOG's last lines if the peer
# exits, and stops it and dies after TIMEOUT_S.
peer_wait_ready() {
    local name=$1 pid_file=$2 log=$3 timeout_s=$4 interval_s=$5
    shift 5
    local deadline=$((SECONDS + timeout_s))
    until "$@"; do
        if ! peer_running "$pid_file"; then
            rm -f "$pid_file"
            die "$name exited: $(tail -5 "$log")"
        fi
        if [ $SECONDS -ge $deadline ]; then
            peer_stop "$pid_file" 10
            die "$name was not ready within ${timeout_s}s"
        fi
        sleep "$interval_s"
    done
}

# peer_stop PID_FILE GRACE_S: SIGTERM, then SIGKILL if it is alive after GRACE_S.
peer_stop() {
    local pid_file=$1 grace_s=$2
    [ -f "$pid_file" ] || return 0
    local pid
    pid=$(cat "$pid_file")
    if peer_alive "$pid"; then
        kill -TERM "$pid"
        local deadline=$((SECONDS + grace_s))
        while peer_alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        peer_alive "$pid" && kill -KILL "$pid"
    fi
    rm -f "$pid_file"
}
