from __future__ import annotations

import fcntl
import os
import subprocess

import psutil
import pytest

from harness.config.settings import OWNER_VAR
from harness.errors import HarnessError, LockedError
from harness.host.processes import ProcessEntry, is_running, members_of, owner_tag, same_process, stop_entry
from harness.runtime.ledger import State, StateStore
from harness.runtime.lock import InstanceLock


def test_lock_is_exclusive_and_names_the_holder(tmp_path):
    first = InstanceLock(tmp_path, 4)
    first.acquire("up")
    try:
        with pytest.raises(LockedError) as info:
            InstanceLock(tmp_path, 4).acquire("down")
        assert "instance 4 is busy" in str(info.value) and f"pid {os.getpid()}" in str(info.value)
    finally:
        first.release()
    again = InstanceLock(tmp_path, 4)
    again.acquire("down")
    again.release()


def test_state_round_trips_and_survives_garbage(tmp_path):
    store = StateStore(tmp_path)
    rec = ProcessEntry("db", 123, 1.5, ["postgres"], "/tmp/db.log", 2.0, owner=f"{tmp_path}#run1")
    store.save(State(owner_pid=9, complete=False, processes={"db": rec}, step_hashes={"x": "h"}))
    loaded, _ = store.load()
    assert loaded.processes["db"] == rec and loaded.step_hashes == {"x": "h"} and not loaded.complete
    store.path.write_text("{not json")
    assert store.load()[0].processes == {}


def test_recycled_pid_is_not_ours():
    me = psutil.Process()
    assert same_process(me.pid, me.create_time())
    assert not same_process(me.pid, me.create_time() - 100)


def _chattr(flag: str, path) -> bool:
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


@pytest.mark.parametrize("bad", ["directory", "fifo", "link", "unwritable", "binary"])
def test_a_lock_file_the_harness_cannot_use_is_one_error_naming_it(tmp_path, bad):
    lock = tmp_path / "lock"
    victim = tmp_path / "victim"
    victim.write_text("precious")
    if bad == "directory":
        lock.mkdir()
    elif bad == "fifo":
        os.mkfifo(lock)
    elif bad == "link":
        lock.symlink_to(victim)
    elif bad == "binary":  # what a holder wrote is shown, whatever its bytes
        lock.write_bytes(b"\xff\xfe held")
    else:
        lock.write_text("")
        if not _chattr("+i", lock):  # immutable: even root cannot open it for writing
            pytest.skip("chattr +i is not available here")
    try:
        if bad == "binary":
            with open(lock, "rb") as held:
                fcntl.flock(held, fcntl.LOCK_EX)
                with pytest.raises(LockedError, match=r"instance 4 is busy: .* held holds"):
                    InstanceLock(tmp_path, 4).acquire("status")
            return
        with pytest.raises(HarnessError) as info:
            InstanceLock(tmp_path, 4).acquire("status")
    finally:
        _chattr("-i", lock) if bad == "unwritable" else None
    said = str(info.value)
    assert f"cannot use the lock file {lock}" in said and "\n" not in said, said
    assert victim.read_text() == "precious", "nothing is written through a link"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a directory to another user")
def test_a_state_dir_another_user_owns_is_refused_naming_it(tmp_path):
    shared = tmp_path / "shared"
    (shared / "0").mkdir(parents=True)
    os.chown(shared / "0", 65534, 65534)
    with pytest.raises(HarnessError, match=rf"state directory {shared / '0'} is owned by user .*65534"):
        InstanceLock(shared / "0", 0)
    os.chown(shared / "0", 0, 0)
    os.chown(shared, 65534, 65534)  # whoever owns the directory above can swap the instance's for another
    with pytest.raises(HarnessError, match=rf"state directory {shared} is owned by"):
        InstanceLock(shared / "0", 0)


def test_a_recorded_pid_is_ours_only_while_it_carries_the_instance_marker(tmp_path):
    """A pid and start time can be copied from ps into a forged state file; the marker cannot."""
    tag = owner_tag(tmp_path, "run1")
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    ours = subprocess.Popen(["sleep", "30"], start_new_session=True, env={**os.environ, OWNER_VAR: tag})
    try:
        store = StateStore(tmp_path)
        forged = {
            p.pid: ProcessEntry(str(p.pid), p.pid, psutil.Process(p.pid).create_time(), ["sleep"], "/l", 0.0, owner=o)
            for p, o in ((stranger, "/elsewhere#x"), (ours, tag))
        }
        store.save(State(complete=False, processes={e.name: e for e in forged.values()}))
        loaded = store.load()[0].processes
        assert loaded[str(stranger.pid)].owner == owner_tag(tmp_path, ""), "an entry is this instance's, or nothing"
        assert not is_running(loaded[str(stranger.pid)]) and members_of(loaded[str(stranger.pid)]) == []
        assert stop_entry(loaded[str(stranger.pid)], 1.0) == [] and stranger.poll() is None, "never signalled"
        assert is_running(loaded[str(ours.pid)]) and [p.pid for p in stop_entry(loaded[str(ours.pid)], 5.0)]
        assert ours.wait(timeout=10) is not None
    finally:
        for p in (stranger, ours):
            p.kill()
            p.wait()
