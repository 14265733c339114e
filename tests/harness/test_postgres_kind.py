"""The postgres kind's settings on a real cluster: auth methods, role privileges, and settings that
an existing cluster cannot take (named, with what to do, at once)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import psycopg
import pytest

from harness.errors import ConfigError

from .conftest import TEST_STACKS, distinct_free_ports, harness

ROOT = Path(__file__).resolve().parents[2]
INSTANCE = 2

STACK = """
[stack]
name = "pg-settings"

[services.db]
kind = "postgres"
port = {port}
user = "owner"
password = "owner-pw"
superuser_password = "{superuser}"
{auth}
superuser = true
"""


@pytest.fixture
def stack():
    # Under the checkout (world-searchable): as root, Postgres runs as the postgres user.
    root = TEST_STACKS / f"pg-{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True)
    port = distinct_free_ports(1)[0]
    path = root / "stack.toml"

    def write(superuser: str = "first-super-pw", auth: str = 'auth = { host = "trust" }') -> Path:
        path.write_text(STACK.format(port=port, superuser=superuser, auth=auth))
        return path

    write()
    yield write, port
    harness(path, "down", instance=INSTANCE)
    shutil.rmtree(root, ignore_errors=True)


def test_auth_methods_and_role_privileges_are_settings(stack):
    write, port = stack
    port += INSTANCE * 100
    assert harness(write(), "up", instance=INSTANCE).returncode == 0
    # host = "trust": no password over TCP; the app role was made a superuser.
    with psycopg.connect(host="127.0.0.1", port=port, user="owner", dbname="app") as conn:
        assert conn.execute("SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = 'owner'").fetchone() == (
            True,
            True,
        )


def test_a_changed_superuser_password_is_named_with_what_to_do(stack):
    write, _ = stack
    assert harness(write(), "up", instance=INSTANCE).returncode == 0
    assert harness(write(), "down", instance=INSTANCE).returncode == 0
    changed = write("second-super-pw")
    t0 = time.monotonic()
    res = harness(changed, "up", instance=INSTANCE)
    assert res.returncode == 2 and time.monotonic() - t0 < 15
    assert "services.db.superuser_password changed" in res.stderr and "down --clean" in res.stderr
    assert harness(changed, "down", "--clean", instance=INSTANCE).returncode == 0
    assert harness(changed, "up", instance=INSTANCE).returncode == 0, "a new cluster takes the new password"


def test_an_authentication_failure_during_readiness_fails_at_once(stack):
    write, _ = stack
    path = write(auth="")  # scram everywhere: the probe's password is checked
    assert harness(path, "up", instance=INSTANCE).returncode == 0
    assert harness(path, "down", instance=INSTANCE).returncode == 0
    # A cluster from before the harness recorded what initdb fixed: only the probe can tell.
    next(path.parent.glob(".harness/*/db/data/.harness-initdb.json")).unlink()
    write("second-super-pw", auth="")
    t0 = time.monotonic()
    res = harness(path, "up", instance=INSTANCE)
    assert res.returncode == 2 and time.monotonic() - t0 < 20, res.stderr
    assert "password authentication failed" in res.stderr and "down --clean" in res.stderr


def test_user_postgres_with_another_password_is_refused_at_load(tmp_path):
    from harness.config.settings import resolve_settings
    from harness.runtime.plan import load_plan

    path = tmp_path / "stack.toml"
    path.write_text('[services.db]\nkind = "postgres"\nport = 25432\nuser = "postgres"\npassword = "x"\n')
    with pytest.raises(ConfigError, match=r"services.db: user 'postgres' is the superuser"):
        load_plan(resolve_settings(stack=str(path)))


def _cluster_lines(path: Path) -> list[str]:
    log = next(p for p in path.parent.rglob("db.log") if "runs" not in p.parts)
    return [line for line in log.read_text().splitlines() if line.startswith("--- harness: cluster")]


def test_a_new_cluster_is_copied_from_the_initdb_cache_keyed_by_its_settings(stack, tmp_path):
    write, port = stack
    cache = {"HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    path = write()
    for expected, said in (
        ("made", "made by initdb"),
        ("copied from the initdb cache", "copied from the initdb cache"),
    ):
        res = harness(path, "up", instance=INSTANCE, env=cache)
        assert res.returncode == 0
        assert _cluster_lines(path)[-1] == f"--- harness: cluster {expected} ---"
        assert f"- cluster {said}" in res.stderr, "the stage's detail says (and so does a suite's record)"
        assert harness(path, "down", "--clean", instance=INSTANCE, env=cache).returncode == 0
    # The copy is a working cluster with the superuser password initdb was given.
    assert harness(path, "up", instance=INSTANCE, env=cache).returncode == 0
    dsn = f"host=127.0.0.1 port={port + INSTANCE * 100} user=postgres password=first-super-pw dbname=postgres"
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
    assert harness(path, "down", "--clean", instance=INSTANCE, env=cache).returncode == 0
    # A setting initdb fixes is part of the key: another password makes (and caches) another cluster.
    changed = write("second-super-pw")
    assert harness(changed, "up", instance=INSTANCE, env=cache).returncode == 0
    assert _cluster_lines(path)[-1] == "--- harness: cluster made ---"
    assert len(list((tmp_path / "cache" / "postgres-initdb").iterdir())) == 2
    assert harness(changed, "down", "--clean", instance=INSTANCE, env=cache).returncode == 0
    # HARNESS_NO_CACHE=1 ignores it.
    assert harness(changed, "up", instance=INSTANCE, env={**cache, "HARNESS_NO_CACHE": "1"}).returncode == 0
    assert _cluster_lines(path)[-1] == "--- harness: cluster made ---"


MIGRATE = """
import os, psycopg
with psycopg.connect(os.environ["DB_DSN"]) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS items (name text{column})")
    conn.execute("INSERT INTO items (name) VALUES ('seeded')")
