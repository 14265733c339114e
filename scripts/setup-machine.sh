#!/usr/bin/env bash
# One-time machine set-up: system packages the native backend uses (redis-server for the redis
# kind), and the Python tools that drive it (nox, invoke, uv, and the harness with every extra).
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ngspice >/dev/null || need+=(ngspice)
command -v Xvfb >/dev/null || need+=(xvfb)
command -v chromium >/dev/null || need+=(chromium)
command -v redis-server >/dev/null || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
if ((${#need[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-machine: missing Debian packages: ${need[*]}; run: sudo apt-get install -y ${need[*]}" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q "${need[@]}"
fi

python3 -m pip install -q --disable-pip-version-check nox uv invoke
python3 -m pip install -q --disable-pip-version-check -e ".[all,services,test]"
# pyenv only exposes new console scripts (nox, invoke) after a rehash.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
for tool in nox invoke; do
  command -v "$tool" >/dev/null || { echo "setup-machine: '$tool' is not on PATH after installing it" >&2; exit 2; }
done
