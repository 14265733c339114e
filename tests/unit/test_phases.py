"""A suite in phases: the parallel part, then the disruptive tests alone, folded into one record."""

from __future__ import annotations

import json
import os

import pytest

from harness.errors import HarnessError
from harness.suite.phases import Phase, combine, overall_exit, plan_phases, take_workers, worker_count


def test_worker_count():
    assert worker_count(None) == 0 and worker_count(0) == 0 and worker_count("0") == 0
    assert worker_count("auto") == (os.cpu_count() or 1)
    assert worker_count("3") == 3 and worker_count(2) == 2
    with pytest.raises(HarnessError, match="'many' is not a number of workers or 'auto'"):
        worker_count("many")


@pytest.mark.parametrize(
    ("args", "workers", "rest"),
    [
        (["-n", "4", "-x"], "4", ["-x"]),
        (["-n4", "-k", "foo"], "4", ["-k", "foo"]),
        (["--numprocesses=auto"], "auto", []),
        (["--numprocesses", "2", "tests/x.py"], "2", ["tests/x.py"]),
        (["-x", "-k", "n"], None, ["-x", "-k", "n"]),
    ],
)
def test_workers_are_taken_from_the_arguments_after_the_double_dash(args, workers, rest):
    assert take_workers(args) == (workers, rest)


def test_phases_keep_the_suites_markers_and_put_disruptive_tests_last():
    assert plan_phases("tier_a", 0) == [Phase("", "tier_a", 0)]
    parallel, alone = plan_phases("tier_a or tier_b", 2)
    assert parallel == Phase("parallel", "(tier_a or tier_b) and not disruptive", 2)
    assert alone == Phase("disruptive", "(tier_a or tier_b) and disruptive", 0)
    assert [p.markers for p in plan_phases(None, 2)] == ["not disruptive", "disruptive"]


@pytest.mark.parametrize(
    ("codes", "overall"),
    [([0, 5], 0), ([5, 0], 0), ([1, 0], 1), ([0, 1], 1), ([5, 5], 5), ([2, 0], 2), ([1, 4], 4)],
)
def test_one_exit_code_for_the_phases(codes, overall):
    assert overall_exit(codes) == overall


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="1" failures="{f}"
errors="0" skipped="0" time="0.1"><testcase classname="t" name="{name}" time="0.1">{failure}</testcase>
</testsuite></testsuites>"""


def test_combine_folds_junit_and_results_as_one_run(tmp_path):
    phases = plan_phases("p0", 2)
    (tmp_path / "junit-parallel.xml").write_text(JUNIT.format(f=0, name="test_a", failure=""))
    (tmp_path / "junit-disruptive.xml").write_text(JUNIT.format(f=1, name="test_b", failure="<failure message='x'/>"))
    parallel = {"exitstatus": 0, "tests": [{"nodeid": "a"}], "latency": {"samples": [["api", "GET", "/x", 200, 5.0]]}}
    alone = {"exitstatus": 1, "tests": [{"nodeid": "b"}], "latency": {"samples": [["api", "GET", "/x", 200, 7.0]]}}
    (tmp_path / "pytest-results-parallel.json").write_text(json.dumps(parallel))
    (tmp_path / "pytest-results-disruptive.json").write_text(json.dumps(alone))
    combine(tmp_path, phases)
    data = json.loads((tmp_path / "pytest-results.json").read_text())
    assert data["exitstatus"] == 1 and [t["nodeid"] for t in data["tests"]] == ["a", "b"]
    assert data["latency"]["endpoints"]["api GET /x"]["count"] == 2, "latency from both phases' raw samples"
    assert data["phases"] == [{"phase": "parallel", "workers": 2}, {"phase": "disruptive", "workers": 0}]
    junit = (tmp_path / "junit.xml").read_text()
    assert 'name="test_a"' in junit and 'name="test_b"' in junit and "<failure" in junit


def test_a_file_or_a_few_test_ids_run_without_workers(tmp_path):
    from harness.suite.command import FEW_TESTS, few_tests

    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("")
    (tmp_path / "tests" / "test_b.py").write_text("")
    assert few_tests(["tests/test_a.py", "-x"], tmp_path)
    assert few_tests(["tests/test_a.py::test_one"], tmp_path)
    ids = [f"tests/test_a.py::test_{n}" for n in range(FEW_TESTS + 1)]
    assert few_tests(ids[:FEW_TESTS], tmp_path)
    assert not few_tests(ids, tmp_path), "more tests (--changed's choice, say): workers stay"
    assert not few_tests(["tests/test_a.py", "tests/test_b.py"], tmp_path), "two files may hold many tests"
    assert not few_tests(["tests"], tmp_path), "a directory may hold many tests: workers stay"
    assert not few_tests(["tests/test_a.py", "tests"], tmp_path)
    assert not few_tests(["-x", "-k", "slow"], tmp_path), "no selection: the suite's paths, workers stay"
