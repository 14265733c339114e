"""What data isolated per worker buys: tests that need a table to themselves, grouped or isolated.

    python scripts/bench_isolation.py [--rounds 3] [--tests 12] [--instance 7] [--isolate s3] [--no-p0]
    (also run by nox -s bench)

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

Then the reference P0 as a user runs it (``harness suite p0``: up, tests, down), without and with
``--isolate s3``, alternating: each way's median wall time, the ratio, and the P0 serial tail
(grouped plus disruptive tests) of each. P0's one group is about a service (worker_heavy runs one
simulation at a time), not data, so no test leaves it: the figure is what the copies cost. Its
Postgres is not isolated: INT-023 reads the rows the controller wrote, which a worker's copy of
the database would not hold.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import uuid
from pathlib import Path
from typing import Any

from benchlib import ROOT, harness, latest_record, serial_tail  # scripts/ is on sys.path: this script's own

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


def free_port(instance: str) -> int:
    """A port for the bench's Postgres, free where the instance puts it (``port_offset`` 100)."""
    shift = int(instance) * 100
    for _ in range(200):
        port = 20000 + int.from_bytes(os.urandom(2), "big") % 10000
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + shift))
            except OSError:
                continue
            return port
    raise SystemExit(f"no free port in {20000 + shift}-{30000 + shift}")


def suite_run(instance: str, *args: str, stack: Path | None = None) -> tuple[float, dict[str, Any]]:
    """A suite run's wall time and its record."""
    ran = harness(instance, "suite", *args, stack=stack)
    return ran.seconds, latest_record(stack.parent if stack else ROOT)


def own_stack(rounds: int, tests: int, instance: str) -> None:
    """The bench's own stack: tests that need the table to themselves, grouped against isolated."""
    # World-searchable (as root, Postgres runs as its own user and needs to reach its data).
    root = ROOT / ".harness" / f"bench-isolation-{uuid.uuid4().hex[:8]}"
    (root / "tests").mkdir(parents=True)
    stack = root / "stack.toml"
    try:
        stack.write_text(STACK.format(port=free_port(instance)))
        (root / "schema.py").write_text(SCHEMA)
        (root / "tests" / "test_table.py").write_text(TEST.replace("{tests}", str(tests)))
        harness(instance, "up", stack=stack)
        walls: dict[str, list[float]] = {"grouped": [], "isolated": []}
        tails: dict[str, list[float]] = {"grouped": [], "isolated": []}
        for n in range(1, rounds + 1):
            for way in ("grouped", "isolated"):
                took, record = suite_run(instance, way, "--reuse", stack=stack)
                walls[way].append(took)
                tails[way].append(serial_tail(record))
            print(f"round {n}: " + ", ".join(f"{w} {walls[w][-1]:.2f} s" for w in walls), flush=True)
        med = {w: statistics.median(v) for w, v in walls.items()}
        print(f"\n{tests} tests needing the table to themselves, 2 workers, medians of {rounds} round(s):")
        for way in walls:
            print(f"  {way:<9} wall {med[way]:6.2f} s   serial tail {statistics.median(tails[way]):6.2f} s")
        print(f"  isolated / grouped (same run): {med['isolated'] / med['grouped']:.2f}")
    finally:
        harness(instance, "down", stack=stack, check=False)
        shutil.rmtree(root, ignore_errors=True)


def reference_p0(rounds: int, instance: str, isolate: str) -> None:
    """The reference P0 as a user runs it, without and with ``--isolate``, alternately."""
    walls: dict[str, list[float]] = {"shared": [], "isolated": []}
    tails: dict[str, list[float]] = {"shared": [], "isolated": []}
    copies: object = None
    for n in range(1, rounds + 1):
        for way, extra in (("shared", ()), ("isolated", ("--isolate", isolate))):
            took, record = suite_run(instance, "p0", *extra)
            walls[way].append(took)
            tails[way].append(serial_tail(record))
            copies = record.get("isolation") or copies
        print(f"p0 round {n}: " + ", ".join(f"{w} {walls[w][-1]:.2f} s" for w in walls), flush=True)
    med = {w: statistics.median(v) for w, v in walls.items()}
    print(f"\nthe reference p0 (harness suite p0), medians of {rounds} round(s):")
    for way in walls:
        tail = statistics.median(tails[way])
        print(f"  {way:<9} wall {med[way]:6.2f} s   serial tail (grouped + disruptive) {tail:6.2f} s")
    print(f"  isolated / shared (same run): {med['isolated'] / med['shared']:.2f}   copies: {copies}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tests", type=int, default=12)
    parser.add_argument("--instance", default="7")
    parser.add_argument("--isolate", default="s3", help="what the reference P0 isolates (its services)")
    parser.add_argument("--no-p0", action="store_true", help="only the bench's own stack")
    args = parser.parse_args()
    own_stack(args.rounds, args.tests, args.instance)
    if not args.no_p0:
        reference_p0(args.rounds, args.instance, args.isolate)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
