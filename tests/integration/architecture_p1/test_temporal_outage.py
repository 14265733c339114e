"""What the stack does while Temporal is down (the test stops and restarts only Temporal)."""

from __future__ import annotations

import pytest

from tests.integration.support import ENDLESS, RC_FILTER, poll

# While Temporal is down, the server's own shutdown and the worker's SDK may log errors: those
# only (scoped by service), not every error of the stack.
pytestmark = [
    pytest.mark.integration_p1,
    pytest.mark.disruptive,
    pytest.mark.allow_backend_errors(r"level=ERROR", service="temporal"),
    pytest.mark.allow_backend_errors(r"temporalio", service="temporal_worker"),
]


class Outage:
    """Temporal stopped through the harness; ``restore()`` starts it again (at most once)."""

    def __init__(self, stack, harness_cli) -> None:
        self.stack, self.cli, self.down = stack, harness_cli, False

    def start(self) -> None:
        self.cli("stop", "temporal")
        self.down = True

    def restore(self) -> None:
        if self.down:
            self.cli("up", "temporal")
            self.down = False
        self.stack.wait_controller_healthy("the controller to be healthy again after Temporal restarted")
        poll(
            lambda: self.stack.temporal_worker.get("/health").status_code,
            lambda code: code == 200,
            timeout=60,
            what="the Temporal worker to be healthy again",
        )


@pytest.fixture
def outage(stack, harness_cli):
    """Restores Temporal whatever the test did, so a failure here cannot cascade into later tests."""
    outage = Outage(stack, harness_cli)
    try:
        yield outage
    finally:
        outage.restore()


@pytest.fixture
def temporal_stopped(outage):
    outage.start()
    return outage


@pytest.mark.int_id("INT-101")
def test_int_101_controller_health_names_temporal_when_it_is_down(stack, temporal_stopped):
    resp = stack.controller.get("/health")
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "unhealthy" and set(body["failing"]) == {"temporal"}
    assert "Temporal unavailable" in body["failing"]["temporal"]
    worker = stack.temporal_worker.get("/health")
    assert worker.status_code == 503 and "temporal" in worker.json()["failing"]
    temporal_stopped.restore()  # in the test: healthy again is part of what it proves
    for service in (stack.controller, stack.temporal_worker):
        health = service.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "healthy", health.text


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
    # Temporal back: no workflow was left to run, so the episode never completes later either. A
    # simulation of another episode completing proves workflows run again meanwhile.
    temporal_stopped.restore()
    later = stack.new_episode(f"{session_id}-later")
    stack.write(f"{session_id}-later", "circuit.cir", RC_FILTER)
    assert stack.start_simulation(later).status_code == 202
    assert stack.wait_final(later.id).status == "completed"
    assert stack.episode(episode.id).status == "failed"
    assert [(e.kind, e.data.get("to")) for e in stack.events(episode.id)] == kinds


@pytest.mark.int_id("INT-103")
def test_int_103_a_late_workflow_result_does_not_overwrite_an_interrupt(stack, session_id, outage):
    """Interrupted while Temporal is down, the workflow never hears of it and finishes later."""
    episode = stack.new_episode(session_id)
    stack.write(session_id, "circuit.cir", ENDLESS)
    assert stack.start_simulation(episode, timeout_s=6).status_code == 202
    poll(
        lambda: [e.kind for e in stack.events(episode.id)],
        lambda kinds: "validated" in kinds,
        timeout=60,
        what="the simulation to start",
    )
    outage.start()
    resp = stack.controller.post(f"/episodes/{episode.id}/interrupt", headers=stack.key)
    assert resp.status_code == 200 and resp.json()["cancel_error"], resp.text  # the cancel never reached it
    outage.restore()
    interrupted_at = next(
        e.id for e in stack.events(episode.id) if e.kind == "status" and e.data["to"] == "interrupted"
    )
    late = poll(
        lambda: [e for e in stack.events(episode.id) if e.id > interrupted_at],
        lambda events: any(e.kind == "artifact" for e in events),
        timeout=120,
        what="the workflow to finish its simulation after the interrupt",
    )
    assert any(e.kind == "simulated" and e.data["outcome"] == "timeout" for e in late), late
    final = stack.episode(episode.id)
    assert final.status == "interrupted" and final.reason == "interrupted on request"
    statuses = [e.data["to"] for e in stack.events(episode.id) if e.kind == "status"]
    assert statuses[-1] == "interrupted" and statuses.count("interrupted") == 1
