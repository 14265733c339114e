"""Data isolated per test worker (``[suites.X] isolate``) on a real Postgres, Redis and S3 (moto).

Two tests on two xdist workers each insert the same key into one table, take the same Redis key
with SET NX and list the bucket after both wrote an object: with isolation each sees only its own
data and both pass; without, they collide. The copies are gone at the end of the run, and after a
harness killed with SIGKILL the next run drops them before making its own (counted in
``pg_database``, Redis's indices and the S3 endpoint's buckets).
"""

from __future__ import annotations

import json
import signal
import socket
import time

import boto3
import psutil
import psycopg

STACK = """
[stack]
name = "iso"

[services.db]
kind = "postgres"
port = {p0}

[services.cache]
kind = "redis"
port = {p1}

[services.objects]
kind = "s3"
port = {p2}
buckets = ["files"]

[steps.schema]
after = ["db"]
run = "{python} schema.py"
inputs = ["schema.py"]
snapshot = "db"

[profiles.all]
services = ["db", "cache", "objects", "schema"]

[suites.shared]
profile = "all"
paths = ["tests"]
workers = 2
env = { ITEMS_DSN = "{db.dsn}" }

[suites.isolated]
profile = "all"
paths = ["tests"]
workers = 2
isolate = ["db", "cache", "objects"]
env = { ITEMS_DSN = "{db.dsn}" }
"""

SCHEMA = """
import os, psycopg
with psycopg.connect(os.environ["DB_DSN"], autocommit=True) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS items (key text PRIMARY KEY)")
"""

TESTS = '''
import os, socket, time
from pathlib import Path

import boto3, psycopg

ROOT = Path(os.environ["HARNESS_STACK_FILE"]).parent


def meet(stage):
    """Wait (bounded) until both workers' tests reached ``stage``: they run side by side."""
    here = Path(os.environ["HARNESS_RUN_DIR"]) / "meet" / stage
    here.mkdir(parents=True, exist_ok=True)
    (here / os.environ["PYTEST_XDIST_WORKER"]).touch()
    deadline = time.monotonic() + 60
    while len(list(here.iterdir())) < 2:
        assert time.monotonic() < deadline, f"the other worker never reached {stage}"
        time.sleep(0.02)


def redis_set_nx(key):
    url = os.environ["CACHE_URL"]
    index = url.rsplit("/", 1)[1]
    with socket.create_connection((os.environ["CACHE_HOST"], int(os.environ["CACHE_PORT"])), timeout=5) as sock:
        reader = sock.makefile("rb")
        for parts in (("SELECT", index), ("SET", key, "1", "NX")):
            sock.sendall(f"*{len(parts)}\\r\\n".encode() + b"".join(
                f"${len(p)}\\r\\n{p}\\r\\n".encode() for p in parts))
            answer = reader.readline().strip()
    return answer


def check(name):
    meet("start")
    with psycopg.connect(os.environ["ITEMS_DSN"], autocommit=True) as conn:
        conn.execute("INSERT INTO items (key) VALUES ('same')")
    assert redis_set_nx("same") == b"+OK", "another test holds the key"
    s3 = boto3.client("s3", endpoint_url=os.environ["OBJECTS_ENDPOINT"], region_name="us-east-1",
                      aws_access_key_id=os.environ["OBJECTS_ACCESS_KEY"],
                      aws_secret_access_key=os.environ["OBJECTS_SECRET_KEY"])
    bucket = os.environ["OBJECTS_BUCKETS"]
    s3.put_object(Bucket=bucket, Key=name, Body=b"x")
    meet("written")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])] == [name]


def test_a():
    check("a")


def test_b():
    check("b")


def test_held_while_a_file_says_so():
    deadline = time.monotonic() + 120
    while (ROOT / "hold").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
'''


def stack(reachable_stack):
    sd = reachable_stack(STACK, n_ports=3)
    (sd.root / "schema.py").write_text(SCHEMA)
    (sd.root / "tests").mkdir()
    (sd.root / "tests" / "test_it.py").write_text(TESTS)
    return sd


