"""Shards: deterministic, balanced by durations, disruptive tests together; merging them back."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.plugin.shards import parse, split
from harness.record.merge import merge
from harness.record.summary import markdown

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_lands_in_exactly_one_shard_the_same_way_every_time():
    tests = [f"t.py::test_{i}" for i in range(50)]
    durations = {t: random.Random(i).uniform(0.1, 5) for i, t in enumerate(tests)}
    first = split(tests, 4, durations)
    assert sorted(t for shard in first for t in shard) == sorted(tests)
    assert split(list(tests), 4, dict(durations)) == first
    assert all(shard == [t for t in tests if t in shard] for shard in first), "collection order kept"


def test_disruptive_tests_stay_on_one_shard():
    tests = [f"t.py::test_{i}" for i in range(12)]
    disruptive = ["t.py::test_3", "t.py::test_7", "t.py::test_11"]
    shards = split(tests, 3, {}, disruptive)
    holders = [i for i, shard in enumerate(shards) if set(disruptive) & set(shard)]
    assert len(holders) == 1 and set(disruptive) <= set(shards[holders[0]])


def test_the_reference_suites_split_within_25_percent_by_recorded_durations():
    durations = json.loads((ROOT / "tests" / "integration" / "durations.json").read_text())
    p0 = sorted(t for t in durations if "architecture_p0" in t)
    loads = [sum(durations[t] for t in shard) for shard in split(p0, 2, durations)]
    assert max(loads) <= 1.25 * min(loads), loads


def test_unknown_tests_count_as_the_average():
    shards = split(["a", "b", "c", "d"], 2, {"a": 10.0, "b": 10.0})
    assert sorted(map(sorted, shards)) == [["a", "c"], ["b", "d"]]


@pytest.mark.parametrize("bad", ["3", "0/2", "3/2", "a/b"])
def test_bad_shard_specs_are_refused(bad):
    with pytest.raises(ValueError, match=r"K/N|between 1 and N"):
        parse(bad)


def record(shard: str, cases, exit_code=0, samples=(), group="g1", failure=""):
    return (
        Path(f"/runs/{shard.replace('/', '-')}"),
        {
            "version": 1,
            "run_id": f"r{shard}",
            "suite": "p0",
            "backend": "native",
            "git_commit": "c",
            "shard": shard,
            "group_id": group,
            "started_at": "2026-01-01T00:00:00.000Z",
            "completed_at": "2026-01-01T00:00:10.000Z",
            "duration_s": 10.0,
            "exit_code": exit_code,
            "status": "passed",
            "failure": failure,
            "stages": [{"name": "tests", "status": "ok", "start_offset": 0, "duration": 5.0, "detail": ""}],
            "tests": {"cases": cases},
            "latency": {"samples": list(samples)},
        },
    )


def case(nodeid, outcome="passed", tier="integration_p0"):
    return {
        "nodeid": nodeid,
        "int_id": None,
        "markers": [tier],
        "outcome": outcome,
        "duration_s": 1.0,
        "message": "boom" if outcome == "failed" else "",
        "backend_logs": {"api": ["ERROR x"]} if outcome == "failed" else {},
    }


def test_merge_sums_keeps_every_case_and_recomputes_latency_from_samples():
    fast = [["api", "GET", "/x", 200, 10.0]] * 99
    slow = [["api", "GET", "/x", 200, 900.0]] * 2
    data = merge([record("1/2", [case("a"), case("b")], samples=fast), record("2/2", [case("c", "failed")], 1, slow)])
    assert (data["tests"]["total"], data["tests"]["passed"], data["tests"]["failed"]) == (3, 2, 1)
    assert [c["nodeid"] for c in data["tests"]["cases"]] == ["a", "b", "c"]
    assert data["exit_code"] == 1 and data["status"] == "failed"
    p99 = data["latency"]["endpoints"]["api GET /x"]["p99_ms"]
    assert p99 == 900.0, "from the 101 samples; averaging the shards' p99s would say 455"
    assert [s["name"] for s in data["stages"]] == ["1/2 tests", "2/2 tests"]
    text = markdown(data)
    assert "| 3 | 2 | 1 | 0 | 0 |" in text and "**c**" in text and "ERROR x" in text
    assert "<summary>All 3 tests</summary>" in text and "| `b` |  | passed | 1.00 s | 1/2 |" in text
    assert [text.count(f"`{n}`") for n in "abc"] == [1, 1, 1], "every test once, in the folded table"


def test_a_shard_whose_stack_failed_makes_the_merge_exit_2():
    data = merge([record("1/2", [case("a", "failed")], 1), record("2/2", [], 2, failure="db: port in use")])
    assert data["exit_code"] == 2 and "shard 2/2: db: port in use" in data["failure"]


def test_missing_and_duplicated_shards_are_named():
    with pytest.raises(HarnessError, match=r"shard 3/3 missing"):
        merge([record("1/3", []), record("2/3", [])])
    with pytest.raises(HarnessError, match=r"shard 1/2 given twice.*shard 2/2 missing"):
        merge([record("1/2", []), record("1/2", [])])
    with pytest.raises(HarnessError, match="not one suite's shards"):
        merge([record("1/2", [], group="a"), record("2/2", [], group="b")])


def test_the_merge_job_fetches_one_groups_shard_records_from_the_s3_sink(tmp_path, monkeypatch):
    import importlib.util

    import boto3
    from moto import mock_aws

    spec = importlib.util.spec_from_file_location("fetch_records", ROOT / "scripts" / "fetch_records.py")
    fetch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fetch)
    for key in ("AWS_ENDPOINT_URL", "HARNESS_RESULTS_S3_ENDPOINT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HARNESS_RESULTS_S3", "s3://records/ci")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="records")
        for run, group, shard in (("r1", "g1", "1/2"), ("r2", "g1", "2/2"), ("r3", "other", "1/2"), ("r4", "g1", "")):
            s3.put_object(
                Bucket="records", Key=f"ci/{run}/results.json", Body=json.dumps({"group_id": group, "shard": shard})
            )
            s3.put_object(Bucket="records", Key=f"ci/{run}/junit.xml", Body=b"<testsuites/>")
        assert fetch.main("g1", tmp_path / "shards") == 0
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == ["r1", "r2"]
    assert (tmp_path / "shards" / "r2" / "junit.xml").read_bytes() == b"<testsuites/>"
