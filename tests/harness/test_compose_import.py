"""`harness init --from` on compose files of a team's making: the first comes up as it is written,
natively; the others say what they could not map."""

from __future__ import annotations

import shutil
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import TEST_STACKS, distinct_free_ports, harness, owned_processes

NATIVE = ("redis-server", "mariadbd", "epmd")


@pytest.fixture
def project() -> Iterator[Path]:
    """A project directory other users can enter (as root, the servers run as their own users)."""
    where = TEST_STACKS / f"compose-{uuid.uuid4().hex[:8]}"
    where.mkdir(parents=True)
    yield where
    if (where / "stack.toml").exists():
        harness(where / "stack.toml", "down", instance=0)
    shutil.rmtree(where, ignore_errors=True)


def init_from(project: Path, compose: str):
    (project / "docker-compose.yml").write_text(textwrap.dedent(compose))
    return harness(project / "stack.toml", "init", "--from", str(project / "docker-compose.yml"), instance=0)


def test_a_compose_file_of_recognised_images_comes_up_natively_as_written(project):
    missing = [b for b in NATIVE if shutil.which(b) is None and not Path(f"/usr/sbin/{b}").exists()]
    if missing:
        pytest.skip(f"needs Debian's redis-server, mariadb-server and rabbitmq-server (missing: {', '.join(missing)})")
    p = distinct_free_ports(6)
    res = init_from(
        project,
        f"""
        services:
          db:
            image: postgres:16-alpine
            environment:
              POSTGRES_USER: shop
              POSTGRES_PASSWORD: shop-pw
              POSTGRES_DB: shop
            ports: ["{p[0]}:5432"]
          cache:
            image: redis:7
            command: ["redis-server", "--requirepass", "cache-pw"]
            ports: ["{p[1]}:6379"]
          orders:
            image: mariadb:11
            environment:
              MARIADB_ROOT_PASSWORD: root-pw
              MARIADB_DATABASE: orders
              MARIADB_USER: orders
              MARIADB_PASSWORD: orders-pw
            ports: ["{p[2]}:3306"]
          queue:
            image: rabbitmq:3-management
            environment:
              RABBITMQ_DEFAULT_USER: jobs
              RABBITMQ_DEFAULT_PASS: jobs-pw
            ports: ["{p[3]}:5672"]
            depends_on:
              db:
                condition: service_healthy
        """,
    )
    assert res.returncode == 0, res.stderr
    assert "not mapped" not in res.stderr, "everything of this file has a native form"
    up = harness(project / "stack.toml", "up", instance=0, timeout=300)
    assert up.returncode == 0, up.stderr
    status = harness(project / "stack.toml", "status", instance=0)
    assert status.stderr.count("healthy") == 4 and "unhealthy" not in status.stderr, status.stderr
    import psycopg
    import pymysql

    with psycopg.connect(f"postgresql://shop:shop-pw@127.0.0.1:{p[0]}/shop") as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("shop",)
    with pymysql.connect(host="127.0.0.1", port=p[2], user="orders", password="orders-pw", database="orders") as conn:
        assert conn.open
    down = harness(project / "stack.toml", "down", instance=0)
    assert down.returncode == 0, down.stderr
    assert owned_processes(project / ".harness" / "0") == []


def test_unknown_images_become_container_nodes_and_what_cannot_be_mapped_is_said(project):
    res = init_from(
        project,
        """
        services:
          mail:
            image: mailpit/mailpit:v1.21
            ports: ["1025:1025", "8025:8025"]
            env_file: mail.env
            healthcheck:
              test: ["CMD", "wget", "-qO-", "http://localhost:8025/livez"]
          search:
            image: docker.elastic.co/elasticsearch/elasticsearch:8.15.0
            environment: [discovery.type=single-node]
            ports: ["9200:9200"]
            secrets: [es_password]
            healthcheck:
              test: curl -fs http://localhost:9200/_cluster/health
        secrets:
          es_password:
            file: ./es.txt
        """,
    )
    assert res.returncode == 0, res.stderr
    said = " ".join(res.stderr.split())
    assert "not mapped: services.mail.env_file" in said and "mail.env cannot be read" in said
    assert "services.search.secrets" in said and "top-level secrets (es_password)" in said
    text = (project / "stack.toml").read_text()
    assert 'compose_service = "mail"' in text and 'compose_service = "search"' in text
    assert text.count("healthcheck = true") == 2, "each compose healthcheck is what the node waits on"
    assert "#   - services.search.secrets" in text, "and listed at the top of the file"
    env = harness(project / "stack.toml", "env", instance=0)
    assert env.returncode == 0, env.stderr


def test_build_contexts_and_networks_are_listed_not_dropped(project):
    res = init_from(
        project,
        """
        services:
          api:
            build: ./api
            ports: ["8000:8000"]
            networks: [front, back]
            depends_on: [db]
          db:
            image: postgres:16
            networks: [back]
          web:
            build: {context: ./web}
            image: team/web:dev
            depends_on: [api]
            networks: [front]
        networks:
          front: {}
          back: {}
        """,
    )
    assert res.returncode == 0, res.stderr
    said = " ".join(res.stderr.split())
    assert "services.api is built from a context (build:) and names no image" in said
    assert "top-level networks (front, back)" in said
    assert "services.db.networks" in said and "services.web.networks" in said
    text = (project / "stack.toml").read_text()
    assert "[services.api]" not in text and 'compose_service = "web"' in text, "an image it names is used"
    assert "after = []" in text.split("[services.web]")[1].split("\n\n")[0], "it does not wait on what is not there"
