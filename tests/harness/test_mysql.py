"""The mysql kind with a real MariaDB server: its dependent, the app user, loopback only, status,
down, the install cache, and a harness killed with SIGKILL while it starts or once it is up."""

from __future__ import annotations

import json
import shutil
import signal

import httpx
import psutil
import pymysql
import pytest

from harness.host.ports import port_free
from harness.kinds.mysql import MysqlProbe

from .conftest import owned_processes, wait_for

pytestmark = pytest.mark.skipif(
    shutil.which("mariadbd", path="/usr/sbin:/usr/bin") is None,
    reason="needs Debian's mariadb-server (apt-get install mariadb-server)",
)

STACK = """
[stack]
name = "shop"

[services.db]
kind = "mysql"
port = {p0}
user = "shop"
password = "shop-secret-pw"
database = "shop"
databases = ["shop_test"]
root_password = "root-secret-pw"
settings = { max_connections = 30 }

[services.api]
command = "{app} --port {port} --need-env DATABASE_URL {delay}"
port = {p1}
after = ["db"]
ready = { http = "/health", timeout = 30 }
env = { DATABASE_URL = "{db.dsn}" }
"""


def connect(port: int, user: str = "shop", password: str = "shop-secret-pw", **kw) -> pymysql.Connection:
    return pymysql.connect(host="127.0.0.1", port=port, user=user, password=password, connect_timeout=5, **kw)


def test_mysql_serves_its_dependent_and_stops(reachable_stack):
    sd = reachable_stack(STACK.replace("{delay}", ""))
    res = sd.cli("up")
    assert res.returncode == 0, res.stderr
    port = sd.ports[0]
    dsn = httpx.get(f"http://127.0.0.1:{sd.ports[1]}/env/DATABASE_URL").json()["value"]
    assert dsn == f"mysql://shop:shop-secret-pw@127.0.0.1:{port}/shop"

    with connect(port, database="shop") as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(20))")
        cur.execute("INSERT INTO orders VALUES (1, 'k\u00e4se')")
        conn.commit()
        cur.execute("SELECT item FROM orders")
        assert cur.fetchall() == (("k\u00e4se",),)
        cur.execute("CREATE TABLE shop_test.t (x INT)")  # granted on every database in `databases`
        with pytest.raises(pymysql.err.OperationalError, match="denied"):
            cur.execute("CREATE DATABASE elsewhere")
        cur.execute("SELECT @@max_connections, @@log_bin, @@character_set_server")
        assert cur.fetchone() == (30, 0, "utf8mb4")
    assert MysqlProbe("127.0.0.1", port, "root", "root-secret-pw").check(2) is None
    assert "denied" in (MysqlProbe("127.0.0.1", port, "root", "wrong").check(2) or "")

    pid = json.loads((sd.state_dir() / "state.json").read_text())["processes"]["db"]["pid"]
    server = psutil.Process(pid)
    if psutil.Process().uids().effective == 0:
        assert server.username() == "mysql", "as root, the server runs as the mysql user"
    assert not any("secret" in part for part in server.cmdline()), "passwords stay out of ps"
    listening = {c.laddr.ip for c in server.net_connections() if c.status == psutil.CONN_LISTEN}
    assert listening == {"127.0.0.1"}
    data = sd.state_dir().resolve() / "db" / "data"
    assert (data / "mysqld.sock").is_socket() and (data / "mysqld.pid").read_text().strip() == str(pid)

    status = sd.cli("status")
    assert status.stderr.count("healthy") == 2, status.stderr
    assert "secret" not in status.stderr

    assert sd.cli("down").returncode == 0
    assert port_free(sd.ports[0]) and port_free(sd.ports[1])
    assert owned_processes(sd.state_dir()) == []

    # The data dir is kept (the table is still there); changed passwords take effect at the next start.
    sd.file.write_text(sd.file.read_text().replace("secret-pw", "changed-pw"))
    again = sd.cli("up")
    assert again.returncode == 0, again.stderr
    with connect(port, password="shop-changed-pw", database="shop") as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM orders")
        assert cur.fetchone() == (1,)
    assert MysqlProbe("127.0.0.1", port, "root", "root-changed-pw").check(2) is None
    assert "denied" in (MysqlProbe("127.0.0.1", port, "shop", "shop-secret-pw").check(2) or "")


def test_a_new_data_dir_is_copied_from_the_install_cache(reachable_stack, tmp_path):
    sd = reachable_stack(STACK.replace("{delay}", ""))
    cache = {"HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    assert sd.cli("up", "db", env=cache).returncode == 0
    log = sd.root / "logs" / "0" / "db.log"
    assert "data dir made by mariadb-install-db" in log.read_text()
    assert sd.cli("down", "--clean", env=cache).returncode == 0
    res = sd.cli("up", env=cache)
    assert res.returncode == 0, res.stderr
    assert "data dir copied from the install cache" in log.read_text()
    with connect(sd.ports[0], database="shop_test") as conn, conn.cursor() as cur:
        cur.execute("SELECT DATABASE()")
        assert cur.fetchone() == ("shop_test",)


@pytest.mark.parametrize("moment", ["during install", "once the server is up"])
@pytest.mark.parametrize("then", ["down", "up"])
def test_a_sigkilled_harness_leaves_nothing_behind(reachable_stack, monkeypatch, moment, then):
    monkeypatch.setenv("HARNESS_NO_CACHE", "1")  # mariadb-install-db itself runs, as a recorded helper
    sd = reachable_stack(STACK.replace("{delay}", "--delay 3"))
    state_file = sd.state_dir() / "state.json"

    def recorded(name: str) -> bool:
        try:
            return name in json.loads(state_file.read_text())["processes"]
        except (OSError, ValueError, KeyError):
            return False

    up = sd.popen("up")
    if moment == "during install":
        wait_for(lambda: recorded("helper:db"), 30, "mariadb-install-db to be recorded")
    else:
        wait_for(lambda: recorded("api"), 30, "the server to be ready and its dependent started")
    up.send_signal(signal.SIGKILL)
    up.wait()
    left = owned_processes(sd.state_dir())
    assert left, "the killed run must have left processes behind for this test to mean anything"

    res = sd.cli(then)
    assert res.returncode == 0, res.stderr
    assert "reaped" in res.stderr or "stopped" in res.stderr
    survivors = {p.pid for p in owned_processes(sd.state_dir())} & {p.pid for p in left}
    assert not survivors, "processes of the killed run survived"
    if then == "up":
        with connect(sd.ports[0], database="shop") as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
        assert sd.cli("down").returncode == 0
    assert owned_processes(sd.state_dir()) == []
    assert port_free(sd.ports[0]) and port_free(sd.ports[1])
