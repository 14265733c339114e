"""Boot and health contract of every service."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration_p0


@pytest.mark.int_id("INT-001")
@pytest.mark.parametrize(
    ("service", "checks"),
    [
        ("controller", {"postgres", "temporal", "worker_light", "worker_heavy"}),
        ("worker_light", {"sessions_dir", "sandbox"}),
        ("worker_heavy", {"parts_db", "ngspice", "s3", "display", "sandbox"}),
    ],
)
def test_int_001_every_service_reports_healthy_with_its_checks(stack, service_client, service, checks):
    resp = service_client(service).get("/health")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "healthy"
    assert set(body["checks"]) == checks


@pytest.mark.int_id("INT-001")
def test_int_001_temporal_worker_reports_healthy_with_its_checks(stack):
    resp = stack.temporal_worker.get("/health")
    assert resp.status_code == 200 and resp.json()["status"] == "healthy"
    assert set(resp.json()["checks"]) == {"temporal", "task_queue", "postgres", "s3"}
    assert resp.json()["task_queue"] == stack.env["TEMPORAL_TASK_QUEUE"]
