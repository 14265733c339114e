"""The watch's judgement of a dead service, driven with fake ledger reads (no processes)."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

from harness.host.processes import ProcessEntry
from harness.suite.watch import Watch


def dead_record() -> ProcessEntry:
    # A pid whose start time cannot match: is_running() says it is gone.
    return ProcessEntry("temporal", 2**22 - 3, 1.0, ["temporal"], "/dev/null", time.time())


def watch(tmp_path, entries, stopping) -> Watch:
    settings = SimpleNamespace(liveness=None, restart="no", max_restarts=3, backoff=0.5, backoff_max=10)
    w = Watch(
        ["temporal"],
        entries=entries,
        stopping=stopping,
        settings=lambda name: settings,
        probe=lambda name, rec: None,
        restart=lambda name: None,
        count_restart=lambda name: 0,
        depends_on=lambda name: set(),
        run_dir=tmp_path,
    )
    return w


def test_a_stop_through_the_harness_between_the_ticks_reads_is_not_a_death(tmp_path):
    rec = dead_record()
    # The tick read the record and no stop mark; the harness then marked, killed and forgot it.
    w = watch(tmp_path, entries=lambda: {}, stopping=lambda: {})
    w._seen["temporal"].pid = rec.pid
    w._check("temporal", rec, {})
    assert [e.event for e in w.events if e.fails] == []


def test_a_death_nobody_asked_for_fails(tmp_path):
    rec = dead_record()
    w = watch(tmp_path, entries=lambda: {"temporal": rec}, stopping=lambda: {})
    w._seen["temporal"].pid = rec.pid
    w._check("temporal", rec, {})
    assert [(e.service, e.event, e.fails) for e in w.events] == [("temporal", "died", True)]


def test_events_name_the_tests_running_then_from_each_processes_timeline(tmp_path):
    from harness.plugin.protocol import ServiceEvent, timeline_part

    w = watch(tmp_path, entries=lambda: {}, stopping=lambda: {})
    (tmp_path / timeline_part("gw0")).write_text(json.dumps([["t.py::a", 10.0, 20.0], ["t.py::b", 20.5, None]]))
    (tmp_path / timeline_part("gw1")).write_text(json.dumps([["t.py::c", 15.0, 16.0]]))
    (tmp_path / timeline_part("gw2")).write_text("[[")  # a process killed while writing: ignored
    w.events = [ServiceEvent(15.5, "temporal", "died", "x"), ServiceEvent(99.0, "temporal", "died", "y")]
    w.attribute()
    # b never ended (its process was killed): it runs until the end.
    assert [e.tests for e in w.events] == [["t.py::a", "t.py::c"], ["t.py::b"]]
