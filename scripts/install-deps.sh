#!/usr/bin/env bash
# Installs the Debian packages a task needs, only those missing. Root or sudo.
#
#   install-deps.sh build   the compiler, CMake, the C++ libraries, GoogleTest
#   install-deps.sh kafka   what runs a local broker: Java, Maven, kcat
#   install-deps.sh test    the integration tests' tools: pytest, Python clients, Prometheus
#   install-deps.sh bench   `make bench`: gnuplot, the Kafka client for Python, taskset
#                           (linux-perf helps to profile but is not needed)
#   install-deps.sh container  `make image`: podman, and debootstrap for a base image
#   install-deps.sh deploy  the offline checks of docker/ and deploy/: PyPI's
#                           kubernetes-validate and check-jsonschema (which carry
#                           the Kubernetes and Compose schemas) in a venv in the cache dir
#
# Several groups may be named at once; none means build, kafka, test and deploy.
set -euo pipefail

build_packages=(
    build-essential cmake ninja-build pkg-config clang-format curl
    libboost1.81-dev
    libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
    librdkafka-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libyaml-cpp-dev libjemalloc-dev
    libgtest-dev libgmock-dev python3
)
kafka_packages=(default-jre-headless maven kcat python3)
test_packages=(
    kcat python3-pytest python3-protobuf python3-requests python3-confluent-kafka
    python3-websockets python3-grpcio prometheus
)
bench_packages=(gnuplot-nox python3-confluent-kafka util-linux python3)
container_packages=(podman debootstrap)
deploy_packages=(python3-yaml python3-venv python3-pytest prometheus)
# They carry their schemas, so they check offline.
deploy_pip_packages=(kubernetes-validate==1.37.0 check-jsonschema==0.39.0)
cache_dir=${RACCOON_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/raccoon}
deploy_venv=$cache_dir/deploy-venv

# --packages-only: the Debian packages alone (how this script runs itself under sudo).
packages_only=false
if [ "${1:-}" = "--packages-only" ]; then
    packages_only=true
    shift
fi
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(build kafka test deploy)

wanted=()
for group in "${groups[@]}"; do
    case "$group" in
        build) wanted+=("${build_packages[@]}") ;;
        kafka) wanted+=("${kafka_packages[@]}") ;;
        test) wanted+=("${test_packages[@]}") ;;
        bench) wanted+=("${bench_packages[@]}") ;;
        container) wanted+=("${container_packages[@]}") ;;
        deploy) wanted+=("${deploy_packages[@]}") ;;
        *) echo "install-deps: unknown group $group (build, kafka, test, bench, container or deploy)" >&2; exit 2 ;;
    esac
done

missing=()
for package in "${wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        [[ " ${missing[*]} " == *" $package "* ]] || missing+=("$package")
    fi
done

# The venv is the invoking user's, in their cache dir: not made by the root
# process that sudo starts for the Debian packages.
deploy_venv_missing() {
    [[ " ${groups[*]} " == *" deploy "* ]] && [ ! -f "$deploy_venv/.complete-$(IFS=-; echo "${deploy_pip_packages[*]}")" ] &&
        ! $packages_only
}

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "install-deps: missing ${missing[*]}; run as root or install sudo" >&2
            exit 1
        fi
        sudo "$0" --packages-only "$@"
    else
        echo "install-deps: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${missing[@]}"

        # The tests start their own Prometheus on a free port; Debian's package also
        # enables a daemon on :9090, the default METRIC_PROMETHEUS_PORT.
        if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
            echo "install-deps: disabling the prometheus service, which would hold port 9090"
            systemctl disable --now prometheus.service || echo "install-deps: could not disable it; free port 9090 by hand" >&2
        fi
    fi
fi

if deploy_venv_missing; then
    echo "install-deps: installing ${deploy_pip_packages[*]} into $deploy_venv"
    rm -rf "$deploy_venv"
    python3 -m venv "$deploy_venv"
    "$deploy_venv/bin/pip" install -q --disable-pip-version-check "${deploy_pip_packages[@]}"
    touch "$deploy_venv/.complete-$(IFS=-; echo "${deploy_pip_packages[*]}")"
fi
