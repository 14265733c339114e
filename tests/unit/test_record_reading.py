"""Records read back by merge, summary and durations: garbage is one line naming the file and the
key (never a traceback, never a half-written merged record), and durations merge, not replace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from harness.errors import HarnessError
from harness.record.durations import write_durations
from harness.record.merge import shard_records, write_merged
from harness.record.reading import read_record


def record(shard: str = "1/2", cases: list[dict] | None = None) -> dict:
    cases = cases if cases is not None else [{"nodeid": "t.py::a", "outcome": "passed", "duration_s": 1.5}]
    return {
        "version": 1,
        "run_id": f"r-{shard.replace('/', '-')}",
        "suite": "p0",
        "backend": "native",
        "git_commit": "abc",
        "status": "passed",
        "exit_code": 0,
        "started_at": "2026-12-02T10:00:00.000Z",
        "completed_at": "2026-12-02T10:00:01.000Z",
        "duration_s": 1.0,
        "shard": shard,
        "group_id": "g",
        "stages": [],
        "tests": {"total": len(cases), "passed": len(cases), "cases": cases},
    }


def write(directory: Path, data: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "results.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return directory


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("{not json", "is not a results file"),
        (json.dumps({"run_id": "x"}), "suite: Field required"),
        (json.dumps({**record(), "tests": {"cases": [{"nodeid": 3}]}}), "tests.cases.0.nodeid"),
        (json.dumps({**record(), "exit_code": "zero"}), "exit_code"),
        (json.dumps([1, 2]), "(the whole file)"),
    ],
)
def test_a_record_that_is_not_one_is_named_with_its_key(tmp_path, content, said):
    path = write(tmp_path / "run", content) / "results.json"
    with pytest.raises(HarnessError, match=r"^summary: ") as exc:
        read_record(path, "summary")
    assert str(path) in str(exc.value) and said in str(exc.value)


def test_a_shard_of_zero_is_refused(tmp_path):
    one, two = write(tmp_path / "a", record("1/0")), write(tmp_path / "b", record("2/2"))
    with pytest.raises(HarnessError, match=r"shard: '1/0' is not K/N"):
        shard_records([str(one), str(two)])


def test_a_merge_that_fails_halfway_leaves_no_merged_directory(tmp_path):
    one, two = write(tmp_path / "a", record("1/2")), write(tmp_path / "b", record("2/2"))
    (one / "junit.xml").write_text("<testsuites><testsuite")  # cut short
    out = tmp_path / "merged"
    with pytest.raises(HarnessError, match=r"junit\.xml: not a JUnit XML file"):
        write_merged(shard_records([str(one), str(two)]), out, tmp_path, tmp_path / "history.jsonl", Console())
    assert not out.exists() and not list(tmp_path.glob(".merged*")) and not (tmp_path / "history.jsonl").exists()


def test_durations_are_merged_with_what_the_file_held(tmp_path):
    runs = tmp_path / "runs"
    write(runs / "r1", record("", [{"nodeid": "p0.py::a", "outcome": "passed", "duration_s": 2.0}]))
    write(runs / "r2", "{garbage")
    target = tmp_path / "durations.json"
    target.write_text(json.dumps({"p0.py::a": 9.0, "p1.py::b": 3.0}))
    written = write_durations(runs, target)
    assert json.loads(target.read_text()) == {"p0.py::a": 2.0, "p1.py::b": 3.0}, "p1's entry kept, p0's updated"
    assert (written.tests, written.measured, written.skipped) == (2, 1, [runs / "r2" / "results.json"])


def test_a_durations_file_that_is_not_one_is_refused_not_overwritten(tmp_path):
    target = tmp_path / "durations.json"
    target.write_text("[1, 2]")
    with pytest.raises(HarnessError, match=r"expected \{test id: seconds\}"):
        write_durations(tmp_path / "runs", target)
    assert target.read_text() == "[1, 2]"
