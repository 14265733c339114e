"""Recorded node ids under pytest-xdist's loadgroup carry ``@<group>``: what selects a test, and
what matches it in JUnit, leave it out; and grouping lost (pytest 9.2) is said."""

from __future__ import annotations

import warnings

import pytest

from harness.plugin.protocol import selectable
from harness.suite.combine import junit_address


@pytest.mark.parametrize(
    ("recorded", "selected"),
    [
        ("t/test_a.py::test_x@worker_heavy", "t/test_a.py::test_x"),
        ("t/test_a.py::test_x[1-a]@worker_heavy", "t/test_a.py::test_x[1-a]"),
        ("t/test_a.py::test_x[a@b]", "t/test_a.py::test_x[a@b]"),  # an @ inside parameters stays
        ("t/test_a.py::T::test_y", "t/test_a.py::T::test_y"),
    ],
)
def test_the_xdist_group_suffix_is_left_out_where_a_test_is_selected(recorded, selected):
    assert selectable(recorded) == selected


def test_junit_names_match_with_or_without_the_group():
    assert junit_address("t/test_a.py::test_x[1]@worker_heavy") == junit_address("t/test_a.py::test_x[1]")
    assert junit_address("t/test_a.py::T::test_y") == ("t.test_a.T", "test_y")


class _Item:
    def __init__(self, nodeid: str, grouped: bool) -> None:
        self.nodeid, self.grouped = nodeid, grouped

    def get_closest_marker(self, name: str) -> object | None:
        return object() if name == "xdist_group" and self.grouped else None


def _collected(monkeypatch: pytest.MonkeyPatch, loadgroup: bool, *items: _Item) -> list[str]:
    from types import SimpleNamespace

    from harness.plugin import run_order

    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    config = SimpleNamespace(option=SimpleNamespace(loadgroup=loadgroup))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        run_order.pytest_collection_modifyitems(config, list(items))  # type: ignore[arg-type]
    return [str(w.message) for w in said]


def test_grouped_tests_that_lost_their_group_under_loadgroup_are_said(monkeypatch: pytest.MonkeyPatch) -> None:
    kept = _Item("t.py::test_a@heavy", True)
    lost = _Item("t.py::test_b", True)
    plain = _Item("t.py::test_c", False)
    assert _collected(monkeypatch, True, kept, plain) == []
    assert _collected(monkeypatch, False, lost) == []  # not loadgroup: groups mean nothing
    (said,) = _collected(monkeypatch, True, kept, lost, plain)
    assert said.startswith("1 tests marked xdist_group run ungrouped (e.g. t.py::test_b)") and "#1386" in said
