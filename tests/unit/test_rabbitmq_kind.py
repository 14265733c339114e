"""The rabbitmq kind's configuration side: ports, placeholders, config and definitions, the AMQP probe."""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import textwrap
import threading
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.kinds.rabbitmq import AmqpProbe, config_text, definitions, method_frame, node_name, password_hash

from .helpers import plan_of
from .test_mysql_kind import context

STACK = """
[stack]
port_offset = 1000

[services.mq]
kind = "rabbitmq"
port = 25672
user = "worker"
password = "${MQ_PASSWORD:-p@ss word}"
vhost = "jobs/main"
ports = { management = 25680 }
settings = { "vm_memory_high_watermark.relative" = 0.6, "log.connection.level" = "info", collect_statistics = true }

[services.plain]
kind = "rabbitmq"
port = 25772
ports = { epmd = 25790, dist = 25791 }

[services.app]
command = "serve --broker {mq.url} --plain {plain.url} --vhost {mq.vhost} --ui {mq.ports.management}"
"""


def stack(tmp_path: Path, text: str = STACK) -> Path:
    path = tmp_path / "stack.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_url_placeholders_and_variables_follow_the_instance(tmp_path):
    plan = plan_of(stack(tmp_path), 2)
    env = plan.derived_env
    assert env["MQ_URL"] == "amqp://worker:p%40ss%20word@127.0.0.1:27672/jobs%2Fmain"
    assert (env["MQ_USER"], env["MQ_PASSWORD"], env["MQ_VHOST"]) == ("worker", "p@ss word", "jobs/main")
    assert env["PLAIN_URL"] == "amqp://app:app@127.0.0.1:27772/%2F", "the default vhost / is %2F"
    assert plan.node("app").rendered["command"].endswith("--vhost jobs/main --ui 27680")


def test_epmd_and_dist_ports_default_to_the_next_two_and_shift_with_the_instance(tmp_path):
    plan = plan_of(stack(tmp_path), 1)
    mq, plain = plan.node("mq").endpoint, plan.node("plain").endpoint
    assert dict(mq.ports.items()) == {"epmd": 26673, "dist": 26674, "management": 26680}
    assert dict(plain.ports.items()) == {"epmd": 26790, "dist": 26791}
    assert plan.node("mq").ports == [26672, 26673, 26674, 26680], "every one is checked free before start"
    assert (plan.derived_env["MQ_EPMD_PORT"], plan.derived_env["MQ_MANAGEMENT_PORT"]) == ("26673", "26680")


def test_the_node_name_is_private_to_the_data_dir(tmp_path):
    plan = plan_of(stack(tmp_path), 0)
    name = plan.node("mq").endpoint.node
    assert name.startswith("rabbit-") and name.endswith("@localhost")
    assert name == node_name(plan.node("mq").data_dir)
    assert name != plan_of(stack(tmp_path), 1).node("mq").endpoint.node
    assert name != plan.node("plain").endpoint.node


def test_a_derived_port_that_clashes_is_named(tmp_path):
    text = STACK.replace("port = 25772\nports = { epmd = 25790, dist = 25791 }", "port = 25673")
    with pytest.raises(ConfigError, match=r"port 25673 is also used by services\.mq"):
        plan_of(stack(tmp_path, text), 0)


def test_unknown_port_names_and_owned_settings_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"services\.plain: ports\.amqp: a rabbitmq node has ports epmd, dist"):
        plan_of(stack(tmp_path, STACK.replace("epmd = 25790,", "amqp = 25790, epmd = 25792,")), 0)
    text = STACK.replace("collect_statistics = true", '"listeners.tcp.default" = 5672')
    with pytest.raises(ConfigError, match=r"settings\.listeners\.tcp\.default is set by the harness"):
        plan_of(stack(tmp_path, text), 0)


def test_port_is_required_and_a_vhost_cannot_be_empty(tmp_path):
    with pytest.raises(ConfigError, match=r"services.plain.port: required key is missing"):
        plan_of(stack(tmp_path, STACK.replace("port = 25772\n", "")), 0)
    with pytest.raises(ConfigError, match=r"services.mq.vhost"):
        plan_of(stack(tmp_path, STACK.replace('vhost = "jobs/main"', 'vhost = ""')), 0)


def test_config_listens_on_loopback_loads_the_definitions_and_takes_settings_last(tmp_path):
    ctx = context(plan_of(stack(tmp_path), 0), "mq")
    lines = config_text(ctx, Path("/d/definitions.json")).splitlines()
    assert lines[:3] == [
        "listeners.tcp.default = 127.0.0.1:25672",
        "listeners.ssl = none",
        "load_definitions = /d/definitions.json",
    ]
    assert "management.tcp.ip = 127.0.0.1" in lines and "management.tcp.port = 25680" in lines
    assert "log.console.use_colors = off" in lines and "log.file = false" in lines
    assert lines[-3:] == [
        "vm_memory_high_watermark.relative = 0.6",
        "log.connection.level = info",
        "collect_statistics = true",
    ]
    assert not any("p@ss" in line for line in lines), "the password is only in the definitions, hashed"
    plain = config_text(context(plan_of(stack(tmp_path), 0), "plain"), Path("/d/definitions.json"))
    assert "management" not in plain


