#!/usr/bin/env bash
# The container image (docker/Dockerfile), built with podman; no Docker daemon needed.
#
#   image.sh base         make the debian:bookworm-slim base image from Debian's
#                         packages (debootstrap) when no such image is present
#   image.sh build [TAG]  build docker/Dockerfile from this tree as TAG
#                         (default raccoon:latest), making the base first if missing
#   image.sh size [TAG]   the image's size in bytes
#
# Where a registry is reachable, `podman pull debian:bookworm-slim` (or Docker)
# gives the real base and `base` is not needed. IMAGE_JOBS (default 2) bounds
# the compile inside the build; it runs under nice.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
base_image=docker.io/library/debian:bookworm-slim
jobs=${IMAGE_JOBS:-2}

die() { echo "image.sh: $*" >&2; exit 1; }

have_image() { podman image exists "$1"; }

# debian:bookworm-slim as Debian's own tools make it: a minbase bootstrap with
# the APT sources the official image carries (bookworm, -updates, -security)
# and its "slim" dpkg filter (no docs but copyrights, man pages or
# translations, now or in later installs), as debuerreotype makes it.
base() {
    have_image "$base_image" && return 0
    command -v debootstrap >/dev/null || die "debootstrap is missing; run scripts/install-deps.sh container"
    [ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
    local dir
    dir=$(mktemp -d -t raccoon-base.XXXXXX)
    # shellcheck disable=SC2064 # expand now: dir is local
    trap "rm -rf '$dir'" RETURN
    echo "image.sh: making $base_image with debootstrap (about a minute)" >&2
    debootstrap --variant=minbase bookworm "$dir/root" http://deb.debian.org/debian >"$dir/debootstrap.log" 2>&1 ||
        die "debootstrap failed: $(tail -5 "$dir/debootstrap.log")"
    rm -f "$dir/root/etc/apt/sources.list"
    mkdir -p "$dir/root/etc/apt/sources.list.d"
    cat >"$dir/root/etc/apt/sources.list.d/debian.sources" <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    cat >"$dir/root/etc/dpkg/dpkg.cfg.d/docker" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
SLIM
    find "$dir/root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$dir/root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$dir/root/usr/share/info/"* "$dir/root/usr/share/linda/"* "$dir/root/usr/share/lintian/overrides/"* \
        "$dir/root/usr/share/locale/"* "$dir/root/usr/share/man/"* "$dir/root/usr/share/groff/"* \
        "$dir/root/var/cache/apt/archives/"*.deb "$dir/root/var/cache/apt/"*.bin "$dir/root/var/lib/apt/lists/"* \
        "$dir/root/var/log/"*.log "$dir/root/var/log/apt/"*
    tar -C "$dir/root" -c . | podman import --change 'CMD ["bash"]' - "$base_image" >/dev/null
    echo "image.sh: $base_image imported" >&2
}

build() {
    local tag=${1:-raccoon:latest}
    command -v podman >/dev/null || die "podman is missing; run scripts/install-deps.sh container"
    base
    # --format docker keeps HEALTHCHECK (the OCI format has no such field);
    # --isolation=chroot runs the RUN steps without a container runtime.
    nice -n 10 podman build --pull=never --isolation=chroot --format docker \
        --build-arg "JOBS=$jobs" \
        --build-arg "RACCOON_COMMIT=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
        -t "$tag" -f "$root/docker/Dockerfile" "$root"
}

size() {
    podman image inspect --format '{{.Size}}' "${1:-raccoon:latest}"
}

case "${1:-}" in
    base) base ;;
    build) build "${2:-}" ;;
    size) size "${2:-}" ;;
    *) die "usage: image.sh base | build [TAG] | size [TAG]" ;;
esac
