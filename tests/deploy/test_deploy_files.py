"""Offline checks of the deployment files: docker/ and deploy/kubernetes/.

The Kubernetes manifests against the API's schemas (PyPI's kubernetes-validate),
the compose file against the Compose specification's schema (the copy PyPI's
check-jsonschema carries), Prometheus' configuration with promtool, and each
file against the others and the server: ports, probes, the drain's timing, the
settings' names. Both validators come from `scripts/install-deps.sh deploy`.
Building and running the image is `make image` and `make image-test`.
"""

import http.server
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
DOCKER = ROOT / "docker"
CACHE = Path(
    os.environ.get("RACCOON_CACHE_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "raccoon"
)
VENV_BIN = CACHE / "deploy-venv" / "bin"
# The oldest and the newest Kubernetes the manifests are checked against.
KUBERNETES_VERSIONS = ["1.27.0", "1.37.0"]
# What the drain adds to its two settings: the wait for the last acks
# (ack_write_grace in src/app/app.cpp).
ACK_WRITE_GRACE_S = 2
IMAGE_UID = 10001


def tool(name):
    path = VENV_BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run scripts/install-deps.sh deploy")
    return str(path)


def manifests():
    return {p.name: list(yaml.safe_load_all(p.read_text())) for p in sorted(K8S.glob("*.yaml"))}


def resource(kind):
    found = [d for docs in manifests().values() for d in docs if d and d.get("kind") == kind]
    assert len(found) == 1, f"one {kind} expected, found {len(found)}"
    return found[0]


def container():
    (c,) = resource("Deployment")["spec"]["template"]["spec"]["containers"]
    return c


def config_map():
    return resource("ConfigMap")["data"]


def known_settings():
    binary = os.environ.get("RACCOON_BINARY")
    if not binary:
        pytest.skip("RACCOON_BINARY not set (CTest sets it to the built server)")
    help_text = subprocess.run([binary, "server", "--help"], capture_output=True, text=True,
                               check=True, timeout=30).stdout
    names = set(re.findall(r"^  ([A-Z][A-Z0-9_]+) \(default", help_text, re.M))
    assert "SERVER_WEBSOCKET_PORT" in names
    return names


def assert_known(keys, where):
    names = known_settings()
    unknown = [k for k in keys if k not in names and not k.startswith("PUBLISHER_KAFKA_CLIENT_")]
    assert not unknown, f"{where} sets what the server does not know: {unknown}"


def setting(key, default):
    return int(config_map().get(key, default))


# ---- Kubernetes

def kubernetes_files():
    return [p for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_match_the_kubernetes_schemas(version):
    result = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "-k", version, *map(str, kubernetes_files())],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(kubernetes_files())


def test_the_schema_check_refuses_an_unknown_field(tmp_path):
    broken = yaml.safe_load((K8S / "deployment.yaml").read_text())
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    path = tmp_path / "deployment.yaml"
    path.write_text(yaml.safe_dump(broken))
    result = subprocess.run([tool("kubernetes-validate"), "--strict", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "readinesProbe" in result.stdout + result.stderr


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == [p.name for p in kubernetes_files()]


def test_probes_use_the_servers_endpoints_on_its_ports():
    c = container()
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["http"] == setting("SERVER_WEBSOCKET_PORT", 8080)
    assert ports["grpc"] == setting("SERVER_GRPC_PORT", 8081)
    assert ports["metrics"] == setting("METRIC_PROMETHEUS_PORT", 9090)
    assert config_map()["METRIC_PROMETHEUS_ENABLED"] == "true"
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/ping", "port": "http"}
    assert c["startupProbe"]["httpGet"] == {"path": "/ping", "port": "http"}
    service_ports = {p["name"]: p["targetPort"] for p in resource("Service")["spec"]["ports"]}
    assert service_ports == {"http": "http", "grpc": "grpc", "metrics": "metrics"}


def test_grace_period_covers_the_pause_and_the_drain():
    pod = resource("Deployment")["spec"]["template"]["spec"]
    command = container()["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pause = int(command[1])
    drain = (setting("WORKER_BUFFER_FLUSH_TIMEOUT_MS", 5000)
             + setting("PUBLISHER_KAFKA_FLUSH_INTERVAL_MS", 1000)) / 1000 + ACK_WRITE_GRACE_S
    assert pod["terminationGracePeriodSeconds"] >= pause + drain + 5


def test_selectors_match_the_pods():
    labels = resource("Deployment")["spec"]["template"]["metadata"]["labels"]
    for kind in ["Deployment", "PodDisruptionBudget"]:
        assert resource(kind)["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert resource("Service")["spec"]["selector"].items() <= labels.items()
    target = resource("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", resource("Deployment")["metadata"]["name"])
    assert "replicas" not in resource("Deployment")["spec"], "the HPA owns the replica count"


def test_pod_runs_as_the_images_user_without_privileges():
    pod = resource("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == IMAGE_UID
    c = container()
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"]


def test_configmap_sets_only_known_settings():
    assert_known(config_map().keys(), "deploy/kubernetes/configmap.yaml")


# ---- Compose

def compose():
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_file_matches_the_compose_specification():
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
         str(DOCKER / "compose.yaml")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_check_refuses_an_unknown_key(tmp_path):
    broken = compose()
    broken["services"]["raccoon"]["enviroment"] = {"EVENT_ACK": "1"}
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                             str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0


def test_compose_stack_is_wired_together():
    services = compose()["services"]
    assert set(services) == {"kafka", "raccoon", "prometheus", "grafana"}
    raccoon = services["raccoon"]
    env = raccoon["environment"]
    assert_known(env.keys(), "docker/compose.yaml")
    assert env["PUBLISHER_KAFKA_CLIENT_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert "PLAINTEXT://kafka:9092" in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert env["METRIC_PROMETHEUS_ENABLED"] == "true"
    context = (DOCKER / raccoon["build"]["context"]).resolve()
    assert context == ROOT and (context / raccoon["build"]["dockerfile"]).exists()
    assert raccoon["depends_on"]["kafka"]["condition"] == "service_healthy"
    # Every file mounted from the repository exists.
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert (DOCKER / source).exists(), volume
    prometheus = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["raccoon:9090"]


def test_prometheus_configuration_is_valid():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: run scripts/install-deps.sh deploy")
    subprocess.run([promtool, "check", "config", str(DOCKER / "prometheus" / "prometheus.yml")],
                   check=True, capture_output=True, timeout=60)


def test_grafana_provisions_the_dashboard():
    provider = yaml.safe_load((DOCKER / "grafana/provisioning/dashboards/raccoon.yaml").read_text())
    path = provider["providers"][0]["options"]["path"]
    grafana = compose()["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"])
    assert mounts["../docs/grafana"] == path
    assert (ROOT / "docs/grafana/raccoon-dashboard.json").exists()
    datasources = yaml.safe_load((DOCKER / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True


# ---- Dockerfile

def dockerfile():
    return (DOCKER / "Dockerfile").read_text()


def instructions():
    text = re.sub(r"\\\n", " ", dockerfile())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_is_a_two_stage_build_on_bookworm_slim():
    froms = [i for i in instructions() if i.startswith("FROM ")]
    assert froms == ["FROM debian:bookworm-slim AS build", "FROM debian:bookworm-slim"]
    assert "bash scripts/install-deps.sh build" in dockerfile()
    assert "--from=build /raccoon /app/raccoon" in dockerfile()


def test_dockerfile_runtime_settings():
    runtime = instructions()[[i for i, s in enumerate(instructions()) if s.startswith("FROM ")][1]:]
    by_word = {}
    for line in runtime:
        word, _, rest = line.partition(" ")
        by_word.setdefault(word, []).append(rest)
    assert by_word["USER"] == [f"{IMAGE_UID}:{IMAGE_UID}"]
    assert set(by_word["EXPOSE"][0].split()) == {"8080", "8081", "9090"}
    assert by_word["ENTRYPOINT"] == ['["/usr/bin/tini", "--", "/usr/local/bin/raccoon-entrypoint"]']
    assert by_word["CMD"] == ['["./raccoon", "server"]']
    assert by_word["WORKDIR"] == ["/app"]
    assert "raccoon-healthcheck" in by_word["HEALTHCHECK"][0]


def test_dockerfile_copies_only_what_the_context_keeps():
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for source in ["scripts/install-deps.sh", "docker/healthcheck.sh", "docker/runtime-packages.sh",
                   "docker/entrypoint.sh",
                   "CMakeLists.txt", "src", "include", "proto", "bench", "cmake"]:
        assert (ROOT / source).exists(), source
        assert not any(source == p or source.startswith(p + "/") for p in ignored), source


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 (the standard library's name)
        body = b"pong" if self.path == "/ping" else b"no"
        self.send_response(self.status if self.path == "/ping" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status,healthy", [(200, True), (503, False)])
def test_healthcheck_script(status, healthy):
    handler = type("Handler", (_Handler,), {"status": status})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = dict(os.environ, SERVER_WEBSOCKET_PORT=str(server.server_port),
                   SERVER_BIND_ADDRESS="0.0.0.0")
        result = subprocess.run(["bash", str(DOCKER / "healthcheck.sh")], env=env, timeout=10)
        assert (result.returncode == 0) == healthy
    finally:
        server.shutdown()
        server.server_close()


def test_entrypoint_raises_the_open_files_soft_limit():
    script = f"ulimit -S -n 256; exec sh {DOCKER / 'entrypoint.sh'} sh -c 'ulimit -S -n; ulimit -H -n'"
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True,
                            timeout=10)
    soft, hard = result.stdout.split()
    assert soft == hard


def test_healthcheck_fails_when_nothing_listens():
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, SERVER_WEBSOCKET_PORT=str(port), SERVER_BIND_ADDRESS="127.0.0.1")
    result = subprocess.run(["bash", str(DOCKER / "healthcheck.sh")], env=env, timeout=10,
                            capture_output=True)
    assert result.returncode != 0


def test_runtime_packages_of_the_built_server():
    binary = os.environ.get("RACCOON_BINARY")
    if not binary:
        pytest.skip("RACCOON_BINARY not set (CTest sets it to the built server)")
    result = subprocess.run(["bash", str(DOCKER / "runtime-packages.sh"), binary],
                            capture_output=True, text=True, check=True, timeout=60)
    packages = result.stdout.split()
    for expected in ["librdkafka1", "libc6", "libstdc++6"]:
        assert expected in packages
    assert not any(p.endswith("-dev") for p in packages), packages
