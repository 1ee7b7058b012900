#!/usr/bin/env bash
# Prints the Debian packages that hold the shared libraries BINARY loads, one
# a line: what the image's runtime stage installs, and nothing more.
set -euo pipefail

binary=${1:?usage: runtime-packages.sh BINARY}

owner() {
    # ldd names a library by the directory the loader found it in; dpkg knows
    # it by the one its package ships it in (/lib or /usr/lib, merged-/usr).
    local path=$1 candidate
    for candidate in "$path" "$(realpath "$path")" "/usr$path" "${path#/usr}"; do
        if dpkg-query -S "$candidate" 2>/dev/null; then
            return 0
        fi
    done
    echo "runtime-packages: no package holds $path" >&2
    return 1
}

ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
    while read -r library; do owner "$library"; done |
    cut -d: -f1 | sort -u