def test_definitions_hold_the_user_hashed_as_rabbitmq_checks_it(tmp_path):
    svc = plan_of(stack(tmp_path), 0).node("mq").model
    defs = definitions(svc)
    (user,) = defs["users"]
    assert user["name"] == "worker" and user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
    raw = base64.b64decode(user["password_hash"])
    salt, digest = raw[:4], raw[4:]
    assert digest == hashlib.sha256(salt + b"p@ss word").digest()
    assert password_hash("x", salt=b"\x00\x01\x02\x03") == password_hash("x", salt=b"\x00\x01\x02\x03")
    assert defs["vhosts"] == [{"name": "jobs/main"}]
    assert defs["permissions"] == [
        {"user": "worker", "vhost": "jobs/main", "configure": ".*", "write": ".*", "read": ".*"}
    ]


def _shortstr(data: bytes, at: int) -> tuple[str, int]:
    return data[at + 1 : at + 1 + data[at]].decode(), at + 1 + data[at]


def _longstr(data: bytes, at: int) -> tuple[bytes, int]:
    size = struct.unpack(">I", data[at : at + 4])[0]
    return data[at + 4 : at + 4 + size], at + 4 + size


class FakeBroker:
    """Speaks enough AMQP 0-9-1 on a loopback socket: Start, PLAIN login, Tune, Open on its vhost, Close."""

    def __init__(self, user: str = "u", password: str = "p", vhost: str = "/", header: bytes = b"") -> None:
        self.user, self.password, self.vhost, self.header = user, password, vhost, header
        self.closed_cleanly = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def read_method(self, reader) -> tuple[int, int, bytes]:
        kind, _channel, size = struct.unpack(">BHI", reader.read(7))
        payload = reader.read(size + 1)
        assert kind == 1 and payload[-1] == 0xCE
        return *struct.unpack(">HH", payload[:4]), payload[4:-1]

    def close(self, conn, code: int, text: str) -> None:
        conn.sendall(method_frame(10, 50, struct.pack(">H", code) + bytes([len(text)]) + text.encode() + b"\0" * 4))

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    self.session(conn, conn.makefile("rb"))
                except (OSError, AssertionError, struct.error):
                    continue

    def session(self, conn, reader) -> None:
        assert reader.read(8) == b"AMQP\x00\x00\x09\x01"
        if self.header:
            conn.sendall(self.header)
            return
        props = b"\x00\x00\x00\x00"
        conn.sendall(method_frame(10, 10, b"\x00\x09" + props + b"\x00\x00\x00\x05PLAIN\x00\x00\x00\x05en_US"))
        _, method, args = self.read_method(reader)
        assert method == 11
        _props, at = _longstr(args, 0)
        mechanism, at = _shortstr(args, at)
        response, at = _longstr(args, at)
        if mechanism != "PLAIN" or response != b"\0" + self.user.encode() + b"\0" + self.password.encode():
            self.close(conn, 403, "ACCESS_REFUSED - Login was refused")
            return
        conn.sendall(method_frame(10, 30, struct.pack(">HIH", 2047, 131072, 60)))
        assert self.read_method(reader)[1] == 31
        _, method, args = self.read_method(reader)
        assert method == 40
        if _shortstr(args, 0)[0] != self.vhost:
            self.close(conn, 530, f"NOT_ALLOWED - vhost {_shortstr(args, 0)[0]} not found")
            return
        conn.sendall(method_frame(10, 41, b"\x00"))
        if self.read_method(reader)[1] == 50:
            conn.sendall(method_frame(10, 51, b""))
            self.closed_cleanly.set()


def test_probe_logs_in_and_opens_the_vhost():
    broker = FakeBroker("worker", "s3cret", "jobs/main")
    assert AmqpProbe("127.0.0.1", broker.port, "worker", "s3cret", "jobs/main").check(1) is None
    assert broker.closed_cleanly.wait(1), "the probe closes the connection properly"
    refused = AmqpProbe("127.0.0.1", broker.port, "worker", "nope", "jobs/main").check(1)
    assert refused == "login refused: 403 ACCESS_REFUSED - Login was refused"
    vhost = AmqpProbe("127.0.0.1", broker.port, "worker", "s3cret", "/").check(1)
    assert vhost == "vhost '/' refused: 530 NOT_ALLOWED - vhost / not found"
    assert AmqpProbe("127.0.0.1", broker.port).check(1) is None, "without a user: Connection.Start is enough"
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    late = AmqpProbe("127.0.0.1", broker.port, "worker", "s3cret", "jobs/main", management=port).check(1)
    assert late == f"management API on port {port}: Connection refused", "its plugin starts after AMQP listens"
    assert AmqpProbe("127.0.0.1", broker.port, "worker", "s3cret", "jobs/main", management=broker.port).check(1) is None
    broker.sock.close()


def test_probe_names_another_protocol_version_and_a_dead_port():
    broker = FakeBroker(header=b"AMQP\x00\x00\x09\x00")
    assert AmqpProbe("127.0.0.1", broker.port, "u", "p").check(1) == "the server speaks AMQP 0-9-0, not 0-9-1"
    broker.sock.close()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    probe = AmqpProbe("127.0.0.1", port, "u", "p")
    assert probe.what == f"AMQP handshake on 127.0.0.1:{port}"
    assert probe.check(0.5) == "Connection refused"


def test_probe_against_a_server_that_hangs_up():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()

        def hang_up() -> None:
            conn, _ = srv.accept()
            conn.recv(8)
            conn.close()

        threading.Thread(target=hang_up, daemon=True).start()
        assert AmqpProbe("127.0.0.1", srv.getsockname()[1]).check(1) == "the server closed the connection"
