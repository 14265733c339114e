#!/usr/bin/env bash
# Build the images the container-node tests run, where no image registry is reachable (only
# Debian's mirror): a debootstrap root filesystem with python3 and Debian's mariadb-server,
# imported as a base image, then the two images of compose/test-images/Dockerfile:
#   harness-local/http-echo:bookworm   a tiny HTTP service on container port 8080, HEALTHCHECK
#   harness-local/mariadb:bookworm     MariaDB 10.11, the official image's MARIADB_*/MYSQL_* contract
# Needs root, debootstrap and a Docker engine (DOCKER_HOST is honoured). The sibling of
# build-local-images.sh (the docker backend's postgres/s3/temporal stand-ins), built the same way.
#
#   bash scripts/build-test-images.sh [WORKDIR] >> .env     (default WORKDIR /var/tmp/harness-images)
#
# Standard output carries only the HARNESS_*_IMAGE= lines; everything the build says goes to
# WORKDIR/test-images.log (its tail is shown on failure). Images are labelled with a hash of
# their inputs: an unchanged rebuild is skipped, and a changed one removes the images it
# replaced, so no dangling image is left behind. The root filesystem is rebuilt when its
# package list changes.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/var/tmp/harness-images}
rootfs=$work/rootfs-test
log=$work/test-images.log
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
tag=bookworm
base=harness-local/test-base:$tag
images=(http-echo mariadb)
label=org.harness.test-images
packages=python3,mariadb-server,mariadb-client,ca-certificates
# What the root filesystem is made of: a change rebuilds it (bump the number when the steps change).
recipe="rootfs 2: $packages"

fail() { echo "build-test-images: $*" >&2; exit 2; }
command -v debootstrap >/dev/null || fail "install debootstrap (apt-get install debootstrap)"
docker info >/dev/null 2>&1 || fail "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset})"

mkdir -p "$work"
: >"$log"
exec 3>&2  # the caller's stderr, for the failure message (the build's own output goes to the log)
trap 'status=$?; if [ $status -ne 0 ]; then echo "build-test-images: failed (exit $status); the end of $log:" >&3; tail -n 20 "$log" >&3; fi' EXIT

{
    marker=$rootfs/etc/harness-rootfs-built
    if [ "$(head -n 1 "$marker" 2>/dev/null)" != "$recipe" ]; then
        rm -rf "$rootfs"
        mkdir -p "$rootfs"
        debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror"
        # mariadb-server's postinst made a datadir: the entrypoint makes its own in the volume.
        # Documentation and translations are not needed in a test image (60 MB).
        rm -rf "$rootfs/var/lib/mysql" "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"* \
            "$rootfs/usr/share/doc/"* "$rootfs/usr/share/man/"* "$rootfs/usr/share/locale/"*
        mkdir -p "$rootfs/var/lib/mysql" "$rootfs/run/mysqld" "$rootfs/docker-entrypoint-initdb.d"
        chroot "$rootfs" chown mysql:mysql /var/lib/mysql /run/mysqld
        printf '%s\n%s\n' "$recipe" "$(date -u +%FT%TZ)" >"$marker"
    fi

    inputs=$(cat "$marker" "$here"/compose/test-images/* "$0" | sha256sum | cut -c1-16)
    built_from() { docker image inspect --format "{{ index .Config.Labels \"$label\" }}" "$1" 2>/dev/null || true; }
    up_to_date() {
        local image
        for image in test-base "${images[@]}"; do
            [ "$(built_from "harness-local/$image:$tag")" = "$inputs" ] || return 1
        done
    }
    if up_to_date; then
        echo "images are up to date (inputs $inputs)"
    else
        tar -C "$rootfs" -c . | docker import --change "LABEL $label=$inputs" - "$base"
        for target in "${images[@]}"; do
            docker build --quiet --target "$target" --build-arg "BASE=$base" --label "$label=$inputs" \
                --tag "harness-local/$target:$tag" "$here/compose/test-images"
        done
        # What these builds replaced is now untagged: remove it (only images carrying this label).
        docker image prune --force --filter "label=$label" --filter dangling=true
    fi
} >>"$log" 2>&1

for target in "${images[@]}"; do
    name=${target^^}
    echo "HARNESS_${name//-/_}_IMAGE=harness-local/$target:$tag"
done
