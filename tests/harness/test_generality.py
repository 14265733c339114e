"""A second, unrelated stack (Postgres + a notes API with its own DSN-hungry pytest suite).

Proves the engine knows nothing of the reference stack: Postgres `-c` settings, extra databases,
DSN and libpq-style env templates, a step with its own cwd and PATH entry, and a suite's own
test command and paths, all from that stack's stack.toml alone.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.host.ports import port_free

from .conftest import harness, owned_processes

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = Path(__file__).parent / "examples" / "notes"
INSTANCE = 3


def test_unrelated_stack_runs_its_own_suite(example_copy):
    notes_stack = example_copy("notes", INSTANCE).parent
    res = harness(notes_stack / "stack.toml", "suite", "smoke", instance=INSTANCE)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "2 passed" in out

    latest = notes_stack / "run-logs" / "latest"
    results = json.loads((latest / "results.json").read_text())
    assert results["suite"] == "smoke" and results["exit_code"] == 0 and results["instance"] == INSTANCE
    assert results["tests"]["passed"] == 2
    assert {s["name"] for s in results["stages"]} >= {"db", "schema", "api", "tests", "teardown"}
    assert "schema ready in" in (latest / "logs" / "schema.log").read_text()
    assert "notes-pw" not in (latest / "results.json").read_text()

    assert owned_processes(notes_stack / ".state" / str(INSTANCE)) == []
    assert port_free(26432 + 10 * INSTANCE) and port_free(26080 + 10 * INSTANCE)
