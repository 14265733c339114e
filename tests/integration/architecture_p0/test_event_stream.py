"""controller: an episode's events live over a WebSocket (``/episodes/{id}/events/stream``)."""

from __future__ import annotations

import time

import pytest

from tests.integration.support import RC_FILTER

# One xdist worker runs them in turn (--dist loadgroup): worker_heavy runs one simulation at a time.
pytestmark = [pytest.mark.integration_p0, pytest.mark.xdist_group("worker_heavy")]

STREAM = "/episodes/{}/events/stream"
ENDED = lambda message: message["kind"] == "status" and message["data"]["to"] in ("completed", "failed")  # noqa: E731


@pytest.mark.int_id("INT-027")
def test_int_027_a_subscriber_gets_the_simulations_events_live_in_order(stack, session_id, service_ws):
    episode = stack.new_episode(session_id, "streamed")
    stack.write(session_id, "circuit.cir", RC_FILTER)
    ws = service_ws("controller", STREAM.format(episode.id))
    created = ws.receive_json(timeout=5)
    assert (created["seq"], created["kind"], created["data"]["to"]) == (created["id"], "status", "created")
    asked = time.perf_counter()
    assert stack.start_simulation(episode).status_code == 202
    live = ws.receive_until(ENDED, timeout=120, since=asked)  # each arrival timed from the request
    got = [created, *live]
    seqs = [m["seq"] for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "in order, none twice"
    transitions = [m["data"]["to"] for m in got if m["kind"] == "status"]
    assert transitions == ["created", "queued", "running", "completed"]
    assert ws.closed(timeout=10) == (1000, "episode completed"), "the stream ends with the episode"
    # Exactly what the controller's GET has, event for event.
    assert [{k: v for k, v in m.items() if k != "seq"} for m in got] == [
        e.model_dump() for e in stack.events(episode.id)
    ]


@pytest.mark.int_id("INT-028")
def test_int_028_two_subscribers_get_the_same_sequence(stack, session_id, service_ws):
    episode = stack.new_episode(session_id, "two readers")
    stack.write(session_id, "circuit.cir", RC_FILTER)
    first, second = (service_ws("controller", STREAM.format(episode.id)) for _ in range(2))
    assert stack.start_simulation(episode).status_code == 202
    a = first.receive_until(ENDED, timeout=120)
    b = second.receive_until(ENDED, timeout=120)
    assert [m["seq"] for m in a] == [m["seq"] for m in b] and a == b
    assert first.closed()[0] == second.closed()[0] == 1000
