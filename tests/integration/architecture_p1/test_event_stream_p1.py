"""controller's event stream under strain: reconnects, bad requests, a restart, a reader that stalls."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from websockets.exceptions import ConnectionClosed

from tests.integration.support import RC_FILTER

pytestmark = [pytest.mark.integration_p1, pytest.mark.xdist_group("worker_heavy")]

STREAM = "/episodes/{}/events/stream"
ENDED = lambda message: message["kind"] == "status" and message["data"]["to"] in ("completed", "failed")  # noqa: E731


def listed(stack, episode_id):
    return [{"seq": e.id, **e.model_dump()} for e in stack.events(episode_id)]


@pytest.mark.int_id("INT-130")
def test_int_130_a_reconnect_after_a_drop_resumes_without_loss_or_duplicates(stack, session_id, service_ws):
    episode = stack.new_episode(session_id, "dropped")
    stack.write(session_id, "circuit.cir", RC_FILTER)
    first = service_ws("controller", STREAM.format(episode.id))
    got = [first.receive_json(timeout=5)]
    assert stack.start_simulation(episode).status_code == 202
    got += first.receive_until(lambda m: m["kind"] == "status" and m["data"]["to"] == "queued", timeout=30)
    first.close()  # dropped mid-simulation
    again = service_ws("controller", STREAM.format(episode.id) + f"?after={got[-1]['seq']}")
    got += again.receive_until(ENDED, timeout=120)
    assert got == listed(stack, episode.id), "every event once, in order"
    assert again.closed()[0] == 1000


@pytest.mark.int_id("INT-131")
@pytest.mark.parametrize(
    ("path", "code", "named"),
    [
        ("/episodes/no-such-episode/events/stream", 4404, "no episode 'no-such-episode'"),
        ("{episode}?after=-1", 4400, "after must be"),
        ("{episode}?after=abc", 4400, "'abc'"),
    ],
)
def test_int_131_a_bad_stream_request_closes_with_a_code_and_a_reason(stack, session_id, service_ws, path, code, named):
    episode = stack.new_episode(session_id, "bad requests")
    ws = service_ws("controller", path.format(episode=STREAM.format(episode.id)))
    with pytest.raises(ConnectionClosed):
        ws.receive(timeout=5)
    assert ws.close_code == code and named in ws.close_reason, (ws.close_code, ws.close_reason)


@pytest.mark.int_id("INT-132")
@pytest.mark.disruptive
def test_int_132_a_controller_restart_closes_cleanly_and_the_client_resumes(stack, session_id, service_ws, harness_cli):
    episode = stack.new_episode(session_id, "restart")
    stack.write(session_id, "circuit.cir", RC_FILTER)
    ws = service_ws("controller", STREAM.format(episode.id))
    got = [ws.receive_json(timeout=5)]
    harness_cli("stop", "controller")
    try:
        code, _ = ws.closed(timeout=10)
        assert code == 1012, "uvicorn's close for a server restarting: the client knows to come back"
    finally:
        harness_cli("up", "controller")
    stack.wait_controller_healthy("the controller back")
    assert stack.start_simulation(episode).status_code == 202
    resumed = service_ws("controller", STREAM.format(episode.id) + f"?after={got[-1]['seq']}")
    got += resumed.receive_until(ENDED, timeout=120)
    assert got == listed(stack, episode.id)


@pytest.mark.int_id("INT-133")
def test_int_133_a_reader_that_stalls_holds_back_no_one_else(stack, session_id, service_ws):
    episode = stack.new_episode(session_id, "slow reader")
    stack.write(session_id, "circuit.cir", RC_FILTER)
    stalled = service_ws("controller", STREAM.format(episode.id))  # never read until the end
    quick = service_ws("controller", STREAM.format(episode.id))
    asked = time.perf_counter()
    assert stack.start_simulation(episode).status_code == 202
    got = quick.receive_until(ENDED, timeout=120, since=asked)
    lag = time.time() - dt.datetime.fromisoformat(got[-1]["created_at"]).timestamp()
    assert lag < 5, f"the last event reached the quick reader {lag:.1f} s after it was written"
    t0 = time.perf_counter()
    assert stack.controller.get("/health").status_code == 200
    assert time.perf_counter() - t0 < 5, "the controller answers others while one reader stalls"
    # The stalled reader loses nothing: it gets every event, late.
    assert stalled.receive_until(ENDED, timeout=30) == got == listed(stack, episode.id)
