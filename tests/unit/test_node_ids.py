"""Recorded node ids under pytest-xdist's loadgroup carry ``@<group>``: what selects a test, and
what matches it in JUnit, leave it out."""

from __future__ import annotations

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
