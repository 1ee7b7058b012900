#!/usr/bin/env bash
# Makes the toolchains of the client libraries ready, for their tests.
#
#   clients-setup.sh OUT_DIR
#
#   OUT_DIR/go-bin/{go,gofmt}  links to a Go at least as new as clients/go/go.mod
#                              asks: the one on PATH or in /usr/local/go, else
#                              the toolchain module golang.org/toolchain from the
#                              Go module proxy, fetched with Debian's Go (the way
#                              the go command itself switches toolchains)
#   OUT_DIR/python-venv        a venv of Debian's python3 with clients/python
#                              installed editable with its dev extra, from PyPI
#                              (made again when pyproject.toml changes)
#
# Debian's packages it needs, python3-venv and (only when no Go is new enough)
# golang-go, it installs when missing (root or sudo). Idempotent and quick
# once done.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
[ $# -eq 1 ] || { echo "usage: clients-setup.sh OUT_DIR" >&2; exit 2; }
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)
cache_dir=${RACCOON_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/raccoon}

die() { echo "clients-setup: $*" >&2; exit 1; }

apt_install() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "missing Debian packages $*; run as root or install sudo"
        sudo=(sudo)
    fi
    echo "clients-setup: installing $*" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
}

# --- Go -------------------------------------------------------------------
go_wanted=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$root/clients/go/go.mod")
# The toolchain fetched when no Go on the machine is new enough.
go_fallback=1.26.8

version_ok() { # version_ok HAVE WANT: HAVE >= WANT
    [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" = "$2" ]
}

go_version_of() { "$1" env GOVERSION 2>/dev/null | sed 's/^go//'; }

find_go() {
    local candidate version
    for candidate in "$(command -v go || true)" /usr/local/go/bin/go "$cache_dir/go-toolchain/bin/go"; do
        [ -n "$candidate" ] && [ -x "$candidate" ] || continue
        version=$(go_version_of "$candidate")
        if [ -n "$version" ] && version_ok "$version" "$go_wanted"; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

fetch_go_toolchain() {
    # Debian 12's Go (1.19) predates GOTOOLCHAIN; it can still download the
    # toolchain module the newer go command would download for itself.
    local bootstrap=${GO_BOOTSTRAP:-/usr/bin/go} module dir tmp
    [ -x "$bootstrap" ] || apt_install golang-go
    [ -x "$bootstrap" ] || die "no Go $go_wanted or newer, and no Debian Go to fetch one with"
    module="golang.org/toolchain@v0.0.1-go$go_fallback.linux-$(dpkg --print-architecture)"
    echo "clients-setup: fetching Go $go_fallback ($module) from the Go module proxy" >&2
    tmp=$(mktemp -d)
    dir=$(cd "$tmp" && GOMODCACHE="$tmp/modcache" GOFLAGS=-modcacherw GO111MODULE=on \
        "$bootstrap" mod download -json "$module" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
    [ -n "$dir" ] && [ -d "$dir/bin" ] || die "could not fetch $module"
    rm -rf "$cache_dir/go-toolchain"
    mkdir -p "$cache_dir"
    cp -r "$dir" "$cache_dir/go-toolchain"
    rm -rf "$tmp"
    # Module zips keep no file modes: the binaries need theirs back.
    chmod -R u+w "$cache_dir/go-toolchain"
    find "$cache_dir/go-toolchain/bin" "$cache_dir/go-toolchain/pkg/tool" -type f -exec chmod +x {} +
}

go_bin=$(find_go || true)
if [ -z "$go_bin" ]; then
    fetch_go_toolchain
    go_bin=$(find_go) || die "the fetched Go does not run"
fi
go_root=$("$go_bin" env GOROOT)
mkdir -p "$out/go-bin"
ln -sfn "$go_root/bin/go" "$out/go-bin/go"
ln -sfn "$go_root/bin/gofmt" "$out/go-bin/gofmt"
(cd "$root/clients/go" && GOFLAGS=-mod=readonly "$out/go-bin/go" mod download)
echo "clients-setup: Go $(go_version_of "$out/go-bin/go") at $go_root"

# --- Python ---------------------------------------------------------------
venv=$out/python-venv
stamp=$(sha256sum "$root/clients/python/pyproject.toml" | cut -c1-16)
if [ "$(cat "$venv/.raccoon-stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$venv"
    /usr/bin/python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
    /usr/bin/python3 -m venv "$venv" || die "python3 -m venv failed"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root/clients/python[dev]"
    echo "$stamp" >"$venv/.raccoon-stamp"
fi
echo "clients-setup: Python client in $venv"
