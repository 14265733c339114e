"""Another team's project, from `harness init` to a green suite, in a venv without the harness.

The project is ``adopter.py``'s: a tiny items API on Postgres, a migration step, 20 tests (one
makes the server log an ERROR on purpose), a Python with nothing of the harness: the plugin
reaches it through PYTHONPATH.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from .adopter import EXAMPLE, init_and_edit, make_venv
from .conftest import TEST_STACKS, harness, owned_processes

ROOT = Path(__file__).resolve().parents[2]
INSTANCE = 2

pytestmark = pytest.mark.skipif(shutil.which("uv") is None, reason="needs uv to make the project's venv")


@pytest.fixture
def project():
    # Under the checkout (world-searchable): as root, Postgres runs as the postgres user.
    target = TEST_STACKS / f"adopter-{uuid.uuid4().hex[:8]}"
    shutil.copytree(EXAMPLE, target)
    yield target
    harness(target / "stack.toml", "down", instance=INSTANCE)
    shutil.rmtree(target, ignore_errors=True)


def test_a_project_adopts_the_harness_editing_only_what_init_wrote(project):
    python = make_venv(project)
    assert subprocess.run([str(python), "-c", "import harness"], capture_output=True).returncode != 0
    stack = project / "stack.toml"
    init_and_edit(stack, INSTANCE)

    res = harness(stack, "suite", "tests", instance=INSTANCE, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "20 passed" in out
    record = json.loads((project / ".harness" / "logs" / "latest" / "results.json").read_text())
    assert record["tests"]["passed"] == 20 and record["exit_code"] == 0
    assert record["python"] == str(python), "the suite ran in the project's venv, not the harness's Python"
    boom = next(c for c in record["tests"]["cases"] if c["nodeid"].endswith("test_boom_logs_an_error_on_purpose"))
    assert boom["outcome"] == "passed"
    assert "ERROR deliberate" in (project / ".harness" / "logs" / "latest" / "logs" / "app.log").read_text()
    assert owned_processes(project / ".harness" / str(INSTANCE)) == []


def test_a_suite_whose_python_cannot_load_the_plugin_names_the_cause(project):
    stack = project / "stack.toml"
    assert harness(stack, "init", "--postgres", instance=INSTANCE).returncode == 0
    text = stack.read_text().replace("# args = []", 'args = ["--no-such-option"]')
    text = text.replace('command = "{python} -m your_app --port {port}"', 'command = "{python} -m http.server {port}"')
    text = text.replace('run = "{python} -m alembic upgrade head"', 'run = "true"')
    text = text.replace('ready = { http = "/health", timeout = 60 }', "ready = { tcp = true, timeout = 30 }")
    stack.write_text(text)
    res = harness(stack, "suite", "tests", instance=INSTANCE, timeout=300)
    assert res.returncode == 2, res.stdout + res.stderr  # the suite's configuration, not a test, is at fault
    data = json.loads((project / ".harness" / "logs" / "latest" / "results.json").read_text())
    assert data["status"] == "configuration error"
    assert data["failure"].startswith("pytest: usage error") and "--no-such-option" in data["failure"], data["failure"]
