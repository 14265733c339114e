"""RabbitMQ from Debian's ``rabbitmq-server``: a private node per instance, loopback only.

The node (``rabbit-<hash of its data dir>@localhost``) keeps everything in the service's data
dir: its database (``RABBITMQ_MNESIA_BASE``), logs, configuration, enabled plugins, and the
Erlang cookie (``HOME`` points there). Its own ``epmd`` (Erlang's port mapper) runs on
``ports.epmd`` inside the service's process group, started in the foreground before the node, so
the node's boot finds it and never daemonises one: stopping the group stops it, and a harness
killed with SIGKILL leaves it findable by its ``HARNESS_OWNER`` tag. AMQP, the distribution
port (``ports.dist``) and the optional management API (``ports.management``) listen on 127.0.0.1;
epmd also on ::1 (it always adds the loopback addresses). As root, the node runs as the
``rabbitmq`` user. The app user, its vhost and permissions come from a definitions file the node
imports at every boot, so they exist before the AMQP listener opens (and a changed password takes
effect on restart). Ready: a full AMQP 0-9-1 handshake as that user, up to ``Connection.Open-Ok``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import pwd
import shutil
import socket
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field, model_validator

from harness.config.endpoints import Endpoint
from harness.config.models import Port, ServiceModel
from harness.errors import HarnessError
from harness.host.probes import Probe
from harness.host.users import server_dir, server_user
from harness.kinds.base import Kind, Launch, ServiceContext

Scalar = str | int | float | bool
HINT = "install Debian's RabbitMQ server (apt-get install rabbitmq-server)"
PORT_NAMES = ("epmd", "dist", "management")
OWNED = ("listeners.", "management.tcp.", "load_definitions", "definitions.")
# The epmd of this node in the foreground of the service's group, then the node in its place.
# rabbitmq-server runs erl directly (no shell left to turn TERM into `rabbitmqctl stop`) when it
# believes systemd runs it (RUNNING_UNDER_SYSTEMD, set by the launch).
WRAPPER = """
"$1" -port "$2" -address 127.0.0.1 &
i=0
until "$1" -port "$2" -names >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -gt 200 ]; then echo "harness: epmd did not answer on port $2" >&2; exit 1; fi
  sleep 0.05
done
exec "$3"
"""
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_END = 0xCE


class RabbitmqService(ServiceModel):
    kind: Literal["rabbitmq"] = "rabbitmq"
    port: Port = Field(...)
    user: str = Field("app", min_length=1)
    password: str = "app"
    vhost: str = Field("/", min_length=1)
    run_as: str | None = None
    settings: dict[str, Scalar] = {}

    @model_validator(mode="before")
    @classmethod
    def _own_ports(cls, data: Any) -> Any:
        """``ports.epmd`` and ``ports.dist`` default to ``port + 1`` and ``port + 2``."""
        if isinstance(data, dict) and isinstance(data.get("ports", {}), dict):
            try:
                port = int(data["port"])
            except (KeyError, TypeError, ValueError):
                return data  # the port's own check says what is wrong
            data = {**data, "ports": {"epmd": port + 1, "dist": port + 2, **data.get("ports", {})}}
        return data

    @model_validator(mode="after")
    def _checked(self) -> RabbitmqService:
        unknown = sorted(set(self.ports) - set(PORT_NAMES))
        if unknown:
            raise ValueError(f"ports.{unknown[0]}: a rabbitmq node has ports {', '.join(PORT_NAMES)}")
        taken = sorted(k for k in self.settings if k.startswith(OWNED))
        if taken:
            raise ValueError(f"settings.{taken[0]} is set by the harness (its listeners and definitions are its own)")
        return self


@dataclass(frozen=True)
class RabbitmqEndpoint(Endpoint):
    user: str = ""
    password: str = ""
    vhost: str = ""
    node: str = ""


Ctx = ServiceContext[RabbitmqService, RabbitmqEndpoint]


def _shortstr(text: str) -> bytes:
    data = text.encode()
    if len(data) > 255:
        raise ValueError(f"{text[:20]}...: longer than an AMQP short string (255 bytes)")
    return bytes([len(data)]) + data


def _longstr(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def method_frame(class_id: int, method_id: int, args: bytes) -> bytes:
    """One AMQP 0-9-1 method frame on channel 0."""
    payload = struct.pack(">HH", class_id, method_id) + args
    return struct.pack(">BHI", 1, 0, len(payload)) + payload + bytes([FRAME_END])


def _read_method(reader: Any) -> tuple[int, int, bytes]:
    """The next method frame's (class, method, arguments); other frames are skipped."""
    while True:
        head = reader.read(7)
        if len(head) < 7:
            raise ConnectionError("the server closed the connection")
        if head[:4] == b"AMQP":  # the protocol header it speaks instead
            head += reader.read(1)
            raise ConnectionError(f"the server speaks AMQP {'-'.join(str(b) for b in head[5:8])}, not 0-9-1")
        kind, _channel, size = struct.unpack(">BHI", head)
        payload = reader.read(size + 1)
        if len(payload) < size + 1 or payload[-1] != FRAME_END:
            raise ConnectionError("a malformed frame")
        if kind == 1:
            class_id, method_id = struct.unpack(">HH", payload[:4])
            return class_id, method_id, payload[4:-1]


