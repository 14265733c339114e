"""GitHub Actions annotations from a record: escaped as GitHub's toolkit does, on the line where each
test failed (which the plugin records, and results.json keeps relative to the repository)."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path
from types import SimpleNamespace

from harness.plugin.cases import location_of
from harness.record.github import escape_data, escape_property, workflow_commands
from harness.record.locations import relative_rootdir, relocated, repository_root


def case(nodeid: str, outcome: str = "failed", **more: object) -> dict:
    return {"nodeid": nodeid, "int_id": None, "outcome": outcome, "message": "", "location": None, **more}


def test_data_and_properties_are_escaped_as_github_says():
    assert escape_data("100% done\r\nnext: a, b") == "100%25 done%0D%0Anext: a, b"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


def test_terminal_colours_in_a_recorded_message_are_left_out():
    coloured = case("t.py::test_c", message="assert 'a' == 'b'\n  \x1b[0m\x1b[91m- b\x1b[39;49;00m")
    assert workflow_commands({"tests": {"cases": [coloured]}}) == [
        "::error title=test_c failed::t.py::test_c failed: assert 'a' == 'b'%0A  - b"
    ]


def test_a_failed_test_is_annotated_on_its_line_titled_by_its_id_or_name():
    cases = [
        case("tests/a.py::test_x", message="AssertionError: 1 != 2\nassert 1 == 2",
             location={"file": "tests/a.py", "line": 7}),
        case("tests/b.py::test_y[p,q:1]", "error", int_id="INT-042", message="fixture broke", shard="2/3",
             location={"file": "tests/b, odd:name.py", "line": 3}),
        case("tests/c.py::test_z", location={"file": "/elsewhere/c.py", "line": 1}),
        case("tests/d.py::test_w", "passed"),
        case("tests/e.py::test_v"),
    ]  # fmt: skip
    assert workflow_commands({"tests": {"cases": cases}}) == [
        "::error file=tests/a.py,line=7,title=test_x failed::tests/a.py::test_x failed: AssertionError: 1 != 2%0A"
        "assert 1 == 2",
        "::error file=tests/b%2C odd%3Aname.py,line=3,title=INT-042 errored::tests/b.py::test_y[p,q:1] errored "
        "(shard 2/3): fixture broke",
        "::error title=test_z failed::tests/c.py::test_z failed",  # outside the repository: no file to point at
        "::error title=test_v failed::tests/e.py::test_v failed",
    ]


def test_a_service_death_is_annotated_first_an_intended_stop_is_not():
    events = [
        {"service": "api", "event": "stopped", "detail": "by the test", "intended": True},
        {"service": "api", "event": "died", "detail": "pid 42 killed by SIGKILL", "tests": ["t.py::test_a"],
         "log_tail": ["line 1", "line 2"], "shard": "1/2"},
    ]  # fmt: skip
    lines = workflow_commands({"events": events, "tests": {"cases": [case("t.py::test_a")]}})
    assert lines[0] == (
        "::error title=service api died::service api died (shard 1/2): pid 42 killed by SIGKILL%0A"
        "during t.py::test_a%0Alast lines of api's log:%0Aline 1%0Aline 2"
    )
    assert lines[1].startswith("::error title=test_a failed::") and len(lines) == 2


def test_past_githubs_ten_per_step_one_notice_counts_the_rest():
    cases = [case(f"t.py::test_{i}") for i in range(25)]
    lines = workflow_commands({"tests": {"cases": cases}}, where="logs/runs/r1")
    assert len(lines) == 11 and all(line.startswith("::error ") for line in lines[:10])
    assert lines[10].startswith("::notice title=15 more failures::15 more failure(s) not annotated")
    assert "results.json (the record%3A logs/runs/r1)" not in lines[10], "the message is data, not a property"
    assert "(the record: logs/runs/r1)" in lines[10]


def report(longrepr: object, *, location: tuple = ("tests/t.py", 9, "test_t")) -> SimpleNamespace:
    return SimpleNamespace(failed=True, longrepr=longrepr, location=location, context=None, when="call")


def frames(*entries: tuple[str, int], crash: tuple[str, int] | None = None) -> SimpleNamespace:
    loc = [SimpleNamespace(reprfileloc=SimpleNamespace(path=p, lineno=n)) for p, n in entries]
    return SimpleNamespace(
        reprtraceback=SimpleNamespace(reprentries=loc),
        reprcrash=SimpleNamespace(path=crash[0], lineno=crash[1]) if crash else None,
    )


def test_the_plugin_records_the_deepest_frame_in_the_projects_own_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tests").mkdir()
    for name in ("test_t.py", "helpers.py"):
        (tmp_path / "tests" / name).write_text("\n" * 20)
    library = os.path.join(sysconfig.get_paths()["purelib"], "httpx", "_client.py")
    stdlib = os.path.join(sysconfig.get_paths()["stdlib"], "socket.py")
    through_a_library = frames(("tests/test_t.py", 12), (library, 800), (stdlib, 40), crash=(stdlib, 40))
    assert location_of([report(through_a_library)]) == {"file": str(tmp_path / "tests" / "test_t.py"), "line": 12}
    in_a_helper = frames(
        ("tests/test_t.py", 12), ("tests/helpers.py", 3), crash=(str(tmp_path / "tests/helpers.py"), 3)
    )
    assert location_of([report(in_a_helper)]) == {"file": str(tmp_path / "tests" / "helpers.py"), "line": 3}
    # A failure the plugin declares (a service died) is a string: the test's own place, from the rootdir.
    assert location_of([report("service 'api' died during the test")]) == {"file": "tests/t.py", "line": 10}
    passed = SimpleNamespace(failed=False, longrepr=None, location=("t.py", 0, "t"), context=None)
    assert location_of([passed]) is None


def test_results_json_keeps_locations_relative_to_the_repository_and_the_rootdir_to_the_stack(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    stack = repo / "examples" / "shop"
    stack.mkdir(parents=True)
    assert repository_root(stack) == repo.resolve()
    assert repository_root(tmp_path) == tmp_path.resolve(), "no checkout: the directory itself"
    cases = [
        case("tests/t.py::a", location={"file": str(stack / "tests" / "t.py"), "line": 4}),
        case("tests/t.py::b", location={"file": "tests/t.py", "line": 9}),  # relative to the rootdir
        case("tests/t.py::c", location={"file": "/usr/lib/python3/x.py", "line": 1}),
        case("tests/t.py::d", "passed"),
    ]
    out = relocated(cases, str(stack), repository_root(stack))
    assert [c["location"] for c in out] == [
        {"file": "examples/shop/tests/t.py", "line": 4},
        {"file": "examples/shop/tests/t.py", "line": 9},
        {"file": "/usr/lib/python3/x.py", "line": 1},
        None,
    ]
    assert relocated(cases, "", repo) == cases, "an older plugin's results, left as they are"
    assert relative_rootdir(str(repo), stack) == "../.." and relative_rootdir(str(stack), stack) == "."
    assert relative_rootdir("", stack) == ""
    assert Path(stack / relative_rootdir(str(repo), stack)).resolve() == repo.resolve()
