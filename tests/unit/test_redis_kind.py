"""The redis kind's configuration side: its placeholders, exported variables and probe."""

from __future__ import annotations

import socket
import textwrap
import threading

import pytest

from harness.errors import ConfigError
from harness.kinds.redis import RedisProbe

from .helpers import plan_of

STACK = """
[stack]
port_offset = 10

[services.cache]
kind = "redis"
port = 26379
password = "${CACHE_PASSWORD:-p@ss word}"

[services.plain]
kind = "redis"
port = 26380

[services.app]
command = "serve --redis {cache.url} --plain {plain.url}"

[env]
QUEUE_URL = "{cache.url}"
"""


def stack(tmp_path, text=STACK):
    path = tmp_path / "stack.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_url_placeholders_and_variables_follow_the_instance(tmp_path):
    plan = plan_of(stack(tmp_path), 2)
    env = plan.derived_env
    assert env["CACHE_URL"] == "redis://:p%40ss%20word@127.0.0.1:26399/0"
    assert env["CACHE_PASSWORD"] == "p@ss word" and env["CACHE_PORT"] == "26399"
    assert env["PLAIN_URL"] == "redis://127.0.0.1:26400/0" and "PLAIN_PASSWORD" not in env
    assert env["QUEUE_URL"] == env["CACHE_URL"]
    assert plan.node("app").rendered["command"].endswith("--plain redis://127.0.0.1:26400/0")


def test_unknown_redis_field_names_the_fields_it_has(tmp_path):
    with pytest.raises(ConfigError) as info:
        plan_of(stack(tmp_path, STACK.replace("{plain.url}", "{plain.dsn}")), 0)
    msg = str(info.value)
    assert "services.app.command" in msg and "{plain.dsn}" in msg
    assert "password" in msg and "database" in msg and "port" in msg


def test_port_is_required(tmp_path):
    with pytest.raises(ConfigError, match=r"services.plain.port: required key is missing"):
        plan_of(stack(tmp_path, STACK.replace("port = 26380\n", "")), 0)


class FakeRedis:
    """Answers RESP commands on a loopback socket: +OK to AUTH with the right password, +PONG to PING."""

    def __init__(self, password: str = "") -> None:
        self.password = password
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                reader = conn.makefile("rb")
                authed = not self.password
                for _ in range(2):
                    header = reader.readline()
                    if not header:
                        break
                    parts = [reader.readline() and reader.readline().strip() for _ in range(int(header[1:]))]
                    if parts[0] == b"AUTH":
                        authed = parts[1].decode() == self.password
                        conn.sendall(b"+OK\r\n" if authed else b"-WRONGPASS invalid password\r\n")
                    elif parts[0] == b"PING":
                        conn.sendall(b"+PONG\r\n" if authed else b"-NOAUTH Authentication required.\r\n")


def test_probe_pings_with_and_without_a_password():
    server = FakeRedis("s3cret")
    assert RedisProbe("127.0.0.1", server.port, "s3cret").check(1) is None
    assert "WRONGPASS" in (RedisProbe("127.0.0.1", server.port, "nope").check(1) or "")
    assert "NOAUTH" in (RedisProbe("127.0.0.1", server.port).check(1) or "")
    server.sock.close()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert RedisProbe("127.0.0.1", port).check(0.5) is not None
