"""A private Docker engine for machines that have none running: CI runners, throwaway hosts.

``private_dockerd(root)`` starts ``dockerd`` with its own data root, exec root, pid file and
socket under ``root`` (``--iptables=false --bridge=none``: the docker backend uses host
networking, and the host's firewall and bridges are left alone), yields its ``DOCKER_HOST``,
and stops it by its pid whatever happens: an exception, Ctrl-C or SIGTERM. A daemon left by a
run that was killed outright (its pid file names a live ``dockerd`` on the same socket) is
stopped before a new one starts. Images and volumes stay in the data root, so a machine that
keeps ``root`` keeps its built images between runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import psutil

from harness.errors import HarnessError


@dataclass(frozen=True)
class PrivateEngine:
    """Where the private engine lives and how to reach it."""

    root: Path

    @property
    def exec_root(self) -> Path:
        """Short and fixed per root: a unix socket path (containerd's lives here) must fit 107 bytes."""
        digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"harness-dockerd-{digest}"

    @property
    def socket(self) -> Path:
        return self.exec_root / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pidfile(self) -> Path:
        return self.root / "dockerd.pid"

    @property
    def log(self) -> Path:
        return self.root / "dockerd.log"

    def argv(self, dockerd: str) -> list[str]:
        return [
            dockerd,
            "--data-root", str(self.root / "data"),
            "--exec-root", str(self.exec_root),
            "--pidfile", str(self.pidfile),
            "--host", self.host,
            "--iptables=false",
            "--bridge=none",
            # Container nodes get one network per instance: the default pools hold only 31.
            "--default-address-pool", "base=10.213.0.0/16,size=24",
        ]  # fmt: skip


def _answers(engine: PrivateEngine) -> bool:
    import docker

    try:
        docker.DockerClient(base_url=engine.host, timeout=2).ping()
    except Exception:  # the SDK raises several types for "not yet"
        return False
    return True


def _stop(pid: int, grace: float) -> None:
    """SIGTERM the daemon (it stops its containers and its containerd), then SIGKILL its group."""
    try:
        proc = psutil.Process(pid)
        group = os.getpgid(pid)
    except (psutil.NoSuchProcess, ProcessLookupError):
        return
    proc.terminate()
    with contextlib.suppress(psutil.TimeoutExpired):
        proc.wait(grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)  # its own session: only what it started
    with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
        proc.wait(5)


def _leftover(engine: PrivateEngine) -> int | None:
    """The pid of a ``dockerd`` a killed run left on this socket, if one is alive."""
    try:
        pid = int(engine.pidfile.read_text().strip())
        cmdline = psutil.Process(pid).cmdline()
    except (OSError, ValueError, psutil.Error):
        return None
    return pid if cmdline[:1] and Path(cmdline[0]).name == "dockerd" and engine.host in cmdline else None


def _mounts_under(*roots: Path) -> list[str]:
    prefixes = tuple(str(root) + "/" for root in roots)
    return [p.mountpoint for p in psutil.disk_partitions(all=True) if p.mountpoint.startswith(prefixes)]


@contextlib.contextmanager
def private_dockerd(root: Path, *, timeout: float = 60.0, grace: float = 20.0) -> Iterator[PrivateEngine]:
    """Run a private ``dockerd`` under ``root`` for the duration of the block."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise HarnessError("private dockerd: `dockerd` is not installed (Debian: apt-get install docker.io)")
    engine = PrivateEngine(root.resolve())
    engine.root.mkdir(parents=True, exist_ok=True)
    if (stale := _leftover(engine)) is not None:
        print(f"private dockerd: stopping pid {stale}, left running by an earlier run on {engine.host}")
        _stop(stale, grace)
    with engine.log.open("ab") as log:
        proc = subprocess.Popen(
            engine.argv(dockerd), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        deadline = time.monotonic() + timeout
        while not _answers(engine):
            if proc.poll() is not None:
                raise HarnessError(
                    f"private dockerd exited with code {proc.returncode} before answering; see {engine.log}"
                )
            if time.monotonic() > deadline:
                raise HarnessError(
                    f"private dockerd (pid {proc.pid}) did not answer on {engine.host} in {timeout:.0f} s"
                )
            time.sleep(0.2)
        yield engine
    finally:
        _stop(proc.pid, grace)
        signal.signal(signal.SIGTERM, previous)
        # dockerd leaves its network namespace mounted in the exec root (and one killed hard, more).
        for mount in reversed(_mounts_under(engine.root, engine.exec_root)):
            subprocess.run(["umount", "--lazy", mount], check=False, capture_output=True)
        shutil.rmtree(engine.exec_root, ignore_errors=True)
