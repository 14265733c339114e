"""`harness init --from`: a compose file's services mapped to kinds, container nodes and steps."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.cli.compose_file import image_name
from harness.cli.compose_import import import_compose, kind_of
from harness.config.settings import resolve_settings
from harness.kinds import KINDS
from harness.runtime.plan import read_stack


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("postgres", "postgres"),
        ("postgres:16-alpine", "postgres"),
        ("docker.io/library/postgres:16", "postgres"),
        ("quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z", "minio/minio"),
        ("localhost:5000/team/api:1.2", "team/api"),
        ("mariadb@sha256:0123abcd", "mariadb"),
        ("registry.example.com:443/rabbitmq:3-management", "rabbitmq"),
    ],
)
def test_image_names_lose_registry_tag_and_digest(image, name):
    assert image_name(image) == name


@pytest.mark.parametrize(
    ("image", "kind"),
    [
        ("postgres:15", "postgres"),
        ("postgis/postgis:16-3.4", "postgres"),
        ("mysql:8", "mysql"),
        ("mariadb:11", "mysql"),
        ("redis:7-alpine", "redis"),
        ("valkey/valkey:8", "redis"),
        ("rabbitmq:3-management", "rabbitmq"),
        ("minio/minio", "s3"),
        ("quay.io/minio/minio:latest", "s3"),
        ("temporalio/auto-setup:1.24", "temporal"),
        ("mailpit/mailpit:v1.21", None),
        ("bitnami/kafka:3.7", None),
    ],
)
def test_the_mapping_table(image, kind):
    found = kind_of(image)
    assert (found.name if found else None) == kind


@pytest.mark.parametrize(
    ("kind", "environment", "command", "keys"),
    [
        (
            "postgres",
            {"POSTGRES_USER": "shop", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "orders"},
            [],
            {"user": "shop", "password": "pw", "database": "orders", "superuser_password": "pw"},
        ),
        (
            "postgres",
            {"POSTGRES_PASSWORD": "pw"},
            [],
            {"user": "postgres", "password": "pw", "database": "postgres", "superuser_password": "pw"},
        ),
        (
            "mysql",
            {"MYSQL_ROOT_PASSWORD": "r", "MYSQL_DATABASE": "d", "MYSQL_USER": "u", "MYSQL_PASSWORD": "p"},
            [],
            {"user": "u", "password": "p", "database": "d", "root_password": "r"},
        ),
        (
            "mysql",
            {"MARIADB_ROOT_PASSWORD": "r"},
            [],
            {"user": "root", "password": "r", "database": "app", "root_password": "r"},
        ),
        ("redis", {}, ["redis-server", "--requirepass", "s3cret"], {"password": "s3cret"}),
        ("redis", {}, ["redis-server"], {}),
        (
            "rabbitmq",
            {"RABBITMQ_DEFAULT_USER": "q", "RABBITMQ_DEFAULT_PASS": "qp", "RABBITMQ_DEFAULT_VHOST": "jobs"},
            [],
            {"user": "q", "password": "qp", "vhost": "jobs"},
        ),
        ("rabbitmq", {}, [], {"user": "guest", "password": "guest", "vhost": "/"}),
        ("s3", {"MINIO_ROOT_USER": "a", "MINIO_ROOT_PASSWORD": "s"}, [], {"access_key": "a", "secret_key": "s"}),
        ("s3", {"MINIO_ACCESS_KEY": "a", "MINIO_SECRET_KEY": "s"}, [], {"access_key": "a", "secret_key": "s"}),
        ("temporal", {"DEFAULT_NAMESPACE": "jobs"}, [], {"namespace": "jobs"}),
    ],
)
def test_each_kind_maps_its_images_environment(kind, environment, command, keys):
    assert KINDS[kind].from_compose(environment, command) == keys


def imported(tmp_path: Path, compose: str, files: dict[str, str] | None = None):
    (tmp_path / "docker-compose.yml").write_text(textwrap.dedent(compose))
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    result = import_compose(tmp_path / "docker-compose.yml", tmp_path / "stack.toml")
    (tmp_path / "stack.toml").write_text(result.text)
    return result, read_stack(resolve_settings(stack=str(tmp_path / "stack.toml"), environ={}))


def test_recognised_images_become_native_kinds_with_their_ports_and_order(tmp_path):
    result, stack = imported(
        tmp_path,
        """
        services:
          db:
            image: postgres:16
            environment: [POSTGRES_PASSWORD=pw, POSTGRES_DB=shop]
            ports: ["5433:5432"]
          queue:
            image: rabbitmq:3-management
            ports: ["5673:5672", "15673:15672"]
            depends_on:
              db: {condition: service_healthy}
          cache:
            image: redis
            env_file: cache.env
        """,
        {"cache.env": "REDIS_PASSWORD=from-env-file\n"},
    )
    assert result.notes == []
    db, queue, cache = stack.services["db"], stack.services["queue"], stack.services["cache"]
    assert (db.kind, db.port, db.database, db.password) == ("postgres", 5433, "shop", "pw")
    assert (queue.kind, queue.port, queue.ports["management"], queue.after) == ("rabbitmq", 5673, 15673, ["db"])
    assert (cache.kind, cache.port, cache.password) == ("redis", 6379, "from-env-file"), "its default port"
    assert stack.stack.backend == "native" and stack.profiles["all"].services == ["db", "queue", "cache"]


def test_other_images_are_container_nodes_and_one_shot_services_steps(tmp_path):
    result, stack = imported(
        tmp_path,
        """
        services:
          mail:
            image: mailpit/mailpit:v1.21
            ports: ["1025:1025", "8025:8025"]
            healthcheck: {test: ["CMD", "wget", "-q", "localhost:8025"]}
          web:
            image: nginx:1.27
            ports: ["80:80"]
            depends_on:
              mail: {condition: service_healthy}
              seed: {condition: service_completed_successfully}
          seed:
            image: curlimages/curl
            command: curl -X POST http://web/seed
        """,
    )
    mail, web = stack.services["mail"], stack.services["web"]
    assert mail.kind == "container" and mail.compose_service == "mail" and mail.healthcheck is True
    assert mail.ports == {"p1025": 1025, "p8025": 8025} and mail.container_ports == {"p1025": 1025, "p8025": 8025}
    assert (web.port, web.container_port) == (10080, 80), "a host port below 1024 moves up by 10000"
    assert "services.web: host port 80 is below 1024; the stack publishes it on 10080" in result.notes
    assert "docker compose --file docker-compose.yml run --rm --no-deps seed" in stack.steps["seed"].run
    assert sorted(web.after) == ["mail", "seed"] and "seed" not in stack.profiles["all"].services
    assert stack.stack.compose_file == "docker-compose.yml"


def test_what_cannot_be_mapped_is_listed_in_the_file_and_returned(tmp_path):
    result, stack = imported(
        tmp_path,
        """
        services:
          api:
            build: ./api
            depends_on: [db]
          db:
            image: postgres
            env_file: [missing.env]
            networks: [back]
            secrets: [db_password]
          worker:
            image: team/worker:1
            depends_on: [api]
            networks: [back]
        networks:
          back: {}
        secrets:
          db_password: {file: ./pw.txt}
        """,
    )
    said = "\n".join(result.notes)
    assert "services.api is built from a context (build:) and names no image" in said
    assert "missing.env cannot be read" in said
    assert "top-level networks (back)" in said and "services.worker.networks" in said
    assert "top-level secrets (db_password)" in said and "services.db.secrets" in said
    for note in result.notes:
        assert f"#   - {note}" in result.text, "each is listed at the top of the file"
    assert "api" not in stack.services and stack.services["worker"].after == [], "no wait on what is not there"


def test_ports_that_would_collide_across_instances_lower_max_instance(tmp_path):
    _, stack = imported(
        tmp_path,
        """
        services:
          a: {image: redis, ports: ["6379:6379"]}
          b: {image: team/b, ports: ["6879:80"]}
        """,
    )
    assert stack.stack.max_instance == 4, "6379 and 6879 are 5 offsets of 100 apart"


def test_a_port_that_would_pass_65535_at_some_instance_lowers_max_instance(tmp_path):
    _, stack = imported(tmp_path, 'services:\n  a: {image: team/a, ports: ["64500:80"]}\n')
    assert stack.stack.max_instance == 10, "64500 + 10 * 100 is the last that fits"


def test_a_compose_file_with_no_services_is_one_clear_error(tmp_path):
    from harness.errors import HarnessError

    (tmp_path / "docker-compose.yml").write_text("version: '3'\n")
    with pytest.raises(HarnessError, match=r"docker-compose.yml: no services in it"):
        import_compose(tmp_path / "docker-compose.yml", tmp_path / "stack.toml")
