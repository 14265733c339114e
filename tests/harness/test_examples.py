"""The examples/ stacks run their own suites through the harness, as a team would."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from .conftest import TEST_STACKS, harness, owned_processes

ROOT = Path(__file__).resolve().parents[2]
INSTANCE = 3


@pytest.fixture
def example():
    made: list[Path] = []

    def copy(name: str) -> Path:
        # Under the checkout (world-searchable): as root, Postgres runs as the postgres user.
        target = TEST_STACKS / f"{name}-{uuid.uuid4().hex[:8]}"
        shutil.copytree(ROOT / "examples" / name, target)
        made.append(target)
        return target / "stack.toml"

    yield copy
    for target in made:
        harness(target / "stack.toml", "down", instance=INSTANCE)
        shutil.rmtree(target, ignore_errors=True)


@pytest.mark.parametrize(("name", "suite", "tests"), [("webapi", "api", 5), ("worker", "jobs", 4)])
def test_the_example_runs_green_and_leaves_nothing(example, name, suite, tests):
    if name == "worker" and shutil.which("redis-server") is None:
        pytest.skip("the worker example needs Debian's redis-server (scripts/setup-machine.sh installs it)")
    stack = example(name)
    res = harness(stack, "suite", suite, instance=INSTANCE, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    record = json.loads((stack.parent / "logs" / "latest" / "results.json").read_text())
    assert record["tests"]["passed"] == tests and record["exit_code"] == 0
    assert owned_processes(stack.parent / ".harness" / str(INSTANCE)) == []
