from __future__ import annotations

import os

import pytest

from harness.errors import LockedError
from harness.host.processes import ProcessEntry, same_process
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
    rec = ProcessEntry("db", 123, 1.5, ["postgres"], "/tmp/db.log", 2.0)
    store.save(State(owner_pid=9, complete=False, processes={"db": rec}, step_hashes={"x": "h"}))
    loaded, _ = store.load()
    assert loaded.processes["db"] == rec and loaded.step_hashes == {"x": "h"} and not loaded.complete
    store.path.write_text("{not json")
    assert store.load()[0].processes == {}


def test_recycled_pid_is_not_ours():
    import psutil

    me = psutil.Process()
    assert same_process(me.pid, me.create_time())
    assert not same_process(me.pid, me.create_time() - 100)
