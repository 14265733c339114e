"""Another team's project (examples/adopter) adopting the harness: shared by its test and the benchmark.

The project is a tiny items API on Postgres with a migration step and 20 tests, one of which makes
the server log an ERROR on purpose. Its own venv has pytest and psycopg and nothing of the harness.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parent / "examples" / "adopter"

# What a newcomer edits in `harness init --postgres` output, and nothing else.
INIT_EDITS = {
    f'# python = "{sys.executable}"': 'python = "venv/bin/python"',
    'run = "{python} -m alembic upgrade head"': 'run = "{python} migrate.py"',
    'command = "{python} -m your_app --port {port}"': 'command = "{python} app.py --port {port}"',
    'ready = { http = "/health", timeout = 60 }': 'ready = { http = "/health", timeout = 30 }',
}


def make_venv(project: Path) -> Path:
    """The project's own venv: pytest and psycopg only (from the package registry, uv's cache)."""
    venv = project / "venv"
    subprocess.run(["uv", "venv", "-q", "--python", sys.executable, str(venv)], check=True, timeout=120)
    subprocess.run(
        ["uv", "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "pytest", "psycopg[binary]"],
        check=True,
        timeout=300,
    )
    return venv / "bin" / "python"


def init_and_edit(stack: Path, instance: int) -> None:
    """`harness init --postgres`, then only the edits above (each must still be there to make)."""
    init = subprocess.run(
        [sys.executable, "-m", "harness", "--stack", str(stack), "--instance", str(instance), "init", "--postgres"],
        capture_output=True,
        text=True,
        cwd=stack.parent,
        env={**os.environ, "COLUMNS": "200"},
    )
    if init.returncode:
        raise RuntimeError(f"harness init failed: {init.stderr}")
    text = stack.read_text()
    for old, new in INIT_EDITS.items():
        if old not in text:
            raise RuntimeError(f"init no longer writes {old!r}")
        text = text.replace(old, new)
    stack.write_text(text)
