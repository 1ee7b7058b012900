"""`make image-test`: the built image's contents, run as a container would run them.

No container runtime can run here (`podman run` is refused by the sandbox), so
the image is mounted (`podman image mount`, read-only) and its ENTRYPOINT and
CMD run under chroot as its USER, in its WORKDIR, with its environment, on the
host's network against a Kafka that scripts/kafka.sh starts on 127.0.0.1, in a
mount namespace of their own with /proc mounted (as a runtime would). IMAGE
names the image (default raccoon:latest); `make image` builds it.
"""

import base64
import json
import os
import resource
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("IMAGE", "raccoon:latest")
KAFKA_SH = ROOT / "scripts" / "kafka.sh"
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def podman(*args):
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=True,
                          timeout=120).stdout.strip()


@pytest.fixture(scope="module")
def image():
    if subprocess.run(["podman", "image", "exists", IMAGE], timeout=60).returncode != 0:
        pytest.fail(f"no image {IMAGE}: run `make image` first")
    inspect = json.loads(podman("image", "inspect", IMAGE))[0]
    root = Path(podman("image", "mount", IMAGE))
    try:
        yield {"root": root, "config": inspect["Config"], "size": inspect["Size"],
               "healthcheck": inspect.get("Healthcheck") or inspect["Config"].get("Healthcheck")}
    finally:
        podman("image", "unmount", IMAGE)


@pytest.fixture(scope="module")
def kafka():
    with tempfile.TemporaryDirectory(prefix="raccoon-image-kafka.") as directory:
        started = subprocess.run(["bash", str(KAFKA_SH), "start", directory], capture_output=True,
                                 text=True, timeout=300)
        try:
            assert started.returncode == 0, started.stderr
            yield started.stdout.strip()
        finally:
            subprocess.run(["bash", str(KAFKA_SH), "stop", directory], timeout=120)


def image_env(config, extra):
    env = dict(item.split("=", 1) for item in config.get("Env", []))
    env.update(extra)
    return [f"{k}={v}" for k, v in env.items()]


def in_image(image, argv, env):
    """argv run as the image runs its processes: chroot, its user, its workdir."""
    config = image["config"]
    root = image["root"]
    user = config["User"]
    inner = ["/usr/bin/env", "-i", *image_env(config, env), "/bin/sh", "-c",
             'cd "$0" && exec "$@"', config["WorkingDir"], *argv]
    # A mount namespace of its own, so /proc is mounted for it alone and goes
    # when it exits; the image's tree stays read-only.
    script = 'mount -t proc proc "$1/proc" && shift && exec chroot "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
            str(root), f"--userspec={user}", str(root), *inner]


def http(url, data=None, headers=None, timeout=5):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None, b""


def children(pid):
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def status_field(pid, name):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split()[1:]
    raise AssertionError(f"no {name} in /proc/{pid}/status")


@pytest.fixture(scope="module")
def server(image, kafka, tmp_path_factory):
    ports = {"http": free_port(), "grpc": free_port(), "metrics": free_port()}
    env = {
        "SERVER_BIND_ADDRESS": "127.0.0.1",
        "SERVER_WEBSOCKET_PORT": str(ports["http"]),
        "SERVER_GRPC_PORT": str(ports["grpc"]),
        "METRIC_PROMETHEUS_ENABLED": "true",
        "METRIC_PROMETHEUS_PORT": str(ports["metrics"]),
        "PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS": kafka,
        "EVENT_ACK": "1",
        "SERVER_IO_THREADS": "1",
        # tini is not PID 1 under chroot: it says so unless it may reap as a subreaper.
        "TINI_SUBREAPER": "1",
    }
    config = image["config"]
    argv = config["Entrypoint"] + config["Cmd"]
    log_path = tmp_path_factory.mktemp("image") / "server.log"
    log = open(log_path, "wb")
    started = time.monotonic()
    # A runtime's usual soft limit on open files, below the hard one: the
    # image's entry point raises it.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    soft = min(1024, hard)
    process = subprocess.Popen(in_image(image, argv, env), stdout=log, stderr=subprocess.STDOUT,
                               preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                                                     (soft, hard)))
    base = f"http://127.0.0.1:{ports['http']}"
    times = {}
    deadline = started + START_TIMEOUT_S
    while time.monotonic() < deadline and "ready" not in times:
        assert process.poll() is None, log_path.read_text()
        for name, path in [("ping", "/ping"), ("ready", "/ready")]:
            if name not in times and http(base + path, timeout=1)[0] == 200:
                times[name] = time.monotonic() - started
        time.sleep(0.02)
    assert "ready" in times, f"not ready within {START_TIMEOUT_S} s:\n{log_path.read_text()}"
    print(f"\nimage {IMAGE}: {image['size'] / 1e6:.1f} MB; /ping 200 after {times['ping']:.2f} s, "
          f"/ready 200 after {times['ready']:.2f} s (Kafka on 127.0.0.1)")
    try:
        yield {"process": process, "base": base, "ports": ports, "env": env, "log": log_path,
               "kafka": kafka}
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        log.close()