print("migrated")
"""

DATA_STEP = """
[steps.migrate]
run = "{python} migrate.py"
after = ["db"]
inputs = ["migrate.py"]
snapshot = "db"

[profiles.app]
services = ["db", "migrate"]

[suites.t]
profile = "app"
paths = ["test_items.py"]
"""

ITEMS_TEST = """
import os, psycopg

def test_the_run_starts_from_the_migrated_data():
    with psycopg.connect(os.environ["DB_DSN"]) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM items")] == ["seeded"]
"""


def test_a_data_step_is_snapshotted_and_restored_fresh_or_runs_again_on_new_inputs(stack):
    write, port = stack
    path = write()
    path.write_text(path.read_text() + DATA_STEP)
    (path.parent / "migrate.py").write_text(MIGRATE.format(column=""))
    (path.parent / "test_items.py").write_text(ITEMS_TEST)
    dsn = f"host=127.0.0.1 port={port + INSTANCE * 100} user=owner dbname=app"

    def up(*flags: str) -> str:
        """What became of the migrate step: "ran, snapshot saved", "up to date", "restored"."""
        res = harness(path, "up", "migrate", *flags, instance=INSTANCE)
        assert res.returncode == 0, res.stderr
        last = [ln.split()[1:-2] for ln in res.stderr.splitlines() if ln.split()[:1] == ["migrate"]][-1]
        return " ".join(last)

    def names() -> list[str]:
        with psycopg.connect(dsn) as conn:
            return [r[0] for r in conn.execute("SELECT name FROM items ORDER BY name")]

    assert up() == "ran, snapshot saved"
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO items (name) VALUES ('left by a test')")
    assert harness(path, "down", instance=INSTANCE).returncode == 0
    assert up() == "up to date" and names() == ["left by a test", "seeded"], "a cold start keeps the data, runs nothing"
    assert up("--fresh") == "restored" and names() == ["seeded"]
    # A suite with --fresh starts from the step's result too, and its record says it was restored.
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO items (name) VALUES ('left by a test')")
    res = harness(path, "suite", "t", "--fresh", instance=INSTANCE)
    assert res.returncode == 0, res.stdout + res.stderr
    record = json.loads((path.parent / "logs" / "latest" / "results.json").read_text())
    assert next(s["detail"] for s in record["stages"] if s["name"] == "migrate") == "restored"
    # A changed migration runs again; after down --clean (a new cluster) it runs again.
    (path.parent / "migrate.py").write_text(MIGRATE.format(column=", added int"))
    assert up() == "ran, snapshot saved"
    assert harness(path, "down", "--clean", instance=INSTANCE).returncode == 0
    assert up() == "ran, snapshot saved" and names() == ["seeded"]


def _files_made(db: Path) -> int:
    """Files of the cluster being made or copied, under whichever name it has."""
    count = 0
    for name in ("data", "data.partial"):
        for _, dirs, files in os.walk(db / name):
            count += len(dirs) + len(files)
    return count


def _kill_while_made(path: Path, env: dict[str, str], point: int | str, tree: bool) -> bool:
    """``up`` killed with SIGKILL once ``point`` files of its cluster exist (or ``PG_VERSION``):
    the harness alone (``kill -9``: initdb runs on), or with everything it started (a cancelled
    CI job, the OOM killer); whether that was before the cluster was whole.

    The harness is frozen first (SIGSTOP), so whether it had finished is read off its log before
    it dies.
    """
    db = path.parent / ".harness" / str(INSTANCE) / "db"
    log = path.parent / "logs" / str(INSTANCE) / "db.log"
    made_before = log.read_text().count("--- harness: cluster") if log.exists() else 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "--stack", str(path), "--instance", str(INSTANCE), "up"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=path.parent,
        env={**os.environ, **env},
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if point == "PG_VERSION":
                if any((db / name / "PG_VERSION").exists() for name in ("data", "data.partial")):
                    break
            elif _files_made(db) >= int(point):
                break
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGSTOP)
        children = psutil.Process(proc.pid).children(recursive=True) if tree else []
        whole = log.exists() and log.read_text().count("--- harness: cluster") > made_before
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    return not whole


@pytest.mark.parametrize("how", ["copy", "initdb"])
def test_a_harness_killed_while_its_cluster_is_made_leaves_nothing_that_breaks_the_next_up(stack, tmp_path, how):
    write, port = stack
    path = write()
    cache = {"HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    env = cache if how == "copy" else {**cache, "HARNESS_NO_CACHE": "1"}
    assert harness(path, "up", instance=INSTANCE, env=cache).returncode == 0  # the cache holds a cluster
    assert harness(path, "down", "--clean", instance=INSTANCE, env=cache).returncode == 0
    whole = len(list((tmp_path / "cache").rglob("*")))
    # (files made when killed, whether initdb dies with the harness)
    points: list[tuple[int | str, bool]] = (
        [(1, False), (whole // 2, False), (whole - 20, False)]
        if how == "copy"
        else [("PG_VERSION", False), (1, True), ("PG_VERSION", True), (whole // 2, True)]
    )
    dsn = f"host=127.0.0.1 port={port + INSTANCE * 100} user=postgres password=first-super-pw dbname=postgres"
    for point, tree in points:
        for _ in range(5):  # the point passed before the harness froze: try it again
            killed_half_way = _kill_while_made(path, env, point, tree)
            if killed_half_way:
                break
            assert harness(path, "down", "--clean", instance=INSTANCE, env=cache).returncode == 0
        assert killed_half_way, f"never killed before the cluster was whole at {point}"
        res = harness(path, "up", instance=INSTANCE, env=env)  # no --clean in between
        assert res.returncode == 0, f"{how} killed at {point} files ({tree=}): {res.stderr}"
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
        assert not (path.parent / ".harness" / str(INSTANCE) / "db" / "data.partial").exists()
        assert harness(path, "down", "--clean", instance=INSTANCE, env=cache).returncode == 0
