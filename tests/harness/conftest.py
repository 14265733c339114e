"""Fixtures for end-to-end tests of the engine: throwaway stacks in temporary directories.

Each stack lives in its own directory (own state and log dirs), listens on ports the kernel
reports free, and is always taken down afterwards, so these tests never touch a developer's
running instance.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from harness.host.ports import port_free

# These tests are about the engine on the native backend; test_docker_backend.py asks for docker
# itself. Without this, a machine with a Docker engine would run them on containers.
os.environ.setdefault("HARNESS_BACKEND", "native")

# A shell runs a background job (`cmd &`, as a CI runner may) with SIGINT ignored, and children
# inherit that: the harnesses these tests start would then ignore the Ctrl-C the interrupt tests
# send them. A handler of our own is reset to the default in each child it starts.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

APP = Path(__file__).parent / "apps" / "app.py"
# The example stack's own suite runs only through the harness (it needs that stack's env).
collect_ignore = ["examples"]


@dataclass
class StackDir:
    root: Path
    ports: list[int]

    @property
    def file(self) -> Path:
        return self.root / "stack.toml"

    def cli(
        self, *args: str, instance: int = 0, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "harness", "--stack", str(self.file), "--instance", str(instance), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            env={**os.environ, "COLUMNS": "200", **(env or {})},
        )

    def popen(self, *args: str, instance: int = 0) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "harness", "--stack", str(self.file), "--instance", str(instance), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.root,
            env={**os.environ, "COLUMNS": "200"},
        )

    def state_dir(self, instance: int = 0) -> Path:
        return self.root / ".harness" / str(instance)


def distinct_free_ports(n: int) -> list[int]:
    """``n`` consecutive free ports below the ephemeral range.

    Consecutive, because two ports picked at random can differ by an exact multiple of a stack's
    ``port_offset`` and then collide at some instance, which the config check rightly refuses.
    Below the ephemeral range (32768+), so outgoing connections do not take them meanwhile.
    """
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 30000 - n)
        ports = list(range(base, base + n))
        if all(port_free(p) for p in ports):
            return ports
    raise RuntimeError(f"no block of {n} free ports found in 20000-30000")


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., StackDir]]:
    """``make_stack(template)``: ``{p0}``, ``{p1}``... become free ports, ``{app}`` the test app."""
    made: list[StackDir] = []

    def make(template: str, n_ports: int = 4) -> StackDir:
        root = tmp_path / f"stack{len(made)}"
        root.mkdir()
        ports = distinct_free_ports(n_ports)
        text = textwrap.dedent(template)
        for i, port in enumerate(ports):
            text = text.replace(f"{{p{i}}}", str(port))
        text = text.replace("{app}", f"{sys.executable} {APP}")
        (root / "stack.toml").write_text(text)
        sd = StackDir(root, ports)
        made.append(sd)
        return sd

    yield make
    for sd in made:
        for inst in sorted({int(p.name) for p in (sd.root / ".harness").glob("*") if p.name.isdigit()}):
            sd.cli("down", instance=inst)


@pytest.fixture
def reachable_stack(make_stack: Callable[..., StackDir]) -> Iterator[Callable[..., StackDir]]:
    """``make_stack`` whose state dir other users can reach: as root, servers run as their own user.

    pytest's temporary directories are closed to other users, so ``stack.state_dir`` is a directory
    under ``TEST_STACKS`` (world-searchable), and the stack's ``.harness``
    a link to it (for ``state_dir()``); its instances are taken down and it is removed afterwards.
    """
    made: list[tuple[StackDir, Path]] = []

    def make(template: str, n_ports: int = 4) -> StackDir:
        sd = make_stack(template, n_ports)
        target = TEST_STACKS / f"{sd.root.parent.name[:20]}-{uuid.uuid4().hex[:8]}"
        target.mkdir(parents=True)
        (sd.root / ".harness").symlink_to(target)
        text = sd.file.read_text()
        line = f'state_dir = "{target}"\n'
        sd.file.write_text(
            text.replace("[stack]\n", "[stack]\n" + line, 1) if "[stack]\n" in text else "[stack]\n" + line + text
        )
        made.append((sd, target))
        return sd

    yield make
    for sd, target in made:
        for inst in sorted({int(p.name) for p in target.glob("*") if p.name.isdigit()}):
            sd.cli("down", instance=inst)
        shutil.rmtree(target, ignore_errors=True)


def owned_processes(state_dir: Path) -> list[psutil.Process]:
    """Live processes carrying this state dir's HARNESS_OWNER marker."""
    from harness.host.processes import tagged_processes

    return [p for p in tagged_processes(f"{state_dir.resolve()}#") if _live(p)]


