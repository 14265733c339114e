"""Slicing the services' logs per test: descriptors held open, the directory watched for new logs."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

from harness.plugin.backend_errors import unallowed
from harness.plugin.backend_logs import ServiceLogs
from harness.plugin.markers import has_marker


def _append(path, text: str) -> None:
    with open(path, "a") as fh:
        fh.write(text)


def _touch_dir_later(directory) -> None:
    """Directory times are coarse on some file systems: make the change visible."""
    later = time.time() + 2
    os.utime(directory, (later, later))


def test_a_test_gets_the_lines_written_since_it_started(tmp_path):
    _append(tmp_path / "api.log", "before\n")
    logs = ServiceLogs(tmp_path)
    start = logs.offsets()
    assert logs.new_lines(start) == {}
    _append(tmp_path / "api.log", "GET /items 200\n\nERROR boom\n")
    assert logs.new_lines(start) == {"api": ["GET /items 200", "ERROR boom"]}
    assert logs.new_lines(logs.offsets()) == {}


def test_an_error_early_in_a_chatty_test_is_in_its_share(tmp_path):
    """The backend-error check sees every line the test made the service write, not only the last ones."""
    logs = ServiceLogs(tmp_path)
    _append(tmp_path / "api.log", "")
    _touch_dir_later(tmp_path)
    start = logs.offsets()
    _append(tmp_path / "api.log", "ERROR early\n" + "GET /items 200\n" * 5000)
    lines = logs.new_lines(start)["api"]
    assert len(lines) == 5001 and unallowed({"api": lines}, []) == [("api", "ERROR early")]


def test_a_log_that_appears_during_the_test_is_read_from_its_start(tmp_path):
    _append(tmp_path / "api.log", "x\n")
    logs = ServiceLogs(tmp_path)
    start = logs.offsets()
    _append(tmp_path / "worker.log", "first start\n")
    _touch_dir_later(tmp_path)
    assert logs.new_lines(start) == {"worker": ["first start"]}


def test_a_log_replaced_under_its_name_is_opened_again(tmp_path):
    _append(tmp_path / "api.log", "old run\n" * 3)
    logs = ServiceLogs(tmp_path)
    logs.offsets()
    (tmp_path / "api.log").unlink()
    _append(tmp_path / "api.log", "new\n")
    _touch_dir_later(tmp_path)
    start = logs.offsets()
    assert start == {"api": 4}
    _append(tmp_path / "api.log", "after\n")
    assert logs.new_lines(start) == {"api": ["after"]}


def test_no_log_directory_is_no_lines(tmp_path):
    logs = ServiceLogs(tmp_path / "missing")
    assert logs.offsets() == {} and logs.new_lines({}) == {}
    assert ServiceLogs(None).offsets() == {}


def _node(nodeid: str, marks: list[str], parent: object = None) -> SimpleNamespace:
    return SimpleNamespace(nodeid=nodeid, own_markers=[SimpleNamespace(name=m) for m in marks], parent=parent)


def test_a_marker_on_the_test_its_class_or_module_is_found():
    session = _node("", [])
    module = _node("t.py", ["tier_p0"], session)
    cls = _node("t.py::TestX", ["test_id"], module)
    item = _node("t.py::TestX::test_a", ["allow_backend_errors"], cls)
    bare = _node("t.py::test_b", [], module)
    assert has_marker(item, "allow_backend_errors") and has_marker(item, "test_id") and has_marker(item, "tier_p0")
    assert has_marker(bare, "tier_p0") and not has_marker(bare, "test_id")
    assert not has_marker(item, "disruptive")
