"""The private Docker engine CI starts (harness.docker.private_engine): stopped by pid whatever happens.

Each test starts a real ``dockerd`` on its own data root under ``tmp_path`` (no network, no
firewall rules: ``--iptables=false --bridge=none``). ``nox -s docker`` installs Docker and runs
this file; elsewhere it is skipped when ``dockerd`` is missing or this is not root.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from harness.docker.private_engine import PrivateEngine, private_dockerd
from harness.errors import HarnessError

from .conftest import wait_for

pytestmark = pytest.mark.skipif(
    shutil.which("dockerd") is None or os.geteuid() != 0,
    reason="needs dockerd (Debian's docker.io) and root; `nox -s docker` installs it and runs this file",
)


def _daemons(root: Path) -> list[psutil.Process]:
    """Live dockerd processes serving this root's socket."""
    host = PrivateEngine(root.resolve()).host
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if cmdline[:1] and Path(cmdline[0]).name == "dockerd" and host in cmdline:
            found.append(proc)
    return found


def _mounts(root: Path) -> list[str]:
    engine = PrivateEngine(root.resolve())
    prefixes = (str(engine.root) + "/", str(engine.exec_root) + "/")
    return [p.mountpoint for p in psutil.disk_partitions(all=True) if p.mountpoint.startswith(prefixes)]


def _holder(root: Path, ready: Path) -> subprocess.Popen[bytes]:
    """A process that holds a private engine until it is signalled."""
    code = textwrap.dedent(f"""
        import pathlib, time
        from harness.docker.private_engine import private_dockerd
        with private_dockerd(pathlib.Path({str(root)!r})) as engine:
            pathlib.Path({str(ready)!r}).write_text(engine.host)
            time.sleep(600)
    """)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_the_engine_answers_in_the_block_and_is_gone_after_it(tmp_path):
    import docker

    with private_dockerd(tmp_path / "engine") as engine:
        client = docker.DockerClient(base_url=engine.host, timeout=10)
        assert client.ping()
        assert client.info()["DockerRootDir"] == str(engine.root / "data")
        assert len(_daemons(tmp_path / "engine")) == 1
    assert _daemons(tmp_path / "engine") == []
    assert _mounts(tmp_path / "engine") == []
    assert not engine.exec_root.exists()


def test_an_exception_in_the_block_still_stops_it(tmp_path):
    with pytest.raises(RuntimeError, match="the job failed"), private_dockerd(tmp_path / "engine"):
        assert len(_daemons(tmp_path / "engine")) == 1
        raise RuntimeError("the job failed")
    assert _daemons(tmp_path / "engine") == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signalled_holder_stops_its_engine(tmp_path, sig):
    ready = tmp_path / "ready"
    holder = _holder(tmp_path / "engine", ready)
    try:
        wait_for(ready.exists, 60, "the private engine to answer")
        assert len(_daemons(tmp_path / "engine")) == 1
        holder.send_signal(sig)
        holder.wait(60)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert _daemons(tmp_path / "engine") == []
    assert _mounts(tmp_path / "engine") == []


def test_an_engine_left_by_a_killed_holder_is_stopped_by_the_next_one(tmp_path):
    ready = tmp_path / "ready"
    holder = _holder(tmp_path / "engine", ready)
    try:
        wait_for(ready.exists, 60, "the private engine to answer")
    finally:
        holder.kill()  # SIGKILL: no finally runs, the daemon (its own session) survives
        holder.wait()
    (left,) = _daemons(tmp_path / "engine")
    with private_dockerd(tmp_path / "engine"):
        assert not left.is_running() or left.status() == psutil.STATUS_ZOMBIE
        assert len(_daemons(tmp_path / "engine")) == 1
    assert _daemons(tmp_path / "engine") == []


def test_a_daemon_that_cannot_start_is_named_with_its_log(tmp_path):
    root = tmp_path / "engine"
    root.mkdir()
    (root / "data").write_text("a file where the data root should be")
    with (
        pytest.raises(HarnessError, match=r"private dockerd exited with code \d+ before answering; see .*dockerd\.log"),
        private_dockerd(root, timeout=30),
    ):
        pass
    assert _daemons(root) == []