def _live(proc: psutil.Process) -> bool:
    """Running and not a zombie; one that ended since it was listed (a short-lived helper) is not."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def cmdline_of(proc: psutil.Process) -> list[str]:
    """Its command line, or none for a process that ended since it was listed."""
    try:
        return proc.cmdline()
    except psutil.NoSuchProcess:
        return []


def name_of(proc: psutil.Process) -> str:
    """Its program's name, or "" for a process that ended since it was listed."""
    try:
        return proc.name()
    except psutil.NoSuchProcess:
        return ""


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = Path(__file__).parent / "examples"


def _test_stacks() -> Path:
    """Where copies of stacks that run servers as their own user live: world-searchable (pytest's
    temporary directories are 0700), so under the checkout's ``.harness/``; but a copy's deepest unix
    socket (``<name>-<8 hex>/.harness/N/<service>/data/mysqld.sock``) must fit 107 bytes, so for a
    deep checkout (act's job workspaces) under /tmp, in a directory named for the checkout."""
    here = ROOT / ".harness" / "test-stacks"
    if len(str(here)) <= 107 - len("/compose-01234567/.harness/0/orders/data/mysqld.sock"):
        return here
    return Path("/tmp") / f"harness-test-stacks-{hashlib.sha1(str(ROOT).encode()).hexdigest()[:8]}"


TEST_STACKS = _test_stacks()


@pytest.fixture(scope="session", autouse=True)
def _tidy_test_stacks() -> Iterator[None]:
    """The /tmp directory of a deep checkout's stack copies goes once empty (each copy removes itself)."""
    yield
    if TEST_STACKS.parent == Path("/tmp"):
        with contextlib.suppress(OSError):
            TEST_STACKS.rmdir()


@pytest.fixture
def example_copy() -> Iterator[Callable[[str, int], Path]]:
    """``example_copy(name, instance)``: a private copy of ``examples/<name>``; its stack.toml path.

    Copies live under ``TEST_STACKS`` (world-searchable), not pytest's 0700 tmp: as
    root, Postgres runs as the postgres user and must be able to reach its data dir. Every copy
    is taken down and removed afterwards.
    """
    made: list[tuple[Path, int]] = []

    def copy(name: str, instance: int) -> Path:
        target = TEST_STACKS / f"{name}-{uuid.uuid4().hex[:8]}"
        shutil.copytree(EXAMPLES / name, target)
        made.append((target, instance))
        return target / "stack.toml"

    yield copy
    for target, instance in made:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "harness",
                "--stack",
                str(target / "stack.toml"),
                "--instance",
                str(instance),
                "down",
            ],
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(target, ignore_errors=True)


def harness(
    stack: Path, *args: str, instance: int, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the harness CLI on ``stack`` (its directory as cwd) and capture what it says."""
    return subprocess.run(
        [sys.executable, "-m", "harness", "--stack", str(stack), "--instance", str(instance), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=stack.parent,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def derived_env(stack: Path, instance: int) -> dict[str, str]:
    """The variables the harness derives for ``stack``'s instance (ports, DSNs, credentials)."""
    from harness.config.settings import resolve_settings
    from harness.runtime.plan import load_plan

    return dict(load_plan(resolve_settings(stack=str(stack), instance=instance)).derived_env)


@contextlib.contextmanager
def reference_up(
    cli: Callable[..., subprocess.CompletedProcess[str]], services: list[str], instance: int
) -> Iterator[dict[str, str]]:
    """The repository's stack.toml: ``services`` up on ``instance``, its derived env, then a checked down."""
    res = cli("up", *services)
    if res.returncode:
        cli("down")
    assert res.returncode == 0, res.stderr
    yield derived_env(ROOT / "stack.toml", instance)
    down = cli("down")
    assert down.returncode == 0, down.stderr
