"""Container nodes for real: any image, or one service of a compose file, as a node of a stack.

They need a Docker engine (``DOCKER_HOST`` is honoured) and the images
``scripts/build-test-images.sh`` builds locally (no registry is reachable here):
``HARNESS_HTTP_ECHO_IMAGE`` and ``HARNESS_MARIADB_IMAGE``. ``nox -s docker`` provides both; without
them these tests are skipped, saying which is missing. The two tests at the end need no engine:
they check what a user without one is told.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import textwrap

import httpx
import pytest

from harness.docker.engine import engine_problem
from harness.host.ports import port_free

from .conftest import StackDir, owned_processes, wait_for

STATE = "org.harness.state"


@pytest.fixture(autouse=True)
def any_backend(monkeypatch):
    """conftest pins the engine's tests to the native backend; container nodes run on an engine anyway."""
    monkeypatch.setenv("HARNESS_BACKEND", "auto")


@functools.cache
def _missing() -> str | None:
    problem = engine_problem()
    if problem:
        return f"container nodes need a Docker engine, and none answers ({problem}); set DOCKER_HOST to test them"
    unset = [v for v in ("HARNESS_HTTP_ECHO_IMAGE", "HARNESS_MARIADB_IMAGE") if not os.environ.get(v)]
    if unset:
        return f"{', '.join(unset)} unset: build the test images (bash scripts/build-test-images.sh >> .env)"
    return None


needs_engine = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")
ECHO = os.environ.get("HARNESS_HTTP_ECHO_IMAGE", "")
MARIADB = os.environ.get("HARNESS_MARIADB_IMAGE", "")


def client():
    import docker

    return docker.from_env()


def of_stack(sd: StackDir, instance: int | None = None) -> list:
    """The containers labelled with the stack's state dir (one instance, or any)."""
    every = client().containers.list(all=True, ignore_removed=True)
    base = str((sd.root / ".harness").resolve())
    states = {f"{base}/{instance}"} if instance is not None else None
    return [
        c
        for c in every
        if c.labels.get(STATE, "").startswith(base) and (states is None or c.labels.get(STATE) in states)
    ]


def networks_of(sd: StackDir) -> list[str]:
    base = str((sd.root / ".harness").resolve())
    return [n.name for n in client().networks.list() if n.attrs.get("Labels", {}).get(STATE, "").startswith(base)]


WEB = f"""
[stack]
name = "boxes"
port_offset = 100
max_instance = 3

[services.web]
kind = "container"
image = "{ECHO}"
ports = {{ http = "{{p0}}:8080" }}
env = {{ ECHO_NAME = "web-{{instance}}" }}

[services.api]
command = "{{app}} --port {{port}} --need-env WEB_URL"
port = {{p1}}
after = ["web"]
ready = {{ http = "/health", timeout = 30 }}
env = {{ WEB_URL = "{{web.url}}" }}
"""


@needs_engine
def test_a_container_node_runs_on_two_instances_side_by_side(make_stack):
    sd = make_stack(WEB)
    for instance in (0, 1):
        res = sd.cli("up", instance=instance, timeout=180)
        assert res.returncode == 0, res.stderr
    for instance in (0, 1):
        port = sd.ports[0] + 100 * instance
        answer = httpx.get(f"http://127.0.0.1:{port}/").json()
        assert answer["name"] == f"web-{instance}", "each instance's own container, its env templated"
        api = httpx.get(f"http://127.0.0.1:{sd.ports[1] + 100 * instance}/env/WEB_URL").json()["value"]
        assert api == f"http://127.0.0.1:{port}", "{web.url} follows the instance"
        (container,) = of_stack(sd, instance)
        assert container.name == f"boxes-{instance}-web"
        assert container.attrs["State"]["Health"]["Status"] == "healthy", "the image's own HEALTHCHECK was waited on"
        bindings = container.attrs["HostConfig"]["PortBindings"]["8080/tcp"]
        assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(port)}], "published on loopback only"
        status = sd.cli("status", instance=instance)
        assert "web" in status.stderr and "unhealthy" not in status.stderr, status.stderr
    log = (sd.root / "logs" / "0" / "web.log").read_text()
    assert "web-0 GET / 200" in log, "the container's output is the service's log"
    for instance in (0, 1):
        assert sd.cli("down", instance=instance).returncode == 0
        assert port_free(sd.ports[0] + 100 * instance)
    assert of_stack(sd) == [] and networks_of(sd) == [], "down leaves no container and no network"


