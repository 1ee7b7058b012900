#!/usr/bin/env bash
# Installs the Debian packages a task needs, only those missing. Root or sudo.
#
#   install-deps.sh build   the compiler, CMake, the C++ libraries, GoogleTest, and Maven, which
#                           fetches the .proto files of Pub/Sub's API (cmake/pubsub_protos.cmake)
#   install-deps.sh kafka   what runs a local broker: Java, Maven, kcat
#   install-deps.sh pubsub  what runs Google's Pub/Sub emulator (Java), and a check that the
#                           emulator itself is there: it is not a Debian package
#   install-deps.sh test    the integration tests' tools: pytest, Python clients, Prometheus
#   install-deps.sh fuzz    the libFuzzer targets (tests/fuzz): clang 19 with its sanitizer and
#                           fuzzer runtimes (Debian 12's clang 14 and 16 lack the C++23 library
#                           support the code needs), and llvm-symbolizer for readable reports
#   install-deps.sh bench   `make bench`: gnuplot, the Kafka client for Python, taskset
#                           (linux-perf helps to profile but is not needed)
#   install-deps.sh container  `make image`: podman, and debootstrap for a base image
#   install-deps.sh deploy  the offline checks of docker/ and deploy/: PyPI's
#                           kubernetes-validate and check-jsonschema (which carry
#                           the Kubernetes and Compose schemas) in a venv in the cache dir
#   install-deps.sh js      the JavaScript client's tests: Chromium for the browser test, Node
#                           and npm (Debian's, when no node is on the PATH), and `npm ci` in
#                           clients/js (again only when its package-lock.json changed)
#   install-deps.sh java    the Java client's tests: a JDK and Maven, and the client's Maven
#                           dependencies and plugins in ~/.m2 (again only when its pom.xml changed),
#                           so that its tests build offline
#   install-deps.sh kinesis the Kinesis publisher's tests and `make run` with PUBLISHER_TYPE=kinesis:
#                           Node and npm, botocore (the independent signer and reader of the tests),
#                           and kinesalite from npm in the cache dir (scripts/kinesalite.sh install)
#
# Several groups may be named at once; none means build, kafka, pubsub, test, fuzz, deploy, js,
# java and kinesis.
set -euo pipefail

build_packages=(
    build-essential cmake ninja-build pkg-config clang-format curl
    libboost1.81-dev
    libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
    librdkafka-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libyaml-cpp-dev libjemalloc-dev
    libgtest-dev libgmock-dev python3 maven
)
kafka_packages=(default-jre-headless maven kcat python3)
pubsub_packages=(default-jre-headless curl python3)
pubsub_emulator=${PUBSUB_EMULATOR_BIN:-/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator}
test_packages=(
    kcat python3-pytest python3-protobuf python3-requests python3-confluent-kafka
    python3-websockets python3-grpcio prometheus
)
fuzz_packages=(clang-19 libclang-rt-19-dev llvm-19)
bench_packages=(gnuplot-nox python3-confluent-kafka util-linux python3)
container_packages=(podman debootstrap)
deploy_packages=(python3-yaml python3-venv python3-pytest prometheus)
# They carry their schemas, so they check offline.
deploy_pip_packages=(kubernetes-validate==1.37.0 check-jsonschema==0.39.0)
cache_dir=${RACCOON_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/raccoon}
deploy_venv=$cache_dir/deploy-venv
repo_dir=$(cd "$(dirname "$0")/.." && pwd)
js_packages=(chromium)
command -v node >/dev/null 2>&1 || js_packages+=(nodejs npm)
java_packages=(maven)
command -v javac >/dev/null 2>&1 || java_packages+=(default-jdk-headless)
kinesis_packages=(python3-botocore python3)
command -v node >/dev/null 2>&1 || kinesis_packages+=(nodejs npm)

# --packages-only: the Debian packages alone (how this script runs itself under sudo).
packages_only=false
if [ "${1:-}" = "--packages-only" ]; then
    packages_only=true
    shift
fi
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(build kafka pubsub test fuzz deploy js java kinesis)

wanted=()
for group in "${groups[@]}"; do
    case "$group" in
        build) wanted+=("${build_packages[@]}") ;;
        kafka) wanted+=("${kafka_packages[@]}") ;;
        pubsub) wanted+=("${pubsub_packages[@]}") ;;
        test) wanted+=("${test_packages[@]}") ;;
        fuzz) wanted+=("${fuzz_packages[@]}") ;;
        bench) wanted+=("${bench_packages[@]}") ;;
        container) wanted+=("${container_packages[@]}") ;;
        deploy) wanted+=("${deploy_packages[@]}") ;;
        js) wanted+=("${js_packages[@]}") ;;
        java) wanted+=("${java_packages[@]}") ;;
        kinesis) wanted+=("${kinesis_packages[@]}") ;;
        *) echo "install-deps: unknown group $group (build, kafka, pubsub, test, fuzz, bench, container, deploy, js, java or kinesis)" >&2; exit 2 ;;
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

# The JavaScript client's npm packages, in clients/js/node_modules, as the invoking user.
if [[ " ${groups[*]} " == *" js "* ]] && ! $packages_only; then
    js_dir=$repo_dir/clients/js
    js_stamp=$(sha256sum "$js_dir/package-lock.json" | cut -d' ' -f1)
    if [ "$(cat "$js_dir/node_modules/.raccoon-stamp" 2>/dev/null)" != "$js_stamp" ]; then
        echo "install-deps: npm ci in clients/js"
        (cd "$js_dir" && npm ci --no-audit --no-fund --loglevel=error)
        echo "$js_stamp" >"$js_dir/node_modules/.raccoon-stamp"
    fi
fi

# The Java client's dependencies and plugins (protoc and its gRPC plugin among them), in
# ~/.m2 as the invoking user: a build that runs no test resolves them all.
if [[ " ${groups[*]} " == *" java "* ]] && ! $packages_only; then
    java_dir=$repo_dir/clients/java
    java_stamp=$cache_dir/java-deps-$(sha256sum "$java_dir/pom.xml" | cut -c1-16)
    if [ ! -f "$java_stamp" ]; then
        echo "install-deps: the Java client's Maven dependencies"
        mvn -B -q -Dstyle.color=never -f "$java_dir/pom.xml" test -Dgroups=none
        mkdir -p "$cache_dir"
        touch "$java_stamp"
    fi
fi

# Google ships the emulator with its Cloud CLI, not through Debian: say how to get it.
if [[ " ${groups[*]} " == *" pubsub "* ]] && ! $packages_only && [ ! -x "$pubsub_emulator" ]; then
    echo "install-deps: no Pub/Sub emulator at $pubsub_emulator. It comes with the Google Cloud CLI:" \
        "its apt repository's package google-cloud-cli-pubsub-emulator, or" \
        "'gcloud components install pubsub-emulator'; set PUBSUB_EMULATOR_BIN to the" \
        "cloud-pubsub-emulator launcher when it lives elsewhere" >&2
    exit 1
fi

# kinesalite's npm packages, in the cache dir as the invoking user.
if [[ " ${groups[*]} " == *" kinesis "* ]] && ! $packages_only; then
    bash "$repo_dir/scripts/kinesalite.sh" install
fi
