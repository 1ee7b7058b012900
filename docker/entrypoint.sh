#!/bin/sh
# The image's entry point after tini: raises the soft limit on open files to
# the hard one, as Go programs such as upstream's server do by themselves at
# start. Runtimes often leave the soft limit at 1024 (Kubernetes has no field
# to set it), and each connection holds a descriptor: SERVER_WEBSOCKET_MAX_CONN
# is 30000. Then it runs the command.
ulimit -n "$(ulimit -H -n)" 2>/dev/null || true
exec "$@"