def copies_left(sd) -> dict[str, list]:
    """What the workers' copies could have left: databases, non-empty Redis indices, buckets."""
    port = lambda i: sd.ports[i]  # noqa: E731 - instance 0: the ports as written
    with psycopg.connect(f"postgresql://app:app@127.0.0.1:{port(0)}/app") as conn:
        databases = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE '%\\_iso\\_%'")]
    indices = []
    with socket.create_connection(("127.0.0.1", port(1)), timeout=5) as sock:
        reader = sock.makefile("rb")
        for index in (1, 2):
            for parts in (("SELECT", str(index)), ("DBSIZE",)):
                sock.sendall(f"*{len(parts)}\r\n".encode() + b"".join(f"${len(p)}\r\n{p}\r\n".encode() for p in parts))
                answer = reader.readline().strip()
            if answer != b":0":
                indices.append((index, answer))
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port(2)}",
        region_name="us-east-1",
        aws_access_key_id="harness-s3-access",
        aws_secret_access_key="harness-secret",
    )
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"] != "files"]
    return {"databases": databases, "redis": indices, "buckets": buckets}


NONE_LEFT = {"databases": [], "redis": [], "buckets": []}


def test_workers_with_their_own_copies_do_not_collide_and_the_copies_go(reachable_stack):
    sd = stack(reachable_stack)
    res = sd.cli("suite", "isolated", "--keep", timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    record = json.loads((sd.root / "logs" / "latest" / "results.json").read_text())
    assert record["isolation"]["services"] == ["db", "cache", "objects"]
    assert record["isolation"]["workers"]["gw1"] == {
        "db": "database app_iso_gw1",
        "cache": "database index 2",
        "objects": "buckets files-gw1",
    }
    assert copies_left(sd) == NONE_LEFT
    # The same tests on the shared data: the second insert, SET NX and listing all collide.
    shared = sd.cli("suite", "shared", "--reuse", timeout=300)
    assert shared.returncode == 1, shared.stdout + shared.stderr
    cases = json.loads((sd.root / "logs" / "latest" / "results.json").read_text())["tests"]["cases"]
    outcomes = {c["nodeid"].split("::")[1]: c["outcome"] for c in cases}
    assert outcomes["test_a"] == "failed" or outcomes["test_b"] == "failed", outcomes
    assert "UniqueViolation" in json.dumps(cases) or "another test holds the key" in json.dumps(cases)
    # Isolated again on the stack left running: fresh copies (from the snapshot, without the shared run's row).
    reused = sd.cli("suite", "isolated", "--reuse", timeout=300)
    assert reused.returncode == 0, reused.stdout + reused.stderr
    assert copies_left(sd) == NONE_LEFT
    # The shared suite isolated for one run by the switch: the same tests pass, on copies.
    switched = sd.cli("suite", "shared", "--reuse", "--isolate", "db,cache,objects", timeout=300)
    assert switched.returncode == 0, switched.stdout + switched.stderr
    record = json.loads((sd.root / "logs" / "latest" / "results.json").read_text())
    assert record["isolation"]["workers"]["gw0"]["db"] == "database app_iso_gw0"
    assert copies_left(sd) == NONE_LEFT


def test_copies_a_killed_harness_left_are_dropped_by_the_next_run(reachable_stack):
    sd = stack(reachable_stack)
    (sd.root / "hold").touch()
    proc = sd.popen("suite", "isolated")
    try:
        deadline = time.monotonic() + 180
        while not (sd.state_dir() / "worker-copies.json").exists() or not list(
            (sd.state_dir()).glob("worker-env-*.json")
        ):
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the run never made its workers' copies"
            time.sleep(0.1)
        left_behind = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        (sd.root / "hold").unlink()
        if proc.poll() is None:
            proc.kill()
    # Its pytest finishes by itself once the hold is gone (its services are reaped by the next run).
    pytest_procs = [p for p in left_behind if "pytest" in " ".join(_cmdline(p))]
    psutil.wait_procs(pytest_procs, timeout=120)
    assert any(name.startswith("app_iso_") for name in copies_left(sd)["databases"])

    again = sd.cli("suite", "isolated", "--keep", timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "dropped the workers' copies an earlier run left" in again.stdout + again.stderr, again.stdout + again.stderr
    assert copies_left(sd) == NONE_LEFT
    assert not (sd.state_dir() / "worker-copies.json").exists()
    assert not list(sd.state_dir().glob("worker-env-*.json"))


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def test_a_service_whose_kind_cannot_copy_its_data_is_refused_at_load(make_stack):
    sd = make_stack(
        """
        [services.web]
        port = {p0}
        command = "{app}"

        [profiles.all]
        services = ["web"]

        [suites.s]
        profile = "all"
        isolate = ["web"]
        """
    )
    res = sd.cli("status")
    assert res.returncode == 2
    assert "suites.s.isolate[0]" in res.stderr and "'web' is of a kind whose data cannot be copied" in res.stderr
    assert "postgres" in res.stderr and "Traceback" not in res.stderr