@needs_engine
def test_a_stopped_container_of_another_copy_of_the_stack_frees_its_name_and_a_running_one_is_named(make_stack):
    # Another checkout's instance 0 of a stack also named "boxes": same container name, another state dir.
    sd = make_stack(WEB)
    elsewhere = {STATE: "/elsewhere/.harness/0"}
    other = client().containers.create(ECHO, name="boxes-0-web", labels=elsewhere)
    try:
        res = sd.cli("up", "web", timeout=120)
        assert res.returncode == 0, res.stderr
        assert [c.name for c in of_stack(sd, 0)] == ["boxes-0-web"], "ours now holds the name"
        assert sd.cli("down").returncode == 0
        other = client().containers.run(ECHO, name="boxes-0-web", labels=elsewhere, detach=True)
        res = sd.cli("up", "web", timeout=120)
        assert res.returncode == 2
        assert (
            "container boxes-0-web is running for another copy of this stack (state dir /elsewhere/.harness/0)"
            in res.stderr
        )
        assert client().containers.get("boxes-0-web").status == "running", (
            "another copy's running container is left alone"
        )
    finally:
        with contextlib.suppress(Exception):
            other.remove(force=True)


@needs_engine
@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ('ready = { command = "http-echo --check" }', "ready"),  # run inside the container
        ("healthcheck = false", "ready"),  # then: its published port, answered from inside
        ('ready = { http = "/healthz" }', "ready"),
        ('ready = { command = "false", timeout = 4 }', "`false` in container boxes-0-web exiting 0"),
    ],
)
def test_readiness_inside_the_container_and_through_its_ports(make_stack, settings, said):
    sd = make_stack(WEB.replace('env = { ECHO_NAME = "web-{instance}" }', settings))
    res = sd.cli("up", "web", timeout=120)
    assert said in res.stderr, res.stderr
    assert res.returncode == (2 if said != "ready" else 0), res.stderr
    if res.returncode == 2:
        assert "Traceback" not in res.stderr
        assert of_stack(sd) == [], "a container that never became ready is removed"


@needs_engine
def test_healthcheck_true_needs_an_image_that_has_one(make_stack):
    base = ECHO.replace("http-echo", "test-base")  # the test images' base: no HEALTHCHECK
    sd = make_stack(f"""
    [stack]
    name = "nohealth"

    [services.plain]
    kind = "container"
    image = "{base}"
    command = ["python3", "-m", "http.server", "8080"]
    ports = {{ http = "{{p0}}:8080" }}
    healthcheck = true
    """)
    res = sd.cli("up", timeout=60)
    assert res.returncode == 2
    assert "healthcheck = true, but image" in res.stderr and "has no HEALTHCHECK" in res.stderr, res.stderr
    assert of_stack(sd) == []


MARIA = f"""
[stack]
name = "maria"

[services.db]
kind = "container"
image = "{MARIADB}"
port = "{{p0}}:3306"
healthcheck = true
env = {{ MARIADB_ROOT_PASSWORD = "root-pw", MARIADB_DATABASE = "shop", MARIADB_USER = "shop", \
        MARIADB_PASSWORD = "shop-pw" }}
volumes = {{ "/var/lib/mysql" = "data", "/tmp/scratch" = "tmpfs" }}
"""


def shop(sd: StackDir):
    import pymysql

    return pymysql.connect(host="127.0.0.1", port=sd.ports[0], user="shop", password="shop-pw", database="shop")


def volumes_named(prefix: str) -> list[str]:
    return sorted(v.name for v in client().volumes.list() if v.name.startswith(prefix))


@needs_engine
def test_a_database_image_with_a_named_volume_and_the_killed_harness_leaves_nothing(make_stack):
    sd = make_stack(MARIA)
    volumes_before = {v.name for v in client().volumes.list()}
    res = sd.cli("up", timeout=180)
    assert res.returncode == 0, res.stderr
    with shop(sd) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE kept (n INT)")
        cur.execute("INSERT INTO kept VALUES (42)")
        conn.commit()
    assert volumes_named("maria-0-db-") == ["maria-0-db-data"]
    assert sd.cli("down").returncode == 0
    assert of_stack(sd) == []
    assert volumes_named("maria-0-db-") == ["maria-0-db-data"], "a named volume keeps its data across down"

    # Killed with SIGKILL while the container starts: the next down finds and removes it.
    up = sd.popen("up")
    wait_for(lambda: of_stack(sd), 60, "the container of the run about to be killed")
    up.send_signal(signal.SIGKILL)
    up.wait()
    assert of_stack(sd), "the container outlives the killed harness"
    down = sd.cli("down")
    assert down.returncode == 0, down.stderr
    assert "container maria-0-db" in down.stderr, down.stderr
    assert of_stack(sd) == [] and networks_of(sd) == []
    assert owned_processes(sd.state_dir()) == [], "its follower process is gone too"
    anonymous = {v.name for v in client().volumes.list()} - volumes_before - {"maria-0-db-data"}
    assert anonymous == set(), "the anonymous volumes the image declares go with its container"

    again = sd.cli("up", timeout=180)
    assert again.returncode == 0, again.stderr
    with shop(sd) as conn, conn.cursor() as cur:
        cur.execute("SELECT n FROM kept")
        assert cur.fetchone() == (42,), "the data survived a SIGKILL and two downs"
    clean = sd.cli("down", "--clean")
    assert clean.returncode == 0, clean.stderr
    assert volumes_named("maria-0-db-") == [], "down --clean removes the instance's volumes"
    assert of_stack(sd) == [] and networks_of(sd) == []


