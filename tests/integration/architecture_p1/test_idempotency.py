"""Repeating a command with its Idempotency-Key does not repeat its effect (rows and objects counted)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.support import RC_FILTER, poll

pytestmark = pytest.mark.integration_p1


def key() -> str:
    return f"test-{uuid.uuid4().hex}"


def episode_rows(stack, session: str) -> int:
    with stack.db() as conn:
        return conn.execute("SELECT count(*) FROM episodes WHERE session_id = %s", (session,)).fetchone()[0]


def workflows(stack, episode_id: str) -> tuple[int, int, int]:
    """(simulations started, `queued` status events, artifact rows) of an episode, from Postgres."""
    with stack.db() as conn:
        started = conn.execute("SELECT simulations FROM episodes WHERE id = %s", (episode_id,)).fetchone()[0]
        queued = conn.execute(
            "SELECT count(*) FROM episode_events WHERE episode_id = %s AND kind = 'status' AND data->>'to' = 'queued'",
            (episode_id,),
        ).fetchone()[0]
        artifacts = conn.execute(
            "SELECT count(*) FROM episode_artifacts WHERE episode_id = %s", (episode_id,)
        ).fetchone()[0]
    return started, queued, artifacts


def s3_objects(stack, session: str) -> list[str]:
    listed = stack.s3().list_objects_v2(Bucket=stack.env["ARTIFACTS_BUCKET"], Prefix=f"simulations/{session}/")
    return sorted(o["Key"] for o in listed.get("Contents", []))


@pytest.mark.int_id("INT-120")
def test_int_120_a_repeated_create_returns_the_first_episode(stack, session_id):
    headers = {**stack.key, "Idempotency-Key": key()}
    body = {"name": "once", "session_id": session_id}
    first = stack.controller.post("/episodes", json=body, headers=headers)
    again = stack.controller.post("/episodes", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json() and again.headers.get("idempotent-replayed") == "true"
    assert episode_rows(stack, session_id) == 1
    other = stack.controller.post("/episodes", json={**body, "name": "another"}, headers=headers)
    assert other.status_code == 409 and other.json()["field"] == "Idempotency-Key"
    assert headers["Idempotency-Key"] in other.json()["error"]
    assert episode_rows(stack, session_id) == 1


@pytest.mark.int_id("INT-121")
def test_int_121_a_repeated_simulate_starts_nothing_new(stack, session_id):
    episode = stack.new_episode(session_id)
    stack.write(session_id, "circuit.cir", RC_FILTER)
    headers = {**stack.key, "Idempotency-Key": key()}
    body = {"netlist_path": "circuit.cir"}
    url = f"/episodes/{episode.id}/simulate"
    first = stack.controller.post(url, json=body, headers=headers)
    assert first.status_code == 202, first.text
    while_running = stack.controller.post(url, json=body, headers=headers)
    assert while_running.status_code == 202 and while_running.json() == first.json()
    assert stack.wait_final(episode.id).status == "completed"
    after = stack.controller.post(url, json=body, headers=headers)
    assert after.status_code == 202 and after.json()["workflow_id"] == first.json()["workflow_id"]
    assert stack.episode(episode.id).status == "completed", "nothing started again"
    assert workflows(stack, episode.id) == (1, 1, 3)
    objects = s3_objects(stack, session_id)
    assert len(objects) == 3 and len({o.split("/")[2] for o in objects}) == 1, objects  # one simulation's


@pytest.mark.int_id("INT-122")
def test_int_122_ten_concurrent_repeats_have_one_effect(stack, session_id):
    headers = {**stack.key, "Idempotency-Key": key()}
    body = {"name": "concurrent", "session_id": session_id}
    with ThreadPoolExecutor(max_workers=10) as pool:
        creates = list(pool.map(lambda _: stack.controller.post("/episodes", json=body, headers=headers), range(10)))
    assert [r.status_code for r in creates] == [201] * 10, [r.text for r in creates]
    assert len({r.json()["id"] for r in creates}) == 1
    assert episode_rows(stack, session_id) == 1

    episode_id = creates[0].json()["id"]
    stack.write(session_id, "circuit.cir", RC_FILTER)
    sim_headers = {**stack.key, "Idempotency-Key": key()}
    url = f"/episodes/{episode_id}/simulate"
    with ThreadPoolExecutor(max_workers=10) as pool:
        sims = list(
            pool.map(
                lambda _: stack.controller.post(url, json={"netlist_path": "circuit.cir"}, headers=sim_headers),
                range(10),
            )
        )
    assert [r.status_code for r in sims] == [202] * 10, [r.text for r in sims]
    assert len({r.json()["workflow_id"] for r in sims}) == 1
    assert stack.wait_final(episode_id).status == "completed"
    poll(lambda: workflows(stack, episode_id), lambda w: w[2] == 3, timeout=30, what="the artifact rows")
    assert workflows(stack, episode_id) == (1, 1, 3)
    assert len(s3_objects(stack, session_id)) == 3