def _close_reason(args: bytes) -> str:
    code = struct.unpack(">H", args[:2])[0]
    return f"{code} {args[3 : 3 + args[2]].decode(errors='replace')}"


@dataclass
class AmqpProbe:
    """An AMQP 0-9-1 handshake: ``Connection.Start``; with a user, also login and the vhost opened.

    With ``management``, its port must accept connections too: the management plugin starts
    after the AMQP listener has opened.
    """

    host: str
    port: int
    user: str = ""
    password: str = ""
    vhost: str = "/"
    management: int | None = None

    @property
    def what(self) -> str:
        return f"AMQP handshake on {self.host}:{self.port}"

    def check(self, timeout: float) -> str | None:
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
                reader = sock.makefile("rb")
                sock.sendall(AMQP_HEADER)
                if _read_method(reader)[:2] != (10, 10):
                    return "no Connection.Start"
                problem = self._login(sock, reader) if self.user else None
        except (OSError, ValueError, struct.error) as exc:
            return (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__
        if problem is None and self.management is not None:
            try:
                socket.create_connection((self.host, self.management), timeout=timeout).close()
            except OSError as exc:
                return f"management API on port {self.management}: {exc.strerror or exc}"
        return problem

    def _login(self, sock: socket.socket, reader: Any) -> str | None:
        # Asking for authentication_failure_close makes a refused login say why.
        capabilities = _shortstr("authentication_failure_close") + b"t\x01"
        props = _shortstr("product") + b"S" + _longstr(b"harness probe")
        props += _shortstr("capabilities") + b"F" + _longstr(capabilities)
        response = b"\x00" + self.user.encode() + b"\x00" + self.password.encode()
        start_ok = _longstr(props) + _shortstr("PLAIN") + _longstr(response) + _shortstr("en_US")
        sock.sendall(method_frame(10, 11, start_ok))
        class_id, method_id, args = _read_method(reader)
        if (class_id, method_id) == (10, 50):
            return f"login refused: {_close_reason(args)}"
        if (class_id, method_id) != (10, 30):
            return f"no Connection.Tune after login (got {class_id}.{method_id})"
        channel_max, frame_max, _heartbeat = struct.unpack(">HIH", args[:8])
        sock.sendall(method_frame(10, 31, struct.pack(">HIH", channel_max, frame_max, 0)))
        sock.sendall(method_frame(10, 40, _shortstr(self.vhost) + _shortstr("") + b"\x00"))
        class_id, method_id, args = _read_method(reader)
        if (class_id, method_id) == (10, 50):
            return f"vhost {self.vhost!r} refused: {_close_reason(args)}"
        if (class_id, method_id) != (10, 41):
            return f"no Connection.Open-Ok (got {class_id}.{method_id})"
        sock.sendall(method_frame(10, 50, struct.pack(">H", 200) + _shortstr("") + struct.pack(">HH", 0, 0)))
        with contextlib.suppress(OSError):  # Close-Ok: a clean close leaves no warning in the server's log
            _read_method(reader)
        return None


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's ``rabbit_password_hashing_sha256``: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4) if salt is None else salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def definitions(svc: RabbitmqService) -> dict[str, Any]:
    return {
        "users": [
            {
                "name": svc.user,
                "password_hash": password_hash(svc.password),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": "administrator",
            }
        ],
        "vhosts": [{"name": svc.vhost}],
        "permissions": [{"user": svc.user, "vhost": svc.vhost, "configure": ".*", "write": ".*", "read": ".*"}],
    }


def management_port(ep: Endpoint) -> int | None:
    return dict(ep.ports.items()).get("management")


def conf_value(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def config_text(ctx: Ctx, definitions_file: Path) -> str:
    """rabbitmq.conf: the listeners and the app user, quiet logs to the service log, then ``settings``."""
    ep, svc = ctx.endpoint, ctx.svc
    lines = [
        f"listeners.tcp.default = {ep.host}:{ep.port}",
        "listeners.ssl = none",
        # Imported at every boot before the listeners open; with it, no guest user or "/" vhost is seeded.
        f"load_definitions = {definitions_file}",
        "log.console = true",
        "log.console.level = info",
        "log.console.use_colors = off",
        "log.file = false",
        "log.connection.level = warning",  # readiness and liveness probes log nothing
    ]
    management = management_port(ep)
    if management is not None:
        lines += [f"management.tcp.ip = {ep.host}", f"management.tcp.port = {management}"]
    lines += [f"{key} = {conf_value(value)}" for key, value in svc.settings.items()]
    return "\n".join(lines) + "\n"


def server_script(env_path: str | None) -> str | None:
    """The start script on PATH, but not Debian's wrapper (it re-runs the real one through `su`, in
    /var/lib/rabbitmq, with its output in /var/log/rabbitmq): the script it wraps instead."""
    found = shutil.which("rabbitmq-server", path=env_path)
    if found and Path(found).resolve().name != "rabbitmq-script-wrapper":
        return found
    direct = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
    return str(direct) if direct.exists() else None


def node_name(data_dir: Path) -> str:
    return f"rabbit-{hashlib.sha256(str(data_dir).encode()).hexdigest()[:10]}@localhost"


def _run_as(ctx: Ctx) -> pwd.struct_passwd | None:
    where = f"services.{ctx.name}.run_as in {ctx.stack_file}"
    return server_user(ctx.svc.run_as, "rabbitmq", ctx.name, where, f"{HINT} (it makes the 'rabbitmq' user)")


class RabbitmqKind(Kind[RabbitmqService, RabbitmqEndpoint]):
    name = "rabbitmq"
    starter = ("broker", 25672)
    compose_images = ("rabbitmq",)
    compose_port = 5672
    compose_named_ports = {15672: "management"}
    model = RabbitmqService

    def from_compose(self, environment: Mapping[str, str], command: Sequence[str]) -> dict[str, Any]:
        """The official image's RABBITMQ_DEFAULT_USER, _PASS and _VHOST (unset: guest, guest, /)."""
        return {
            "user": environment.get("RABBITMQ_DEFAULT_USER") or "guest",
            "password": environment.get("RABBITMQ_DEFAULT_PASS") or "guest",
            "vhost": environment.get("RABBITMQ_DEFAULT_VHOST") or "/",
        }

    def endpoint(self, svc: RabbitmqService, base: Endpoint, instance: int) -> RabbitmqEndpoint:
        auth = f"{quote(svc.user, safe='')}:{quote(svc.password, safe='')}"
        return RabbitmqEndpoint.extend(
            base,
            url=f"amqp://{auth}@{base.host}:{base.port}/{quote(svc.vhost, safe='')}",
            user=svc.user,
            password=svc.password,
            vhost=svc.vhost,
            node=node_name(Path(base.data_dir)),
        )

    def exports(self, prefix: str, ep: RabbitmqEndpoint) -> dict[str, str]:
        return {f"{prefix}_USER": ep.user, f"{prefix}_PASSWORD": ep.password, f"{prefix}_VHOST": ep.vhost}

    def launch(self, ctx: Ctx) -> Launch:
        server = server_script(ctx.env.get("PATH"))
        epmd = shutil.which("epmd", path=ctx.env.get("PATH")) or shutil.which("epmd", path="/usr/bin")
        if server is None or epmd is None:
            raise HarnessError(f"{ctx.name}: {'rabbitmq-server' if server is None else 'epmd'} not found; {HINT}")
        user = _run_as(ctx)
        root, moved = server_dir(ctx.data_dir, user, ctx.name)
        for d in (root / "mnesia", root / "log"):
            d.mkdir(exist_ok=True)
        if user is not None:
            for d in (root, root / "mnesia", root / "log"):
                os.chown(d, user.pw_uid, user.pw_gid)
        root.chmod(0o700)
        files = {
            "definitions.json": json.dumps(definitions(ctx.svc)),
            "rabbitmq.conf": config_text(ctx, root / "definitions.json"),
            "enabled_plugins": "[].\n" if management_port(ctx.endpoint) is None else "[rabbitmq_management].\n",
            "rabbitmq-env.conf": "",  # instead of /etc/rabbitmq's
        }
        for name, text in files.items():
            fd = os.open(root / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            if user is not None:
                os.chown(root / name, user.pw_uid, user.pw_gid)
        ep = ctx.endpoint
        env = {
            "HOME": str(root),  # the Erlang cookie: $HOME/.erlang.cookie, made by the first start
            "ERL_EPMD_PORT": str(ep.ports.epmd),
            "ERL_EPMD_ADDRESS": ep.host,
            "RABBITMQ_NODENAME": ep.node,
            "RABBITMQ_DIST_PORT": str(ep.ports.dist),
            "RABBITMQ_NODE_IP_ADDRESS": ep.host,
            "RABBITMQ_NODE_PORT": str(ep.port),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "RABBITMQ_CONF_ENV_FILE": str(root / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(root / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(root / "log"),
            "RABBITMQ_PID_FILE": str(root / "rabbitmq.pid"),
            "RUNNING_UNDER_SYSTEMD": "true",
            "ERL_CRASH_DUMP": str(root / "erl_crash.dump"),  # not the service's cwd
        }
        argv = ["/bin/sh", "-c", WRAPPER, "rabbitmq", epmd, str(ep.ports.epmd), server]
        return Launch(argv=argv, env=env, user=user.pw_name if user else None, note=moved)

    def probe(self, ctx: Ctx) -> Probe | None:
        ep = ctx.endpoint
        assert ep.port is not None  # the model requires one
        return AmqpProbe(ep.host, ep.port, ep.user, ep.password, ep.vhost, management_port(ep))


RABBITMQ = RabbitmqKind()
