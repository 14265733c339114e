"""What data isolated per worker buys: tests that need a table to themselves, grouped or isolated.

    python scripts/bench_isolation.py [--rounds 3] [--tests 12] [--instance 0]   (also run by nox -s bench)

A stack of its own (a Postgres with a migrated table; created under the checkout's
``.harness/bench-isolation-*`` and removed after), and one test file run two ways on 2 workers,
alternating in each round:

- ``grouped``: every test in one ``xdist_group``, as tests sharing one database must be: they run
  one after the other on one worker (the run's serial tail);
- ``isolated``: ``isolate = ["db"]``, no group: each worker its own copy of the database.

Each test fills the table, waits 0.3 s on the database (``pg_sleep``, what an integration test
spends waiting on the system), counts exactly its own rows and empties it. Printed: each way's
median wall time (``harness suite``, stack already up, ``--reuse``), the ratio, and each way's
serial tail (the summed durations of the grouped tests).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from benchmark import serial_tail  # scripts/ is this script's own directory on sys.path

ROOT = Path(__file__).resolve().parents[1]

STACK = """
[stack]
name = "bench-isolation"

[services.db]
kind = "postgres"
port = {port}
auth = {{ host = "trust" }}

[steps.schema]
after = ["db"]
run = "{{python}} schema.py"
inputs = ["schema.py"]
snapshot = "db"

[profiles.all]
services = ["db", "schema"]

[suites.grouped]
profile = "all"
paths = ["tests"]
workers = 2
args = ["--dist", "loadgroup"]
env = {{ BENCH_GROUPED = "1" }}

[suites.isolated]
profile = "all"
paths = ["tests"]
workers = 2
isolate = ["db"]
"""

SCHEMA = """
import os, psycopg
with psycopg.connect(os.environ["DB_DSN"], autocommit=True) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS items (n int)")
"""

TEST = """
import os
import psycopg
import pytest

if os.environ.get("BENCH_GROUPED"):
    pytestmark = pytest.mark.xdist_group("table")


@pytest.mark.parametrize("i", range({tests}))
def test_needs_the_table_to_itself(i):
    with psycopg.connect(os.environ["DB_DSN"], autocommit=True) as conn:
        for batch in range(40):
            conn.execute("INSERT INTO items SELECT generate_series(1, 50)")
        conn.execute("SELECT pg_sleep(0.3)")  # what an integration test spends waiting on the system
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 2000
        conn.execute("DELETE FROM items")
"""


def free_port() -> int:
    for _ in range(200):
        port = 20000 + int.from_bytes(os.urandom(2), "big") % 10000
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port in 20000-30000")


def harness(root: Path, instance: str, *args: str) -> tuple[float, dict[str, object]]:
    """Run the harness on the bench stack: its wall time, and the run's record (for suites)."""
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "harness", "--stack", str(root / "stack.toml"), "--instance", instance, *args],
        cwd=root,
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - t0
    if res.returncode:
        said = res.stdout[-3000:] + res.stderr[-2000:]
        raise SystemExit(f"`harness {' '.join(args)}` failed ({res.returncode}):\n{said}")
    latest = root / "logs" / "latest" / "results.json"
    return took, json.loads(latest.read_text()) if args[0] == "suite" else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tests", type=int, default=12)
    parser.add_argument("--instance", default="0")
    args = parser.parse_args()
    # World-searchable (as root, Postgres runs as its own user and needs to reach its data).
    root = ROOT / ".harness" / f"bench-isolation-{uuid.uuid4().hex[:8]}"
    (root / "tests").mkdir(parents=True)
    try:
        (root / "stack.toml").write_text(STACK.format(port=free_port()))
        (root / "schema.py").write_text(SCHEMA)
        (root / "tests" / "test_table.py").write_text(TEST.replace("{tests}", str(args.tests)))
        harness(root, args.instance, "up")
        walls: dict[str, list[float]] = {"grouped": [], "isolated": []}
        tails: dict[str, list[float]] = {"grouped": [], "isolated": []}
        for n in range(1, args.rounds + 1):
            for way in ("grouped", "isolated"):
                took, record = harness(root, args.instance, "suite", way, "--reuse")
                walls[way].append(took)
                tails[way].append(serial_tail(record))
            print(f"round {n}: " + ", ".join(f"{w} {walls[w][-1]:.2f} s" for w in walls), flush=True)
        med = {w: statistics.median(v) for w, v in walls.items()}
        print(f"\n{args.tests} tests needing the table to themselves, 2 workers, medians of {args.rounds} round(s):")
        for way in walls:
            print(f"  {way:<9} wall {med[way]:6.2f} s   serial tail {statistics.median(tails[way]):6.2f} s")
        print(f"  isolated / grouped (same run): {med['isolated'] / med['grouped']:.2f}")
    finally:
        subprocess.run(
            [sys.executable, "-m", "harness", "--stack", str(root / "stack.toml"), "--instance", args.instance, "down"],
            cwd=root,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
