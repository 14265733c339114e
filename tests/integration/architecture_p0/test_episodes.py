"""controller: the episode lifecycle through Temporal, events, artifacts, assets."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.integration.support import RC_FILTER

# One xdist worker runs them in turn (--dist loadgroup): worker_heavy runs one simulation at a time.
pytestmark = [pytest.mark.integration_p0, pytest.mark.xdist_group("worker_heavy")]


def completed_episode(stack, session_id):
    episode = stack.new_episode(session_id, "rc filter")
    stack.write(session_id, "circuit.cir", RC_FILTER)
    resp = stack.start_simulation(episode, objectives=[{"measure": "vout_max", "min": 0.9}])
    assert resp.status_code == 202, resp.text
    assert resp.json()["episode"]["status"] in ("queued", "running")
    return stack.wait_final(episode.id)


@pytest.mark.int_id("INT-021")
def test_int_021_lifecycle_through_temporal_with_timestamped_events(stack, session_id):
    final = completed_episode(stack, session_id)
    assert final.status == "completed", final.reason
    events = stack.events(final.id)
    transitions = [(e.data["from"], e.data["to"]) for e in events if e.kind == "status"]
    assert transitions == [(None, "created"), ("created", "queued"), ("queued", "running"), ("running", "completed")]
    kinds = [e.kind for e in events]
    for step in ("bundled", "validated", "simulated", "artifact"):
        assert step in kinds
    assert kinds.index("bundled") < kinds.index("validated") < kinds.index("simulated") < kinds.index("artifact")
    stamps = [dt.datetime.fromisoformat(e.created_at) for e in events]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    artifact_events = {e.data["kind"]: e.data for e in events if e.kind == "artifact"}
    assert set(artifact_events) == {"log", "raw", "waveform"}
    for data in artifact_events.values():
        assert data["bucket"] == "artifacts" and data["key"] and data["etag"]
    with stack.db() as conn:
        rows = conn.execute(
            "SELECT id, kind, data, created_at FROM episode_events WHERE episode_id = %s ORDER BY id", (final.id,)
        ).fetchall()
    # Every event the API returned is a row in Postgres, with the same id, kind, data and time.
    assert [(r[0], r[1], r[2]) for r in rows] == [(e.id, e.kind, e.data) for e in events]
    assert [r[3] for r in rows] == stamps
    assert [r[2]["to"] for r in rows if r[1] == "status"] == [t for _, t in transitions]


@pytest.mark.int_id("INT-022")
def test_int_022_waveform_served_through_assets_matches_s3(stack, session_id):
    final = completed_episode(stack, session_id)
    waveform = next(a for a in final.artifacts if a["kind"] == "waveform")
    url = f"/api/episodes/{final.id}/assets/{waveform['path']}"
    resp = stack.controller.get(url)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/png"
    obj = stack.s3().get_object(Bucket=waveform["bucket"], Key=waveform["key"])
    assert obj["Body"].read() == resp.content
    assert resp.headers["etag"].strip('"') == obj["ETag"].strip('"') == waveform["etag"]
    again = stack.controller.get(url, headers={"If-None-Match": resp.headers["etag"]})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == resp.headers["etag"]
    changed = stack.controller.get(url, headers={"If-None-Match": '"not-the-tag"'})
    assert changed.status_code == 200 and changed.content == resp.content
    netlist = stack.controller.get(f"/api/episodes/{final.id}/assets/circuit.cir")
    assert netlist.status_code == 200 and netlist.text == RC_FILTER
