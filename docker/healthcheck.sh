#!/bin/bash
# The image's HEALTHCHECK: liveness, GET /ping on the REST port answers 200.
# Bash's /dev/tcp, so the image needs no curl. It reads the port and bind
# address from the environment, as the server does; a port given only in a
# --config file needs SERVER_WEBSOCKET_PORT set too, or a HEALTHCHECK of your own.
port=${SERVER_WEBSOCKET_PORT:-8080}
host=${SERVER_BIND_ADDRESS:-0.0.0.0}
case $host in
    0.0.0.0 | "") host=127.0.0.1 ;;
    :: | "[::]") host=::1 ;;
esac
exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET /ping HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$host" >&3
IFS= read -r -t 3 status <&3 || exit 1
[[ $status == "HTTP/1."[01]" 200 "* ]]
