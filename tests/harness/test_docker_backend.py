"""The docker backend for real: Postgres, S3 and Temporal from compose/docker-compose.test.yaml.

Runs the repository's own stack.toml on instance 9 with ``HARNESS_BACKEND=docker``. It needs a
Docker engine (``DOCKER_HOST`` is honoured); without one every test here is skipped, saying so.
Where no registry is reachable, ``scripts/build-local-images.sh`` builds stand-in images and
these tests use them when the ``HARNESS_*_IMAGE`` variables are not set.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

from harness.docker.compose import PROJECT_LABEL, SERVICE_LABEL
from harness.docker.engine import engine_problem
from harness.host.ports import port_free
from harness.kinds.s3 import s3_client

from .conftest import harness, reference_up, wait_for

ROOT = Path(__file__).resolve().parents[2]
INSTANCE = 9
PROJECTS = f"reference-{INSTANCE}-"  # one compose project per service: reference-9-postgres...
INFRA = ["postgres", "s3", "temporal"]

_problem = engine_problem()
pytestmark = pytest.mark.skipif(
    _problem is not None,
    reason=f"the docker backend needs a Docker engine, and none answers ({_problem}); set DOCKER_HOST to test it",
)


def _client():
    import docker

    return docker.from_env()


@functools.cache
def _image_env() -> dict[str, str]:
    """Locally built stand-ins, unless the developer chose images (or none were built)."""
    env = {}
    if _problem is not None:
        return env
    local = {img.split(":")[0] for image in _client().images.list() for img in image.tags}
    for service in ("postgres", "s3", "temporal"):
        var = f"HARNESS_{service.upper()}_IMAGE"
        if var not in os.environ and f"harness-local/{service}" in local:
            env[var] = f"harness-local/{service}:bookworm"
    return env


def cli(*args: str, stack: Path = ROOT / "stack.toml", timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return harness(stack, *args, instance=INSTANCE, env={"HARNESS_BACKEND": "docker", **_image_env()}, timeout=timeout)


def containers(service: str | None = None, prefix: str = PROJECTS) -> list[str]:
    labels = [f"{SERVICE_LABEL}={service}"] if service else []
    # ignore_removed: a compose client creates and removes containers while this lists them.
    found = _client().containers.list(all=True, filters={"label": labels}, ignore_removed=True)
    return sorted(c.name for c in found if c.labels.get(PROJECT_LABEL, "").startswith(prefix))


def volumes() -> list[str]:
    return sorted(v.name for v in _client().volumes.list() if v.name.startswith(PROJECTS))


def test_compose_cli_is_the_one_asked_for():
    """CI runs this file under both compose CLIs (HARNESS_COMPOSE=v1, then v2): each must be the one used."""
    from harness.docker.compose import compose_command

    asked = os.environ.get("HARNESS_COMPOSE", "auto")
    used = compose_command(asked)
    if asked == "v1":
        assert used == ("docker-compose",)
    elif asked == "v2":
        assert used == ("docker", "compose")
    version = subprocess.run([*used, "version"], capture_output=True, text=True, timeout=30, check=True).stdout
    assert ("v2." in version) == (used == ("docker", "compose")), version


@pytest.fixture(scope="class")
def infra():
    with reference_up(cli, INFRA, INSTANCE) as env:
        yield env
    assert containers() == [], "down leaves no container of the instance"


class TestRunningInfra:
    """One stack up for the class; taken down (and checked) before the other tests run."""

    def test_infra_runs_in_containers_and_is_set_up(self, infra):
        for service in INFRA:
            labels = {"label": f"{SERVICE_LABEL}={service}"}
            running = list(_client().containers.list(filters=labels, ignore_removed=True))
            assert any(c.labels.get(PROJECT_LABEL) == PROJECTS + service for c in running), f"{service} in a container"
        with psycopg.connect(infra["POSTGRES_DSN"]) as conn:
            assert conn.execute("SELECT current_user, current_database()").fetchone() == ("app", "app")
            assert {"app", "results"} <= {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
            assert conn.execute("SHOW fsync").fetchone()[0] == "off", "stack.toml's settings reach the container"
        client = s3_client(infra["S3_ENDPOINT"], infra["S3_ACCESS_KEY"], infra["S3_SECRET_KEY"], infra["S3_REGION"])
        assert {"artifacts", "results"} <= {b["Name"] for b in client.list_buckets()["Buckets"]}
        status = cli("status")
        assert status.returncode == 0, status.stderr
        assert "docker backend" in status.stderr
        assert volumes() == [f"{PROJECTS}{v}" for v in ("pgdata", "s3data", "temporaldata")], "one volume per service"
        for service in INFRA:
            row = next(line for line in status.stderr.splitlines() if line.strip("│ ").startswith(service + " "))
            assert "healthy" in row and "unhealthy" not in row, row

    def test_stopping_one_service_removes_only_its_container(self, infra):
        res = cli("stop", "temporal")
        assert res.returncode == 0, res.stderr
        assert containers("temporal") == []
        assert port_free(int(infra["TEMPORAL_PORT"]))
        assert containers("postgres") and containers("s3"), "the other services stay up"
        again = cli("up", "temporal")
        assert again.returncode == 0, again.stderr
        assert len(containers("temporal")) == 1


def test_killed_harness_leaves_no_container_behind():
    env = {**os.environ, "HARNESS_BACKEND": "docker", **_image_env()}
    up = subprocess.Popen(
        [sys.executable, "-m", "harness", "--instance", str(INSTANCE), "up", *INFRA],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert containers() == []
    try:
        wait_for(lambda: len(containers()) >= 1, 60, "a container of the killed run")
    finally:
        up.send_signal(signal.SIGKILL)
        up.wait()
    res = cli("status")
    assert res.returncode == 0, res.stderr
    assert "reaped" in res.stderr and "container" in res.stderr, res.stderr
    assert containers() == []


def test_down_clean_removes_the_volumes():
    res = cli("up", "postgres")
    assert res.returncode == 0, res.stderr
    assert f"{PROJECTS}pgdata" in volumes()
    down = cli("down", "--clean")
    assert down.returncode == 0, down.stderr
    assert volumes() == []
    assert containers() == []


def test_a_service_missing_from_the_compose_file_is_named(tmp_path):
    (tmp_path / "compose.yaml").write_text(
        textwrap.dedent("""
        services:
          other:
            image: scratch
        """)
    )
    stack = tmp_path / "stack.toml"
    stack.write_text(
        textwrap.dedent("""
        [stack]
        name = "missing"
        compose_file = "compose.yaml"

        [services.objects]
        kind = "s3"
        port = 29411
        compose_service = "minio"
        """)
    )
    started = time.monotonic()
    res = cli("up", stack=stack)
    assert res.returncode == 2
    assert "no service 'minio'" in res.stderr and "services.objects.compose_service" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert time.monotonic() - started < 30
    assert containers(prefix="missing-9-") == []


def test_vfs_fix_probes_the_engine_and_leaves_no_probe_container():
    res = cli("vfs-fix")
    driver = _client().info()["Driver"]
    assert res.returncode == 0, res.stderr
    assert f"starts containers with storage driver '{driver}': nothing to do" in " ".join(res.stderr.split())
    every = _client().containers.list(all=True, ignore_removed=True)
    leftovers = [c for c in every if "harness-storage-probe" in " ".join(c.image.tags)]
    assert leftovers == []
