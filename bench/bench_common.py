"""What the benchmark scripts and the integration tests (tests/integration/
conftest.py) share: loopback ports and a server environment free of the
caller's raccoon settings."""

import os
import signal
import socket
import subprocess

HOST = "127.0.0.1"

# Settings a server started here must not inherit from whoever runs it.
SETTING_PREFIXES = ("SERVER_", "WORKER_", "EVENT_", "PUBLISHER_", "METRIC_", "LOG_")


def free_port(avoid=()):
    for _ in range(20):
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in avoid:
            return port
    raise RuntimeError("no free port")


def stop_process(proc):
    """SIGTERM, then SIGKILL after 30 s; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def server_environment(settings=None):
    """The process environment without raccoon settings, plus `settings`; a
    setting of None is left out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    for key, value in (settings or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env
