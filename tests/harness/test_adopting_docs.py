"""docs/adopting.md's "Start here", followed as written on a library project outside this repository.

The harness is installed from a wheel built from this checkout (the page's package name is the only
thing replaced) into the page's tools venv; the project's own venv has pytest and psycopg and
nothing of the harness. Every bash block runs as it is, every titled python block is written to
its file, in the page's order; then the records say what ran: the whole suite through nox, exactly
one test through ``invoke suite tests -- <test id>``. Last, plain pytest with the harness's package
installed without its dependencies.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "adopting.md"
LIBRARY = Path(__file__).parent / "examples" / "library"
BLOCK = re.compile(r'^```(\w+)(?: title="([^"]+)")?\n(.*?)^```$', re.M | re.S)
INSTANCE = "11"  # its own instance: never a developer's stack

pytestmark = pytest.mark.skipif(shutil.which("uv") is None, reason="needs uv to build the wheel and the project's venv")


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = text.find("\n## ", start + len(heading))
    return text[start : following if following != -1 else None]


def blocks(text: str) -> list[tuple[str, str | None, str]]:
    """``(language, title, body)`` of each fenced block, in order."""
    return [(m.group(1), m.group(2), m.group(3)) for m in BLOCK.finditer(text)]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # The sdist first, the wheel from it (uv's default): no build/ left in the checkout to leak into it.
    subprocess.run(["uv", "build", "-q", "--out-dir", str(out), str(ROOT)], check=True, timeout=300)
    (built,) = out.glob("stack_harness-*.whl")
    return built


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The library, outside this repository, with its own venv (pytest, psycopg; no harness)."""
    target = tmp_path / "tally"
    shutil.copytree(LIBRARY, target)
    venv = target / ".venv"
    subprocess.run(["uv", "venv", "-q", "--seed", "--python", sys.executable, str(venv)], check=True, timeout=120)
    install = ["uv", "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "pytest", "psycopg[binary]"]
    subprocess.run(install, check=True, timeout=300)
    yield target
    harness = target / ".tools" / "bin" / "harness"
    if harness.exists():
        subprocess.run([str(harness), "--instance", INSTANCE, "down"], cwd=target, capture_output=True, timeout=120)


def run_block(body: str, project: Path, wheel: Path, *, path: str | None = None) -> subprocess.CompletedProcess[str]:
    script = body.replace("stack-harness", str(wheel))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "NOX_", "INVOKE_", "VIRTUAL_ENV"))}
    env["PATH"] = path or f"{Path(sys.executable).parent}:{env['PATH']}"  # `python3` is this Python
    env["HARNESS_INSTANCE"] = INSTANCE
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=project, env=env, capture_output=True, text=True, timeout=900
    )


def latest(project: Path) -> dict:
    return json.loads((project / ".harness" / "logs" / "latest" / "results.json").read_text())


def test_the_start_here_section_works_as_written(project: Path, wheel: Path) -> None:
    steps = blocks(section(PAGE.read_text(), "## Start here"))
    assert [lang for lang, _, _ in steps].count("bash") >= 4 and {t for _, t, _ in steps if t} == {
        "noxfile.py",
        "tasks.py",
    }
    assert subprocess.run([str(project / ".venv" / "bin" / "python"), "-c", "import harness"]).returncode != 0
    records = []
    for lang, title, body in steps:
        if title:
            (project / title).write_text(body)
            continue
        assert lang == "bash", f"a block the test does not know how to follow: {lang}"
        res = run_block(body, project, wheel)
        assert res.returncode == 0, f"{body}\nexit {res.returncode}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        if "nox -s" in body or "invoke suite" in body:
            records.append((body, latest(project)))
    (_, by_nox), (invoke_run, by_invoke) = records
    assert by_nox["status"] == "passed" and by_nox["tests"]["passed"] == 4 and by_nox["tests"]["total"] == 4
    assert by_nox["python"] == str(project / ".venv" / "bin" / "python"), "the suite ran in the project's venv"
    test_id = invoke_run.split(" -- ", 1)[1].strip()
    assert by_invoke["argv"] == [test_id], "what followed -- reached pytest"
    assert [c["nodeid"] for c in by_invoke["tests"]["cases"]] == [test_id], "exactly one test ran"
    assert by_invoke["run_id"] != by_nox["run_id"]
    assert (project / ".gitignore").read_text().splitlines() == [".tools/", ".harness/"]


def test_plain_pytest_needs_only_pytest_and_the_package(project: Path, wheel: Path) -> None:
    setup = [b for lang, t, b in blocks(section(PAGE.read_text(), "## Start here")) if lang == "bash"][:2]
    for body in setup:  # the tools venv and the stack file
        assert run_block(body, project, wheel).returncode == 0
    (plain,) = [b for lang, _, b in blocks(section(PAGE.read_text(), "## Plain pytest")) if lang == "bash"]
    install, run = plain.strip().splitlines()
    assert run_block(install, project, wheel).returncode == 0
    pip_list = subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
    )
    installed = {p["name"] for p in json.loads(pip_list.stdout)}
    assert "stack-harness" in installed and "pydantic" not in installed and "rich" not in installed
    # The same without HARNESS_CLI, on a PATH with no `harness` on it.
    without_cli = run_block(run.split(" ", 1)[1], project, wheel, path="/usr/bin:/bin")
    assert without_cli.returncode != 0
    said = without_cli.stdout + without_cli.stderr
    assert "HARNESS_CLI" in said and "No module named" in said, said[-2000:]
    res = run_block(run, project, wheel)
    assert res.returncode == 0 and "4 passed" in res.stdout, res.stdout[-3000:] + res.stderr[-3000:]


def test_the_wheel_carries_every_extra_and_entry_point(wheel: Path) -> None:
    import tomllib
    import zipfile

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    with zipfile.ZipFile(wheel) as whl:
        info = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = whl.read(info).decode()
        entry_points = whl.read(info.replace("METADATA", "entry_points.txt")).decode()
        assert "harness/plugin/pytest_plugin.py" in whl.namelist()
    assert "Name: stack-harness" in metadata
    extras = set(re.findall(r"^Provides-Extra: (\S+)$", metadata, re.M))
    assert extras == set(project["optional-dependencies"])
    assert "harness = harness.cli.main:entry" in entry_points and "harness = harness.cli.pytest_entry" in entry_points
