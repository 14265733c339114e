"""The native backend's infrastructure, for real: Postgres, S3, Temporal and Xvfb.

Runs the repository's own stack.toml on instance 8, so a developer's instance 0 is untouched.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import psycopg
import pytest

from harness.host.ports import port_free
from harness.kinds.s3 import s3_client
from harness.kinds.xvfb import DisplayProbe

from .conftest import reference_up

ROOT = Path(__file__).resolve().parents[2]
INSTANCE = 8
INFRA = ["postgres", "s3", "temporal", "xvfb"]


def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "--instance", str(INSTANCE), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture(scope="module")
def infra():
    with reference_up(cli, INFRA, INSTANCE) as env:
        yield env
    from harness.host.processes import tagged_processes

    assert tagged_processes(f"{ROOT / '.harness' / str(INSTANCE)}#") == []
    for key in ("POSTGRES_PORT", "S3_PORT", "TEMPORAL_PORT"):
        assert port_free(int(env[key])), f"{key} {env[key]} still listening after down"


def test_postgres_has_app_role_and_databases(infra):
    with psycopg.connect(infra["POSTGRES_DSN"]) as conn:
        user, db = conn.execute("SELECT current_user, current_database()").fetchone()
        assert (user, db) == ("app", "app")
        dbs = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        assert {"app", "results"} <= dbs
        assert conn.execute("SHOW fsync").fetchone()[0] == "off"  # settings from stack.toml reached it
    server = [
        p
        for p in psutil.process_iter(["username", "cmdline"])
        if p.info["cmdline"]
        and p.info["cmdline"][0].endswith("/postgres")
        and str(infra["POSTGRES_PORT"]) in p.info["cmdline"]
    ]
    assert server and server[0].info["username"] == "postgres", "as root, postgres runs unprivileged"
    assert infra["DATABASE_URL"].startswith("postgresql+psycopg://app:")
    assert infra["POSTGRES_URL"] == f"postgresql://app@127.0.0.1:{infra['POSTGRES_PORT']}/app"  # no password


def test_postgres_local_socket_needs_a_password_too(infra):
    sockets = ROOT / ".harness" / str(INSTANCE) / "postgres" / "run"
    assert oct(sockets.stat().st_mode)[-3:] == "700", "only the server's user may enter the socket directory"
    port = infra["POSTGRES_PORT"]
    # As the server's own user (who can enter the directory), without a password: refused.
    probe = (
        "import psycopg, sys\n"
        "try:\n"
        f"    psycopg.connect(host='{sockets}', port={port}, user='postgres', dbname='postgres').close()\n"
        "    print('connected')\n"
        "except psycopg.OperationalError as exc:\n"
        "    print('refused:', str(exc).strip().splitlines()[-1])\n"
    )
    res = subprocess.run(["/usr/bin/python3", "-c", probe], capture_output=True, text=True, user="postgres", timeout=30)
    if "No module named 'psycopg'" in res.stderr:
        # The server's user cannot run the harness's interpreter (under /root); ask as root instead.
        res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
    assert "refused:" in res.stdout and "password" in res.stdout, res.stdout + res.stderr
    with psycopg.connect(host=str(sockets), port=port, user="app", password=infra["POSTGRES_PASSWORD"], dbname="app"):
        pass


def test_s3_buckets_exist_and_take_objects(infra):
    client = s3_client(infra["S3_ENDPOINT"], infra["S3_ACCESS_KEY"], infra["S3_SECRET_KEY"], infra["S3_REGION"])
    names = {b["Name"] for b in client.list_buckets()["Buckets"]}
    assert {"artifacts", "results"} <= names
    client.put_object(Bucket="artifacts", Key="probe.txt", Body=b"hello")
    assert client.get_object(Bucket="artifacts", Key="probe.txt")["Body"].read() == b"hello"


def test_temporal_answers_grpc_health(infra):
    from temporalio.client import Client

    async def check() -> bool:
        client = await Client.connect(infra["TEMPORAL_ADDRESS"])
        return await client.service_client.check_health()

    assert asyncio.run(check()) is True


def test_xvfb_display_accepts_x11_clients(infra):
    assert infra["DISPLAY"] == f":{99 + INSTANCE}"
    assert DisplayProbe(99 + INSTANCE).check(2) is None


def test_status_shows_every_service_healthy(infra):
    res = cli("status")
    assert res.returncode == 0
    for name in INFRA:
        line = next(line for line in res.stderr.splitlines() if f" {name} " in line)
        assert "healthy" in line and "unhealthy" not in line, line


def test_stop_and_restart_one_service_only(infra):
    """Temporal is stopped by SIGKILL (its fastest safe signal): what it had committed survives."""
    from temporalio.client import Client

    workflow = f"kept-across-kill-{uuid.uuid4().hex[:8]}"  # the instance's history outlives a run

    async def start() -> None:
        client = await Client.connect(infra["TEMPORAL_ADDRESS"])
        await client.start_workflow("NobodyRunsThis", id=workflow, task_queue="nobody-polls")

    async def describe() -> str:
        client = await Client.connect(infra["TEMPORAL_ADDRESS"])
        return (await client.get_workflow_handle(workflow).describe()).workflow_type

    asyncio.run(start())
    assert cli("stop", "temporal").returncode == 0
    assert port_free(int(infra["TEMPORAL_PORT"]))
    state = json.loads((ROOT / ".harness" / str(INSTANCE) / "state.json").read_text())
    assert "temporal" not in state["processes"] and "postgres" in state["processes"]
    res = cli("up", "temporal")
    assert res.returncode == 0, res.stderr
    assert "temporal" in res.stderr and "ready" in res.stderr
    assert not port_free(int(infra["TEMPORAL_PORT"]))
    assert asyncio.run(describe()) == "NobodyRunsThis"