def server_pid(server):
    """The raccoon process: the child of tini, under unshare and chroot's exec."""
    tini = server["process"].pid
    (pid,) = children(tini)
    return pid


def test_runs_as_the_images_non_root_user(image, server):
    uid, gid = image["config"]["User"].split(":")
    assert uid != "0"
    pid = server_pid(server)
    assert status_field(pid, "Uid") == [uid] * 4
    assert status_field(pid, "Gid") == [gid] * 4
    # Its binary and its root are the image's.
    assert os.readlink(f"/proc/{pid}/root") == str(image["root"])
    binary = image["root"] / "app" / "raccoon"
    assert os.readlink(f"/proc/{pid}/exe") in (str(binary), "/app/raccoon")
    stat = binary.stat()
    # root's file, which the user may run and may not change.
    assert (stat.st_uid, stat.st_mode & 0o022) == (0, 0)
    passwd = (image["root"] / "etc" / "passwd").read_text()
    assert f":{uid}:{gid}:" in passwd


def test_open_files_soft_limit_raised_to_the_hard_one(server):
    pid = server_pid(server)
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            assert soft == hard, line
            break
    else:
        raise AssertionError("no open files limit")


def test_the_kubernetes_prestop_command_is_in_the_image(image):
    deployment = yaml.safe_load((ROOT / "deploy/kubernetes/deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    command = container["lifecycle"]["preStop"]["exec"]["command"][0]
    path = dict(e.split("=", 1) for e in image["config"]["Env"])["PATH"].split(":")
    assert any((image["root"] / d.lstrip("/") / command).exists() for d in path), command


def test_exposes_the_servers_ports_and_a_healthcheck(image):
    config = image["config"]
    assert set(config["ExposedPorts"]) == {"8080/tcp", "8081/tcp", "9090/tcp"}
    assert image["healthcheck"]["Test"] == ["CMD", "/usr/local/bin/raccoon-healthcheck"]
    assert config["Entrypoint"][0] == "/usr/bin/tini"


def test_an_event_reaches_kafka(server):
    payload = b"image-test event"
    body = json.dumps({
        "req_guid": "image-req-1",
        "sent_time": {"seconds": int(time.time())},
        "events": [{"type": "imagetest", "event_bytes": base64.b64encode(payload).decode()}],
    }).encode()
    status, answer = http(server["base"] + "/api/v1/events", body,
                          {"Content-Type": "application/json", "X-User-ID": "image-user"})
    assert status == 200, answer
    ack = json.loads(answer)
    assert (ack["status"], ack["code"], ack["data"]["req_guid"]) == (1, 1, "image-req-1")
    read = subprocess.run(["kcat", "-b", server["kafka"], "-C", "-t", "clickstream-imagetest-log",
                           "-o", "beginning", "-c", "1", "-e", "-q"],
                          capture_output=True, timeout=60)
    assert read.stdout.rstrip(b"\n") == payload


def test_health_endpoints_and_metrics(server):
    assert http(server["base"] + "/ping") == (200, b"pong")
    assert http(server["base"] + "/ready")[0] == 200
    status, metrics = http(f"http://127.0.0.1:{server['ports']['metrics']}/metrics")
    assert status == 200 and b"process_resident_memory_bytes" in metrics


def test_the_images_healthcheck_passes(image, server):
    test = image["healthcheck"]["Test"]
    assert test[0] == "CMD"
    result = subprocess.run(in_image(image, test[1:], server["env"]), capture_output=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr


def test_sigterm_drains_and_exits_cleanly(image, server):
    process = server["process"]
    pid = server_pid(server)
    started = time.monotonic()
    # What a runtime does: SIGTERM to the container's PID 1, tini, which passes it on.
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=STOP_TIMEOUT_S) == 0
    print(f"\nSIGTERM to exit: {time.monotonic() - started:.2f} s")
    assert not Path(f"/proc/{pid}").exists()
    log = server["log"].read_text()
    assert "signal 15, draining" in log and "raccoon: stopped" in log
    unhealthy = subprocess.run(in_image(image, image["healthcheck"]["Test"][1:], server["env"]),
                               capture_output=True, timeout=30)
    assert unhealthy.returncode != 0
