"""Choosing the cgroup hierarchy: one answer per process, whichever thread asks first."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from harness.host import cgroups


def test_threads_starting_services_side_by_side_all_get_the_same_hierarchy(tmp_path, monkeypatch):
    # A hybrid set-up: v2 under unified/, v1's pids controller beside it (both writable here).
    unified, pids = tmp_path / "unified", tmp_path / "pids"
    for root in (unified, pids):
        root.mkdir()
        (root / "cgroup.procs").write_text("")
    monkeypatch.setattr(cgroups, "CANDIDATES", (tmp_path / "top", unified, pids))
    monkeypatch.setattr(cgroups, "_chosen", [])
    slow_rmdir = Path.rmdir

    def rmdir(self: Path) -> None:  # the probe directory lives a moment, as on a busy machine
        time.sleep(0.05)
        slow_rmdir(self)

    monkeypatch.setattr(Path, "rmdir", rmdir)
    start = threading.Barrier(6)
    chosen: list[Path | None] = []

    def one() -> None:
        start.wait()
        chosen.append(cgroups.hierarchy())

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert chosen == [unified] * 6
    assert not [p for p in unified.iterdir() if p.name.startswith("harness-probe-")], "the probe is removed"


def test_no_writable_hierarchy_is_none(tmp_path, monkeypatch):
    monkeypatch.setattr(cgroups, "CANDIDATES", (tmp_path / "top", tmp_path / "unified", tmp_path / "pids"))
    monkeypatch.setattr(cgroups, "_chosen", [])
    assert cgroups.hierarchy() is None
    assert cgroups.group_of("/state#run") is None
    assert cgroups.members("/state#run") == [] and cgroups.add("/state#run", 1) is False


@pytest.mark.parametrize("owner, tail", [("/state#run1", "run1"), ("/state#", None)])
def test_a_run_has_a_group_inside_its_instance(tmp_path, monkeypatch, owner, tail):
    root = tmp_path / "unified"
    root.mkdir()
    (root / "cgroup.procs").write_text("")
    monkeypatch.setattr(cgroups, "CANDIDATES", (tmp_path / "top", root))
    monkeypatch.setattr(cgroups, "_chosen", [])
    group = cgroups.group_of(owner)
    assert group is not None and group.is_relative_to(root)
    assert (group.name == tail) if tail else group.parent == root
