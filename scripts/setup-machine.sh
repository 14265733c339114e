#!/usr/bin/env bash
# One-time machine set-up: system packages the native backend uses (redis-server, mariadb-server
# and rabbitmq-server for the redis, mysql and rabbitmq kinds), and the Python tools that drive it
# (nox, invoke, uv, and the harness with every extra). The packages' own system daemons are not
# started: the harness runs private servers per instance. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ngspice >/dev/null || need+=(ngspice)
command -v Xvfb >/dev/null || need+=(xvfb)
command -v chromium >/dev/null || need+=(chromium)
command -v redis-server >/dev/null || need+=(redis-server)
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
if ((${#need[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-machine: missing Debian packages: ${need[*]}; run: sudo apt-get install -y ${need[*]}" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  # No system MariaDB, RabbitMQ or epmd left running on their default ports (a Debian convention:
  # invoke-rc.d starts nothing while policy-rc.d exits 101); one already there is kept.
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt-get update -q
  apt-get install -y -q "${need[@]}"
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

python3 -m pip install -q --disable-pip-version-check nox uv invoke
python3 -m pip install -q --disable-pip-version-check -e ".[all,services,test]"
# pyenv only exposes new console scripts (nox, invoke) after a rehash.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
for tool in nox invoke; do
  command -v "$tool" >/dev/null || { echo "setup-machine: '$tool' is not on PATH after installing it" >&2; exit 2; }
done
