"""The rabbitmq kind with a real RabbitMQ node: its dependent, the app user on its vhost, loopback only
(epmd included), the management API, status, down, and a harness killed with SIGKILL while the node
boots or once it is up: nothing survives, epmd included."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat

import httpx
import psutil
import pytest

from harness.host.ports import port_free
from harness.kinds.rabbitmq import AmqpProbe, server_script

from .conftest import name_of, owned_processes, wait_for

pytestmark = pytest.mark.skipif(
    server_script(os.environ.get("PATH")) is None or shutil.which("epmd") is None,
    reason="needs Debian's rabbitmq-server (apt-get install rabbitmq-server)",
)

STACK = """
[stack]
name = "jobs"

[services.mq]
kind = "rabbitmq"
port = {p0}
user = "worker"
password = "mq-secret-pw"
vhost = "jobs/main"
ports = {ports}

[services.api]
command = "{app} --port {port} --need-env BROKER_URL {delay}"
port = {p1}
after = ["mq"]
ready = { http = "/health", timeout = 30 }
env = { BROKER_URL = "{mq.url}" }
"""


def listening(procs: list[psutil.Process]) -> set[tuple[str, int]]:
    out = set()
    for proc in procs:
        try:
            out |= {(c.laddr.ip, c.laddr.port) for c in proc.net_connections() if c.status == psutil.CONN_LISTEN}
        except psutil.Error:
            continue
    return out


def test_rabbitmq_serves_its_dependent_and_stops(reachable_stack):
    ports = "{ epmd = {p2}, dist = {p3}, management = {p4} }"
    sd = reachable_stack(STACK.replace("{ports}", ports).replace("{delay}", ""), n_ports=5)
    amqp, app, epmd, dist, management = sd.ports
    res = sd.cli("up")
    assert res.returncode == 0, res.stderr
    url = httpx.get(f"http://127.0.0.1:{app}/env/BROKER_URL").json()["value"]
    assert url == f"amqp://worker:mq-secret-pw@127.0.0.1:{amqp}/jobs%2Fmain"

    assert AmqpProbe("127.0.0.1", amqp, "worker", "mq-secret-pw", "jobs/main").check(5) is None
    assert "403 ACCESS_REFUSED" in (AmqpProbe("127.0.0.1", amqp, "worker", "wrong", "jobs/main").check(5) or "")
    assert "530 NOT_ALLOWED" in (AmqpProbe("127.0.0.1", amqp, "worker", "mq-secret-pw", "/").check(5) or "")
    assert "403" in (AmqpProbe("127.0.0.1", amqp, "guest", "guest", "/").check(5) or ""), "no guest user"
    overview = httpx.get(f"http://127.0.0.1:{management}/api/whoami", auth=("worker", "mq-secret-pw"), timeout=10)
    assert overview.status_code == 200 and overview.json()["name"] == "worker"

    pid = json.loads((sd.state_dir() / "state.json").read_text())["processes"]["mq"]["pid"]
    node = psutil.Process(pid)
    assert node.name() == "beam.smp", "the recorded process is the node itself (the wrapper exec'd it)"
    if psutil.Process().uids().effective == 0:
        assert node.username() == "rabbitmq", "as root, the node runs as the rabbitmq user"
    (epmd_proc,) = [p for p in node.children(recursive=True) if p.name() == "epmd"]
    assert os.getpgid(epmd_proc.pid) == pid, "epmd runs in the node's process group"
    assert epmd_proc.environ()["HARNESS_OWNER"].startswith(str(sd.state_dir().resolve()))
    mine = owned_processes(sd.state_dir())
    sockets = listening(mine)
    assert {port for _ip, port in sockets} == {amqp, app, epmd, dist, management}, sockets
    assert {ip for ip, _port in sockets} <= {"127.0.0.1", "::1"}, "loopback only"
    assert {ip for ip, port in sockets if port != epmd} == {"127.0.0.1"}, "only epmd adds ::1"
    assert not any("secret" in " ".join(p.cmdline()) for p in mine), "passwords stay out of ps"
    cookie = sd.state_dir().resolve() / "mq" / ".erlang.cookie"
    assert stat.S_IMODE(cookie.stat().st_mode) == 0o400

    status = sd.cli("status")
    assert status.stderr.count("healthy") == 2, status.stderr
    assert "secret" not in status.stderr

    assert sd.cli("down").returncode == 0
    assert all(port_free(p) for p in sd.ports), "AMQP, epmd, distribution and management ports all closed"
    assert owned_processes(sd.state_dir()) == []

    # A changed password takes effect at the next start: the definitions are imported at every boot.
    sd.file.write_text(sd.file.read_text().replace("mq-secret-pw", "mq-changed-pw"))
    again = sd.cli("up")
    assert again.returncode == 0, again.stderr
    assert AmqpProbe("127.0.0.1", amqp, "worker", "mq-changed-pw", "jobs/main").check(5) is None
    assert "403" in (AmqpProbe("127.0.0.1", amqp, "worker", "mq-secret-pw", "jobs/main").check(5) or "")

    assert sd.cli("down").returncode == 0
    assert all(port_free(p) for p in sd.ports), "AMQP, epmd, distribution and management ports all closed"
    assert owned_processes(sd.state_dir()) == []


@pytest.mark.parametrize("moment", ["while the node boots", "once the node is up"])
@pytest.mark.parametrize("then", ["down", "up"])
def test_a_sigkilled_harness_leaves_nothing_behind_epmd_included(reachable_stack, moment, then):
    sd = reachable_stack(STACK.replace("{ports}", "{ epmd = {p2}, dist = {p3} }").replace("{delay}", "--delay 3"))
    state_file = sd.state_dir() / "state.json"

    def recorded(name: str) -> bool:
        try:
            return name in json.loads(state_file.read_text())["processes"]
        except (OSError, ValueError, KeyError):
            return False

    def epmd_running() -> bool:
        return any(name_of(p) == "epmd" for p in owned_processes(sd.state_dir()))

    up = sd.popen("up")
    if moment == "while the node boots":
        wait_for(epmd_running, 30, "the node's epmd to start")
        assert port_free(sd.ports[0]), "killed before the AMQP listener opened"
    else:
        wait_for(lambda: recorded("api"), 60, "the node to be ready and its dependent started")
    up.send_signal(signal.SIGKILL)
    up.wait()
    left = owned_processes(sd.state_dir())
    assert any(p.name() == "epmd" for p in left), "the killed run left the node's epmd behind"

    res = sd.cli(then)
    assert res.returncode == 0, res.stderr
    assert "reaped" in res.stderr or "stopped" in res.stderr
    survivors = {p.pid for p in owned_processes(sd.state_dir())} & {p.pid for p in left}
    assert not survivors, "processes of the killed run survived"
    if then == "up":
        assert AmqpProbe("127.0.0.1", sd.ports[0], "worker", "mq-secret-pw", "jobs/main").check(5) is None
        assert sd.cli("down").returncode == 0
    assert owned_processes(sd.state_dir()) == []
    assert all(port_free(p) for p in sd.ports), "AMQP, epmd and distribution ports all closed"
