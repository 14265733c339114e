"""The frontend's API types come from the controller's schema: a change that breaks the UI fails the
frontend step with the compiler naming the field, before any browser starts."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from .conftest import TEST_STACKS, harness

ROOT = Path(__file__).resolve().parents[2]
INSTANCE = 6

pytestmark = pytest.mark.skipif(shutil.which("npx") is None, reason="needs Node.js and npm (setup-machine.sh)")


@pytest.fixture
def copy() -> Path:
    """The stack file, the services and the frontend (`npm ci` installs its node_modules afresh)."""
    target = TEST_STACKS / f"types-{uuid.uuid4().hex[:8]}"
    target.mkdir(parents=True)
    shutil.copy(ROOT / "stack.toml", target / "stack.toml")
    shutil.copytree(ROOT / "services", target / "services", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        ROOT / "frontend", target / "frontend", ignore=shutil.ignore_patterns("node_modules", "dist", "types")
    )
    yield target / "stack.toml"
    shutil.rmtree(target, ignore_errors=True)


def test_a_response_field_the_ui_uses_renamed_fails_the_frontend_step_naming_it(copy):
    good = harness(copy, "up", "frontend_build", instance=INSTANCE, timeout=600)
    assert good.returncode == 0, good.stderr
    assert (copy.parent / "frontend" / "types" / "api-types.ts").read_text().count("EpisodeOut") >= 1

    app = copy.parent / "services" / "controller" / "app.py"
    text = app.read_text()
    renamed = text.replace("    session_id: str\n    status: str\n", "    session_id: str\n    state: str\n", 1)
    assert renamed != text, "the EpisodeOut model changed shape; update this test"
    app.write_text(renamed)
    res = harness(copy, "up", "frontend_build", instance=INSTANCE, timeout=600)
    assert res.returncode == 2, res.stderr
    assert "frontend_build" in res.stderr
    assert "Property 'status' does not exist" in res.stderr, res.stderr
    assert "openapi" in res.stderr  # the schema step ran again: the controller's code is its input


def test_the_frontend_step_leaves_the_tree_as_it_found_it(copy):
    """`npm ci`, not `npm install`: the lock file is used as it is, never rewritten (CI's tree stays clean)."""
    tree = copy.parent
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    (tree / ".gitignore").write_text((ROOT / ".gitignore").read_text())
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "as checked out"]):
        subprocess.run([*git, *argv], cwd=tree, check=True, capture_output=True)
    res = harness(copy, "up", "frontend_build", "--no-cache", instance=INSTANCE, timeout=600)
    assert res.returncode == 0, res.stderr
    status = subprocess.run([*git, "status", "--porcelain"], cwd=tree, capture_output=True, text=True, check=True)
    assert status.stdout == "", "the frontend step changed tracked files:\n" + status.stdout
