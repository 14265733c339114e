"""``--failed-from``: which tests a recorded run gives to run again, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.record.rerun import read_failed


def write(run_dir: Path, *, suite: str = "p0", exit_code: int = 1, failure: str = "", rootdir: str = ".", **o: str):
    """A run's results.json whose cases have the outcomes ``o`` (test name -> outcome)."""
    run_dir.mkdir(parents=True)
    cases = [{"nodeid": f"tests/test_x.py::{name}", "outcome": outcome} for name, outcome in o.items()]
    data = {"run_id": run_dir.name, "suite": suite, "exit_code": exit_code, "status": "failed", "failure": failure}
    (run_dir / "results.json").write_text(json.dumps({**data, "rootdir": rootdir, "tests": {"cases": cases}}))
    return run_dir


def test_exactly_the_failed_and_errored_tests_from_a_dir_a_file_or_latest(tmp_path):
    run = write(
        tmp_path / "runs" / "r1", a="passed", b="failed", c="error", d="skipped", e="not_run", f="xfailed", g="failed"
    )
    (tmp_path / "latest").symlink_to("runs/r1")
    for source in (str(run), str(run / "results.json"), "latest"):
        failed = read_failed(source, tmp_path / "latest", "p0")
        assert failed.nodeids == ("tests/test_x.py::b", "tests/test_x.py::c", "tests/test_x.py::g"), source
        assert failed.not_reached == 1 and failed.run_id == "r1"
    assert failed.provenance() == {"run_id": "r1", "results": str(tmp_path / "latest" / "results.json"), "tests": 3}


def test_node_ids_become_arguments_from_where_pytest_starts(tmp_path):
    run = write(tmp_path / "r1", rootdir="..", b="failed")
    stack = tmp_path / "repo" / "stack"
    assert read_failed(str(run), tmp_path, "p0").arguments(stack, stack) == ["../tests/test_x.py::b"]
    assert read_failed(str(run), tmp_path, "p0").arguments(stack, stack.parent) == ["tests/test_x.py::b"]
    older = write(tmp_path / "r2", rootdir="", b="failed")
    assert read_failed(str(older), tmp_path, "p0").arguments(stack, stack) == ["tests/test_x.py::b"], "as recorded"


def test_a_run_with_none_failed_gives_none_unless_it_did_not_finish(tmp_path):
    passed = write(tmp_path / "r1", exit_code=0, a="passed")
    assert read_failed(str(passed), tmp_path, "p0").nodeids == ()
    broken = write(tmp_path / "r2", exit_code=2, failure="db: port 5432 in use\nmore")
    with pytest.raises(HarnessError, match=r"no test failed or errored in r2, yet it ended failed \(exit 2\): db: port "
                       r"5432 in use; nothing to rerun alone: run the suite whole"):  # fmt: skip
        read_failed(str(broken), tmp_path, "p0")


def test_another_suites_run_or_no_run_at_all_is_refused_by_name(tmp_path):
    run = write(tmp_path / "r1", suite="p1", b="failed")
    with pytest.raises(HarnessError, match=r"r1 is a run of suite 'p1', not of 'p0' \(`harness suite p1 --failed-from"):
        read_failed(str(run), tmp_path, "p0")
    with pytest.raises(HarnessError, match=r"--failed-from latest \(.*latest\): no results.json there"):
        read_failed("latest", tmp_path / "latest", "p0")
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(HarnessError, match=r"junk.json: not a run's results.json"):
        read_failed(str(tmp_path / "junk.json"), tmp_path, "p0")


def test_the_suite_command_takes_failed_from_under_invoke_and_after_the_double_dash_too():
    from harness.cli.invoke_tasks import namespace
    from harness.cli.main import build_parser
    from harness.cli.table import command, own_switches

    options = {name for arg in namespace(exclude=())["suite"].get_arguments() for name in arg.names}
    assert "failed_from" in options or "failed-from" in options
    args = build_parser().parse_args(["suite", "p0", "--failed-from", "latest", "--shard", "auto/2"])
    assert (args.failed_from, args.shard) == ("latest", "auto/2")
    own, rest = own_switches(command("suite"), ["--failed-from", "latest", "-x"])  # nox: `-- --failed-from latest`
    assert own.failed_from == "latest" and rest == ["-x"]
