#!/usr/bin/env bash
# Installs the Debian packages a task needs, only those missing. Root or sudo.
#
#   install-deps.sh build   the compiler, CMake, the C++ libraries, GoogleTest
#   install-deps.sh kafka   what runs a local broker: Java, Maven, kcat
#   install-deps.sh test    the integration tests' tools: pytest, Python clients, Prometheus
#   install-deps.sh bench   `make bench`: gnuplot, the Kafka client for Python, taskset
#                           (linux-perf helps to profile but is not needed)
#
# Several groups may be named at once; none means build, kafka and test.
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

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(build kafka test)

wanted=()
for group in "${groups[@]}"; do
    case "$group" in
        build) wanted+=("${build_packages[@]}") ;;
        kafka) wanted+=("${kafka_packages[@]}") ;;
        test) wanted+=("${test_packages[@]}") ;;
        bench) wanted+=("${bench_packages[@]}") ;;
        *) echo "install-deps: unknown group $group (build, kafka, test or bench)" >&2; exit 2 ;;
    esac
done

missing=()
for package in "${wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        [[ " ${missing[*]} " == *" $package "* ]] || missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo "$0" "$@"
    fi
    echo "install-deps: missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
fi

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
