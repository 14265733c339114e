"""``harness summary`` stays under GitHub's 1 MiB step summary limit, and says what it left out."""

from __future__ import annotations

from harness.record import counts
from harness.record.summary import STEP_SUMMARY_LIMIT, markdown


def record(cases: list[dict]) -> dict:
    return {
        "suite": "p0",
        "status": "failed",
        "exit_code": 1,
        "failure": "",
        "tests": counts.tests_block(cases),
        "stages": [{"name": "tests", "status": "failed", "duration": 12.5}],
    }


def case(i: int, outcome: str = "passed", log_lines: int = 0) -> dict:
    return {
        "nodeid": f"tests/integration/area_{i % 50}/test_module_{i % 400}.py::test_a_long_descriptive_name_{i}",
        "int_id": f"INT-{i:05d}",
        "markers": ["integration_p0"],
        "outcome": outcome,
        "duration_s": 0.5,
        "message": f"AssertionError: case {i}" if outcome == "failed" else "",
        "backend_logs": {"api": [f"ERROR line {n} " + "x" * 100 for n in range(log_lines)]},
    }


def test_a_small_record_is_whole():
    text = markdown(record([case(0), case(1, "failed", 2)]), where="merged")
    assert "Shortened" not in text and "<summary>All 2 tests</summary>" in text
    assert "**tests/integration/area_1/test_module_1.py::test_a_long_descriptive_name_1** (INT-00001)" in text


def test_a_huge_record_cuts_the_table_of_every_test_and_says_where_the_rest_is():
    cases = [case(i, "failed" if i % 1000 == 0 else "passed") for i in range(60_000)]
    text = markdown(record(cases), where="merged (this workflow run's artifacts: https://example.test/runs/1)")
    assert len(text.encode()) < STEP_SUMMARY_LIMIT < len(markdown(record(cases), limit=10**9).encode())
    assert text.startswith("## p0: failed (exit 1)") and "| 60000 | 59940 | 60 | 0 | 0 |" in text
    assert text.count("**tests/integration/") == 60, "every failure is still there"
    shown = text.count("| passed | 0.50 s |") + text.count("| failed | 0.50 s |")
    last = text.rstrip("\n").splitlines()[-1]
    assert last == (
        f"**Shortened to stay under the step summary's limit (1,048,576 bytes): {shown} of 60000 tests shown. "
        "Every test is in the run's record in merged (this workflow run's artifacts: https://example.test/runs/1) "
        "(results.json, report.html).**"
    )
    assert 5_000 < shown < 60_000, "as many rows as fit"
    assert f"<summary>The first {shown} of 60000 tests</summary>" in text
    assert "</details>" in text.split("<summary>The first")[1], "the table's fold is closed"


def test_failures_themselves_are_cut_when_they_alone_pass_the_limit():
    cases = [case(i, "failed", log_lines=12) for i in range(2_000)]
    text = markdown(record(cases), where="logs/latest")
    assert len(text.encode()) < STEP_SUMMARY_LIMIT
    kept = text.count("**tests/integration/")
    assert 0 < kept < 2_000
    assert text.rstrip().endswith(
        f"{kept} of 2000 failures and 0 of 2000 tests shown. Every test is in the run's record in logs/latest "
        "(results.json, report.html).**"
    )
    assert text.count("<details>") == text.count("</details>"), "no log excerpt cut in half"


def test_any_limit_is_kept():
    cases = [case(i, "failed", log_lines=3) for i in range(300)]
    for limit in (8_000, 50_000, 200_000):
        assert len(markdown(record(cases), limit=limit).encode()) < limit
