from __future__ import annotations

import textwrap

import pytest

from harness.config.masking import mask_env, mask_text
from harness.errors import HarnessError

from .helpers import plan_of

STACK = """
[stack]
port_offset = 10

[services.db]
kind = "postgres"
port = 25432
user = "u"
password = "${DB_PASSWORD:-s3cr3t-pass}"
database = "main"

[services.store]
kind = "s3"
port = 29000
buckets = ["a", "b"]

[services.display]
kind = "xvfb"
display = 150

[services.api]
command = "serve --port {port}"
port = 28000
path = ["bin"]
env = { API_DB = "{db.dsn}", OWN = "{name}:{port}" }

[env]
DATABASE_URL = "postgresql+psycopg://{db.user}:{db.password}@{db.host}:{db.port}/{db.database}"
PGHOST = "{db.host}"
"""


@pytest.fixture
def stack(tmp_path):
    path = tmp_path / "stack.toml"
    path.write_text(textwrap.dedent(STACK))
    return path


def test_instance_shifts_every_port_and_display(stack):
    env0 = plan_of(stack, 0).derived_env
    env3 = plan_of(stack, 3).derived_env
    assert env0["DB_PORT"] == "25432" and env3["DB_PORT"] == "25462"
    assert env3["API_URL"] == "http://127.0.0.1:28030"
    assert env0["DISPLAY"] == ":150" and env3["DISPLAY"] == ":153"
    assert env0["HARNESS_STATE_DIR"] != env3["HARNESS_STATE_DIR"]
    assert env0["HARNESS_LOG_DIR"].endswith("/logs/0") and env3["HARNESS_LOG_DIR"].endswith("/logs/3")


def test_templates_build_dsns_and_separate_variables(stack):
    env = plan_of(stack, 1).derived_env
    assert env["DATABASE_URL"] == "postgresql+psycopg://u:s3cr3t-pass@127.0.0.1:25442/main"
    assert env["PGHOST"] == "127.0.0.1"
    assert env["DB_USER"] == "u" and env["DB_PASSWORD"] == "s3cr3t-pass" and env["DB_DB"] == "main"
    assert env["STORE_ENDPOINT"] == "http://127.0.0.1:29010" and env["STORE_BUCKETS"] == "a,b"


def test_node_env_adds_own_env_and_path(stack):
    env = plan_of(stack, 0, environ={"PATH": "/usr/bin"}).node("api").env
    assert env["API_DB"].startswith("postgresql://u:s3cr3t-pass@127.0.0.1:25432/")
    assert env["OWN"] == "api:28000"
    assert env["PATH"].split(":")[0] == str(stack.parent / "bin")
    assert env["PATH"].endswith("/usr/bin")


def test_instance_out_of_range_is_a_clear_error(stack, monkeypatch):
    monkeypatch.setenv("HARNESS_INSTANCE", "x")
    with pytest.raises(HarnessError, match="whole number"):
        plan_of(stack, None)
    with pytest.raises(HarnessError, match="out of range"):
        plan_of(stack, 999)


def test_secrets_are_masked(stack):
    env = plan_of(stack, 0).derived_env
    masked = mask_env(env)
    assert masked["DB_PASSWORD"] == "***"
    assert masked["DATABASE_URL"] == "postgresql+psycopg://u:***@127.0.0.1:25432/main"
    assert "s3cr3t-pass" not in str(masked)
    assert masked["DB_PORT"] == "25432"
    text = mask_text(f"connecting to {env['DATABASE_URL']} as {env['DB_PASSWORD']}", env)
    assert "s3cr3t-pass" not in text and "***" in text


def test_instance_auto_passes_over_an_instance_whose_ports_something_else_holds(stack):
    """Another checkout's stack holds no lock here: its ports in use are what tell auto to move on."""
    import socket

    from harness.host.ports import port_free

    if not all(port_free(p) for p in (28000, 28010, 28020, 25432, 25442, 29000, 29010)):
        pytest.skip("a port of instances 0 and 1 of this test's stack is in use on this machine")
    with socket.socket() as held:
        held.bind(("127.0.0.1", 28000))  # instance 0's api port
        held.listen()
        assert plan_of(stack, "auto").instance == 1
    assert plan_of(stack, "auto").instance == 0
