#!/usr/bin/env bash
# Installs every Debian package the build, `make run` and `make test` need.
# Idempotent: it only calls apt-get when a package is missing. Root or sudo.
set -euo pipefail

packages=(
    build-essential cmake ninja-build pkg-config
    libboost1.81-dev
    libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
    librdkafka-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
    libyaml-cpp-dev libgtest-dev libgmock-dev
    clang-format kcat curl
    default-jre-headless maven
    python3 python3-pytest python3-protobuf python3-requests python3-confluent-kafka
    python3-websockets
)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$package")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo --preserve-env=DEBIAN_FRONTEND "$0" "$@"
    fi
    echo "install-deps: missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
