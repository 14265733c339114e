"""The redis kind with a real ``redis-server``: a password, a dependent app, status, down."""

from __future__ import annotations

import json
import shutil

import httpx
import psutil
import pytest

from harness.host.ports import port_free
from harness.kinds.redis import RedisProbe

from .conftest import owned_processes

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="needs Debian's redis-server (scripts/setup-machine.sh installs it)",
)

STACK = """
[stack]
name = "cache"

[services.cache]
kind = "redis"
port = {p0}
password = "cache-secret-pw"
settings = { maxmemory = "32mb" }

[services.api]
command = "{app} --port {port} --need-env QUEUE_URL"
port = {p1}
after = ["cache"]
ready = { http = "/health", timeout = 20 }
env = { QUEUE_URL = "{cache.url}" }
"""


def test_redis_with_password_serves_its_dependent_and_stops(make_stack):
    sd = make_stack(STACK)
    res = sd.cli("up")
    assert res.returncode == 0, res.stderr
    url = httpx.get(f"http://127.0.0.1:{sd.ports[1]}/env/QUEUE_URL").json()["value"]
    assert url == f"redis://:cache-secret-pw@127.0.0.1:{sd.ports[0]}/0"
    assert RedisProbe("127.0.0.1", sd.ports[0], "cache-secret-pw").check(2) is None
    assert "NOAUTH" in (RedisProbe("127.0.0.1", sd.ports[0]).check(2) or ""), "the password is required"

    pid = json.loads((sd.state_dir() / "state.json").read_text())["processes"]["cache"]["pid"]
    server = psutil.Process(pid)
    assert "cache-secret-pw" not in " ".join(server.cmdline()), "the password stays out of ps"
    listening = {c.laddr.ip for c in server.net_connections() if c.status == psutil.CONN_LISTEN}
    assert listening == {"127.0.0.1"}

    status = sd.cli("status")
    assert status.stderr.count("healthy") == 2, status.stderr
    assert "cache-secret-pw" not in status.stderr

    assert sd.cli("down").returncode == 0
    assert port_free(sd.ports[0]) and port_free(sd.ports[1])
    assert owned_processes(sd.state_dir()) == []


def test_a_password_with_quotes_and_backslashes_is_the_password_redis_asks_for(make_stack):
    """Written into redis.conf quoted as redis reads it: the whole value, and nothing more."""
    password = 'pw "with" \\quotes\\'  # pw "with" \quotes\
    sd = make_stack(STACK.replace('"cache-secret-pw"', f"'''{password}'''"))  # a TOML literal string: as written
    res = sd.cli("up", "cache")
    assert res.returncode == 0, res.stderr
    assert RedisProbe("127.0.0.1", sd.ports[0], password).check(2) is None
    assert "AUTH refused" in (RedisProbe("127.0.0.1", sd.ports[0], 'pw "with" ').check(2) or "")
    assert sd.cli("down").returncode == 0