SUITE = """
import os, subprocess, time

import httpx
import pytest


@pytest.mark.test_id("C-1")
def test_clean(service_url):
    assert httpx.get(service_url("web") + "/").status_code == 200


@pytest.mark.test_id("C-2")
def test_the_container_logs_an_error(service_url):
    assert httpx.get(service_url("web") + "/error/boom").status_code == 500
    time.sleep(0.5)  # the line reaches the log through the follower


@pytest.mark.test_id("C-3")
def test_the_container_is_killed_meanwhile(service_url):
    import docker

    docker.from_env().containers.get(os.environ["WEB_CONTAINER"]).kill()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the watch interrupts this test when it sees the death
        time.sleep(0.1)
"""


@needs_engine
def test_a_suite_sees_a_containers_error_line_and_its_death(make_stack):
    sd = make_stack(
        WEB
        + """
[profiles.web]
services = ["web"]

[suites.boxes]
profile = "web"
paths = ["suite"]
env = { WEB_CONTAINER = "boxes-{instance}-web" }
"""
    )
    (sd.root / "suite").mkdir()
    (sd.root / "suite" / "test_boxes.py").write_text(textwrap.dedent(SUITE))
    res = sd.cli("suite", "boxes", timeout=240)
    assert res.returncode == 1, res.stderr
    data = json.loads((sd.root / "logs" / "latest" / "results.json").read_text())
    cases = {c["nodeid"].split("::")[-1]: c for c in data["tests"]["cases"]}
    assert cases["test_clean"]["outcome"] == "passed"
    error = cases["test_the_container_logs_an_error"]
    assert error["outcome"] == "failed" and "web logged: ERROR boom" in error["message"], error
    died = cases["test_the_container_is_killed_meanwhile"]
    assert died["outcome"] == "failed" and "service 'web' died" in died["message"], died
    assert "exited with code 137" in died["message"], "the container's own exit status"
    assert any(e["service"] == "web" and e["event"] == "died" for e in data["events"])
    assert of_stack(sd) == [], "the suite's teardown removed the dead container"


COMPOSE = f"""
services:
  web:
    image: {ECHO}
    ports:
      - "8080:8080"
    environment:
      ECHO_NAME: from-compose
    healthcheck:
      test: ["CMD", "http-echo", "--check"]
      interval: 1s
    depends_on: [cache]
  cache:
    image: {ECHO}
"""


@needs_engine
def test_any_compose_service_runs_alone_with_its_ports_remapped_per_instance(make_stack):
    sd = make_stack("""
    [stack]
    name = "composed"
    compose_file = "compose.yaml"

    [services.web]
    kind = "container"
    compose_service = "web"
    ports = { http = "{p0}:8080" }
    env = { ECHO_EXTRA = "{instance}" }
    """)
    (sd.root / "compose.yaml").write_text(COMPOSE)
    for instance in (0, 1):
        res = sd.cli("up", instance=instance, timeout=180)
        assert res.returncode == 0, res.stderr
    for instance in (0, 1):
        port = sd.ports[0] + 100 * instance
        assert httpx.get(f"http://127.0.0.1:{port}/").json()["name"] == "from-compose", "the file's environment"
        assert httpx.get(f"http://127.0.0.1:{port}/env/ECHO_EXTRA").text == str(instance), "stack.toml's env over it"
        (container,) = of_stack(sd, instance)
        assert container.attrs["State"]["Health"]["Status"] == "healthy", "its healthcheck was waited on"
        assert "cache" not in " ".join(c.name for c in client().containers.list()), "depends_on is not followed"
    assert port_free(8080), "the file's own host port is not used"
    for instance in (0, 1):
        assert sd.cli("down", instance=instance).returncode == 0
    assert of_stack(sd) == [] and networks_of(sd) == []


def test_a_container_node_without_an_engine_is_one_clear_line(make_stack):
    sd = make_stack(WEB.replace(f'image = "{ECHO}"', 'image = "example/web:1"'))
    res = sd.cli("up", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock", "HARNESS_BACKEND": "auto"})
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "services.web" in lines[0] and "needs a Docker engine" in lines[0], res.stderr
    assert "nothing listens at unix:///nonexistent/docker.sock" in lines[0]


def test_a_container_node_on_the_native_backend_is_one_clear_line(make_stack):
    sd = make_stack(WEB.replace(f'image = "{ECHO}"', 'image = "example/web:1"'))
    res = sd.cli("up", env={"HARNESS_BACKEND": "native"})
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "HARNESS_BACKEND=native" in lines[0] and "services.web" in lines[0], res.stderr
    assert owned_processes(sd.state_dir()) == [], "nothing started"
