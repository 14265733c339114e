"""The mysql kind's configuration side: placeholders, exported variables, option and init files, probe."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.kinds.base import ServiceContext
from harness.kinds.mysql import MysqlProbe, grant_target, init_sql, option_file, sql_string
from harness.runtime.plan import Plan

from .helpers import plan_of

STACK = """
[stack]
port_offset = 10

[services.db]
kind = "mysql"
port = 23306
user = "shop"
password = "${DB_PASSWORD:-p@ss word}"
database = "shop"
databases = ["shop_test"]
root_password = "r00t"
settings = { max_connections = 40, innodb_flush_log_at_trx_commit = 1, performance_schema = true }

[services.plain]
kind = "mysql"
port = 23307

[services.app]
command = "serve --db {db.dsn} --plain {plain.url} --root {plain.root_password}"

[env]
DATABASE_URL = "{db.dsn}"
"""


def stack(tmp_path: Path, text: str = STACK) -> Path:
    path = tmp_path / "stack.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_placeholders_and_variables_follow_the_instance(tmp_path):
    plan = plan_of(stack(tmp_path), 2)
    env = plan.derived_env
    assert env["DB_DSN"] == "mysql://shop:p%40ss%20word@127.0.0.1:23326/shop"
    assert env["DB_URL"] == "mysql://shop@127.0.0.1:23326/shop"
    assert (env["DB_USER"], env["DB_PASSWORD"], env["DB_DB"], env["DB_PORT"]) == ("shop", "p@ss word", "shop", "23326")
    assert env["PLAIN_DSN"] == "mysql://app:app@127.0.0.1:23327/app" and env["PLAIN_DB"] == "app"
    assert env["DATABASE_URL"] == env["DB_DSN"]
    assert plan.node("app").rendered["command"].endswith("--plain mysql://app@127.0.0.1:23327/app --root root")


def test_unknown_field_names_the_fields_it_has(tmp_path):
    with pytest.raises(ConfigError) as info:
        plan_of(stack(tmp_path, STACK.replace("{plain.url}", "{plain.vhost}")), 0)
    msg = str(info.value)
    assert "{plain.vhost}" in msg and "dsn" in msg and "root_password" in msg and "database" in msg


def test_port_is_required(tmp_path):
    with pytest.raises(ConfigError, match=r"services.plain.port: required key is missing"):
        plan_of(stack(tmp_path, STACK.replace("port = 23307\n", "")), 0)


def test_root_as_the_app_user_must_use_the_root_password(tmp_path):
    with pytest.raises(ConfigError, match=r"services.plain: .*root_password"):
        plan_of(stack(tmp_path, STACK.replace("port = 23307\n", 'port = 23307\nuser = "root"\n')), 0)
    fine = STACK.replace("port = 23307\n", 'port = 23307\nuser = "root"\npassword = "root"\n')
    assert plan_of(stack(tmp_path, fine), 0).derived_env["PLAIN_USER"] == "root"


@pytest.mark.parametrize("key", ["port", "bind-address", "datadir", "socket", "init_file"])
def test_settings_cannot_move_the_server(tmp_path, key):
    text = STACK.replace("max_connections = 40", f'"{key}" = "x"')
    with pytest.raises(ConfigError, match=rf"services.db: settings.{key} is set by the harness"):
        plan_of(stack(tmp_path, text), 0)


def context(plan: Plan, name: str) -> ServiceContext[Any, Any]:
    """What a kind's hooks receive for ``name``, as the supervisor builds it."""
    node = plan.node(name)
    return ServiceContext(
        name=name,
        svc=node.model,
        endpoint=node.endpoint,
        env=node.env,
        cwd=node.cwd,
        log_path=node.log_path,
        data_dir=node.data_dir,
        rendered=node.rendered,
        stack_file=plan.file,
        instance=plan.instance,
    )


def test_the_option_file_binds_loopback_keeps_files_in_the_data_dir_and_takes_settings_last(tmp_path):
    ctx = context(plan_of(stack(tmp_path), 1), "db")
    data = ctx.data_dir / "data"
    text = option_file(ctx, data, ctx.data_dir / "init.sql", as_root=False)
    lines = text.splitlines()
    assert lines[0] == "[mariadbd]"
    assert f"datadir = {data}" in lines and "port = 23316" in lines and "bind-address = 127.0.0.1" in lines
    assert f"socket = {data / 'mysqld.sock'}" in lines and f"pid-file = {data / 'mysqld.pid'}" in lines
    assert "skip-log-bin" in lines and "skip-name-resolve" in lines and "user = root" not in lines
    # settings win over the speed defaults (one line each), booleans are ON/OFF
    assert "innodb_flush_log_at_trx_commit = 1" in lines and "innodb_flush_log_at_trx_commit = 2" not in lines
    assert "max_connections = 40" in lines and "performance_schema = ON" in lines
    assert "r00t" not in text, "the root password is only in the init file"
    assert "user = root" in option_file(ctx, data, tmp_path / "init.sql", as_root=True).splitlines()


def test_init_file_sets_root_password_for_every_root_account():
    sql = init_sql("it's a \\ pw")
    assert sql.startswith("SET SESSION sql_mode = '';")
    assert "'it\\'s a \\\\ pw'" in sql
    for host in ("localhost", "127.0.0.1", "::1"):
        assert f"ALTER USER IF EXISTS 'root'@'{host}' IDENTIFIED BY" in sql
    assert sql_string("plain") == "'plain'"


def test_grants_escape_wildcards_in_database_names():
    assert grant_target("shop") == "`shop`.*"
    assert grant_target("shop_test") == "`shop\\_test`.*"
    assert grant_target("50%") == "`50\\%%`.*"  # % doubled for the driver's own formatting
    assert grant_target("we`ird") == "`we``ird`.*"


def test_probe_against_a_dead_port_says_why():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    probe = MysqlProbe("127.0.0.1", port, "root", "pw")
    assert probe.what == f"SELECT 1 on mysql 127.0.0.1:{port}"
    problem = probe.check(0.5)
    assert problem and "Can't connect" in problem


def test_probe_against_something_that_is_not_mysql_fails():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]

        import threading

        def answer() -> None:
            conn, _ = srv.accept()
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

        threading.Thread(target=answer, daemon=True).start()
        assert MysqlProbe("127.0.0.1", port, "root", "pw").check(1) is not None


def test_init_writes_a_loadable_mysql_stack(tmp_path):
    from harness.cli.scaffold import init

    target = init(tmp_path / "stack.toml", ["mysql", "rabbitmq"])
    plan = plan_of(target, 0)
    assert plan.derived_env["MYSQL_DSN"] == "mysql://app:app@127.0.0.1:23306/app"
    assert plan.derived_env["BROKER_URL"] == "amqp://app:app@127.0.0.1:25672/%2F"
