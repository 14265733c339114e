"""The docker backend's configuration side: backend choice, compose variables, compose file checks."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.runtime.backend import compose_of, select_backend

from .helpers import plan_of

ROOT = Path(__file__).resolve().parents[2]
NO_ENGINE = "unix:///nonexistent/harness-test/docker.sock"

STACK = """
[stack]
name = "My Stack!"
port_offset = 10
{compose}

[services.db]
kind = "postgres"
port = 25432
superuser_password = "su-pass-123"
settings = {{ fsync = false, max_connections = 50 }}

[services.objects]
kind = "s3"
port = 29000
ports = {{ console = 29001 }}
compose_service = "minio"

[services.flow]
kind = "temporal"
port = 27233
ports = {{ http = 27250 }}
namespace = "tests"
settings = {{ "limit.x" = 3 }}

[services.display]
kind = "xvfb"
"""


def stack_at(tmp_path: Path, compose: str = 'compose_file = "compose.yaml"'):
    path = tmp_path / "stack.toml"
    path.write_text(textwrap.dedent(STACK.format(compose=compose)))
    return path


def compose_env(plan):
    return compose_of(plan).env()


def test_compose_env_follows_the_instance(tmp_path):
    env = compose_env(plan_of(stack_at(tmp_path), 2))
    assert env["HARNESS_DB_PORT"] == "25452" and env["HARNESS_DB_HOST"] == "127.0.0.1"
    assert env["HARNESS_DB_SUPERUSER_PASSWORD"] == "su-pass-123"
    assert env["HARNESS_DB_SETTINGS"] == "-c fsync=off -c max_connections=50"
    assert env["HARNESS_OBJECTS_PORT"] == "29020" and env["HARNESS_OBJECTS_CONSOLE_PORT"] == "29021"
    assert env["HARNESS_OBJECTS_ACCESS_KEY"] == "harness-s3-access"
    assert env["HARNESS_FLOW_HTTP_PORT"] == "27270"
    assert env["HARNESS_FLOW_EXTRA_ARGS"] == "--namespace tests --dynamic-config-value limit.x=3"
    assert not any(k.startswith("HARNESS_DISPLAY_") for k in env), "xvfb stays native"


def test_one_project_per_stack_instance_and_service(tmp_path):
    compose = compose_of(plan_of(stack_at(tmp_path), 3))
    assert compose.project("db") == "mystack-3-db"
    assert compose.projects() == ["mystack-3-db", "mystack-3-minio", "mystack-3-flow"]
    assert compose.env()["HARNESS_INSTANCE_NAME"] == "mystack-3", "for fixed volume names per instance"


def test_the_reference_compose_file_pins_images_and_names_volumes():
    text = (ROOT / "compose" / "docker-compose.test.yaml").read_text()
    images = re.findall(r"^\s+image: \$\{HARNESS_\w+_IMAGE:-([^}]+)\}$", text, re.M)
    assert len(images) == 3, text
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest", f"{image} is pinned"
    assert "latest" not in "".join(line.split("#")[0] for line in text.splitlines()), "no `latest` anywhere"
    assert "quay.io/minio/minio:RELEASE." in text and "MINIO_SITE_REGION" in text and "MINIO_REGION:" not in text
    names = re.findall(r"^    name: (.+)$", text, re.M)
    assert names == [f"${{HARNESS_INSTANCE_NAME}}-{v}" for v in ("pgdata", "s3data", "temporaldata")]


def test_compose_cli_choice(tmp_path, monkeypatch):
    from harness.docker import compose as compose_mod

    monkeypatch.setattr(compose_mod, "_answers", lambda argv: list(argv) == ["docker-compose"])
    compose_mod.compose_command.cache_clear()
    try:
        assert compose_mod.compose_command("auto") == ("docker-compose",), "auto: v1 when v2 does not answer"
        assert compose_mod.compose_command("v1") == ("docker-compose",)
        with pytest.raises(HarnessError, match=r"HARNESS_COMPOSE=v2: `docker compose version` does not answer"):
            compose_mod.compose_command("v2")
    finally:
        compose_mod.compose_command.cache_clear()
    plan = plan_of(stack_at(tmp_path), 0, environ={"HARNESS_COMPOSE": "V2"})
    assert compose_of(plan).cli == "v2"
    with pytest.raises(HarnessError, match=r"HARNESS_COMPOSE='v3' is not one of auto, v1, v2"):
        _ = compose_of(plan_of(stack_at(tmp_path), 0, environ={"HARNESS_COMPOSE": "v3"}))


def test_compose_file_must_be_declared_and_exist(tmp_path):
    with pytest.raises(HarnessError, match=r"stack.compose_file is not set in .*stack.toml"):
        compose_of(plan_of(stack_at(tmp_path, compose=""), 0)).path()
    with pytest.raises(HarnessError, match=r"compose.yaml \(stack.compose_file in .*stack.toml\) does not exist"):
        compose_of(plan_of(stack_at(tmp_path), 0)).path()


def test_backend_choice(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    with_compose = stack_at(tmp_path)
    assert select_backend(plan_of(with_compose, backend="native")) == "native"
    assert select_backend(plan_of(with_compose, backend="auto")) == "native", "auto: no engine answers"
    with pytest.raises(HarnessError, match=r"HARNESS_BACKEND='podman' is not one of auto, native, docker"):
        select_backend(plan_of(with_compose, backend="podman"))
    with pytest.raises(HarnessError, match=r"docker: no Docker engine answers .*HARNESS_BACKEND=native"):
        select_backend(plan_of(with_compose, backend="docker"))
    other = tmp_path / "other"
    other.mkdir()
    without = stack_at(other, compose="")
    with pytest.raises(HarnessError, match=r"stack.compose_file is not set in .*other/stack.toml"):
        select_backend(plan_of(without, backend="docker"))


def test_the_reference_compose_file_gets_every_variable_it_reads():
    """Every ${HARNESS_...} without a default in the compose file is one compose_env provides."""
    text = (ROOT / "compose" / "docker-compose.test.yaml").read_text()
    needed = set(re.findall(r"\$\{(HARNESS_[A-Z0-9_]+)\}", text))
    assert needed, "the compose file reads the harness's variables"
    provided = compose_env(plan_of(ROOT / "stack.toml", 0))
    assert needed <= set(provided), f"not provided: {sorted(needed - set(provided))}"
    for service in ("postgres", "s3", "temporal"):
        assert re.search(rf"^  {service}:$", text, re.M), f"the compose file defines {service}"


def test_vfs_fix_says_what_it_found_and_edits_only_when_asked(tmp_path, monkeypatch):
    import json

    from rich.console import Console

    from harness.cli import storage_check as backends

    monkeypatch.setenv("HARNESS_BACKEND", "auto")
    monkeypatch.setattr(backends, "engine_problem", lambda timeout=3.0: None)
    failure = ("overlay2", 'error mounting "overlay": invalid argument')
    monkeypatch.setattr(backends, "storage_problem", lambda: failure)
    daemon_json = tmp_path / "docker" / "daemon.json"
    daemon_json.parent.mkdir()
    daemon_json.write_text('{"log-level": "warn"}\n')
    console = Console(record=True, width=200)

    assert backends.vfs_fix(console, "auto", apply=False, daemon_json=daemon_json) == 1
    said = console.export_text()
    assert "cannot start a container with storage driver 'overlay2'" in said and "--apply" in said
    assert json.loads(daemon_json.read_text()) == {"log-level": "warn"}, "nothing edited without --apply"

    assert backends.vfs_fix(console, "auto", apply=True, daemon_json=daemon_json) == 0
    assert json.loads(daemon_json.read_text()) == {"log-level": "warn", "storage-driver": "vfs"}
    assert json.loads(daemon_json.with_suffix(".json.bak").read_text()) == {"log-level": "warn"}
    assert "restart the Docker daemon" in console.export_text()

    monkeypatch.setattr(backends, "storage_problem", lambda: ("vfs", None))
    assert backends.vfs_fix(console, "auto", apply=True, daemon_json=daemon_json) == 0
    assert "nothing to do" in console.export_text()


def test_vfs_fix_refuses_a_broken_daemon_json(tmp_path):
    from harness.docker.storage import apply_vfs

    bad = tmp_path / "daemon.json"
    bad.write_text("{not json")
    with pytest.raises(HarnessError, match=r"daemon.json is not valid JSON"):
        apply_vfs(bad)
    assert bad.read_text() == "{not json"


def test_vfs_fix_without_an_engine_says_what_up_will_do(monkeypatch):
    from rich.console import Console

    from harness.cli import storage_check as backends

    monkeypatch.setattr(backends, "engine_problem", lambda timeout=3.0: "nothing listens at unix:///x.sock")
    asked = Console(record=True, width=300)
    assert backends.vfs_fix(asked, "docker", apply=False) == 1
    said = asked.export_text()
    assert "`up` will stop with an error" in said and "native backend is used" not in said
    auto = Console(record=True, width=300)
    assert backends.vfs_fix(auto, "auto", apply=False) == 0
    assert "the native backend is used" in auto.export_text()
