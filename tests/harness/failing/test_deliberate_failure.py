"""A test that fails on purpose, kept to show what a failure looks like in a suite's record.

Selected explicitly (it never runs on its own):

    nox -s integration_p0 -- tests/harness/failing/test_deliberate_failure.py

It makes worker_light log a line with its session id, then fails: the run exits 1 and the
terminal output and results.json both carry that worker_light log excerpt.
"""

import pytest


@pytest.mark.integration_p0
@pytest.mark.int_id("INT-000")
def test_deliberate_failure_shows_backend_logs(service_client, session_id):
    resp = service_client("worker_light").post(
        "/fs/read", json={"path": "does-not-exist.txt"}, headers={"X-Session-ID": session_id}
    )
    assert resp.status_code == 404
    assert resp.json()["error"] == "this assertion fails on purpose", "deliberate failure"
