"""A test's case from its reports: the quick way for plain passes gives what the full reading gives."""

from __future__ import annotations

import pytest

from harness.plugin.cases import case_of


def report(when: str, outcome: str = "passed", props: tuple[tuple[str, str], ...] = (), **extra: object):
    rep = pytest.TestReport(
        "t.py::test_x",
        ("t.py", 3, "test_x"),
        {"test_x": 1, "tier_p0": 1, "t.py": 1},
        outcome,
        None,
        when,
        duration=0.25,
        user_properties=list(props),
    )
    for key, value in extra.items():
        setattr(rep, key, value)
    return rep


def test_a_plain_pass_keeps_its_id_markers_duration_and_browser_errors():
    props = (("int_id", "INT-007"), ("browser_errors", '["console error: x"]'))
    reports = [report("setup", props=props[:1]), report("call", props=props), report("teardown")]
    case = case_of("t.py::test_x", reports, "tier_")
    assert case == {
        "nodeid": "t.py::test_x",
        "int_id": "INT-007",
        "markers": ["tier_p0"],
        "outcome": "passed",
        "duration_s": 0.75,
        "message": "",
        "backend_logs": {},
        "browser_errors": ["console error: x"],
        "subtests": [],
        "websocket_frames": {},
        "location": None,
    }


def test_without_a_tier_prefix_no_marker_is_recorded():
    assert case_of("t.py::test_x", [report("setup"), report("call"), report("teardown")], "")["markers"] == []


def test_an_xpass_and_a_skip_are_not_plain_passes():
    xpassed = case_of("t.py::test_x", [report("setup"), report("call", wasxfail="flaky"), report("teardown")], "")
    assert (xpassed["outcome"], xpassed["message"]) == ("xpassed", "flaky")
    skipped = report("setup", "skipped")
    skipped.longrepr = ("t.py", 3, "Skipped: no browser")
    case = case_of("t.py::test_x", [skipped, report("teardown")], "")
    assert (case["outcome"], case["message"]) == ("skipped", "Skipped: no browser")
