"""What the stack does while Temporal is down (the test stops and restarts only Temporal)."""

from __future__ import annotations

import pytest

from tests.integration.support import RC_FILTER

pytestmark = [pytest.mark.integration_p1, pytest.mark.disruptive, pytest.mark.allow_backend_errors]


@pytest.fixture
def temporal_stopped(stack, harness_cli):
    harness_cli("stop", "temporal")
    try:
        yield
    finally:
        harness_cli("up", "temporal")
        stack.wait_controller_healthy("the controller to be healthy again after Temporal restarted")


@pytest.mark.int_id("INT-101")
def test_int_101_controller_health_names_temporal_when_it_is_down(stack, temporal_stopped):
    resp = stack.controller.get("/health")
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "unhealthy" and set(body["failing"]) == {"temporal"}
    assert "Temporal unavailable" in body["failing"]["temporal"]
    worker = stack.temporal_worker.get("/health")
    assert worker.status_code == 503 and "temporal" in worker.json()["failing"]


@pytest.mark.int_id("INT-102")
def test_int_102_simulation_without_temporal_fails_with_the_reason(stack, session_id, temporal_stopped):
    episode = stack.new_episode(session_id)
    stack.write(session_id, "circuit.cir", RC_FILTER)
    resp = stack.start_simulation(episode)
    assert resp.status_code == 503
    assert "Temporal unavailable" in resp.json()["error"]
    final = stack.episode(episode.id)
    assert final.status == "failed" and "Temporal unavailable" in final.reason
    kinds = [(e.kind, e.data.get("to")) for e in stack.events(episode.id)]
    assert ("status", "completed") not in kinds and kinds[-1] == ("status", "failed")
