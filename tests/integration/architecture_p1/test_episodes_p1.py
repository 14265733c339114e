"""controller: interrupts, failures, cursors, filters and the error answers of the episode API."""

from __future__ import annotations

import pytest

from tests.integration.support import ENDLESS, RC_FILTER, poll

pytestmark = pytest.mark.integration_p1


def start(stack, session_id, netlist=RC_FILTER, **extra):
    episode = stack.new_episode(session_id)
    stack.write(session_id, "circuit.cir", netlist)
    resp = stack.start_simulation(episode, **extra)
    assert resp.status_code == 202, resp.text
    return episode


@pytest.mark.int_id("INT-103")
def test_int_103_interrupt_a_running_simulation(stack, session_id):
    episode = start(stack, session_id, ENDLESS, timeout_s=60)
    poll(
        lambda: [e.kind for e in stack.events(episode.id)],
        lambda kinds: "validated" in kinds,
        timeout=60,
        what="the simulation to start",
    )
    resp = stack.controller.post(f"/episodes/{episode.id}/interrupt", headers=stack.key)
    assert resp.status_code == 200, resp.text
    assert resp.json()["episode"]["status"] == "interrupted"
    final = stack.wait_final(episode.id)
    assert final.status == "interrupted"
    # The workflow's late result must not overwrite the interrupt, and worker_heavy is freed.
    poll(
        lambda: stack.heavy.get("/ready").json(),
        lambda r: not r["busy"],
        timeout=30,
        what="worker_heavy to drop the cancelled simulation",
    )
    assert stack.episode(episode.id).status == "interrupted"
    assert [e.data["to"] for e in stack.events(episode.id) if e.kind == "status"][-1] == "interrupted"


@pytest.mark.int_id("INT-104")
def test_int_104_unknown_part_fails_the_episode_naming_it(stack, session_id):
    episode = start(stack, session_id, RC_FILTER.replace("R-0603-1k", "R-0603-ZZZ"))
    final = stack.wait_final(episode.id)
    assert final.status == "failed"
    assert "R-0603-ZZZ" in final.reason and "line 4" in final.reason
    assert "simulated" not in [e.kind for e in stack.events(episode.id)]


@pytest.mark.int_id("INT-105")
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("%2e%2e/%2e%2e/etc/passwd", 403),
        ("a/%2e%2e/%2e%2e/x", 403),
        ("missing.png", 404),
        ("..%2f..%2fetc%2fhostname", 403),
    ],
)
def test_int_105_assets_refuse_escapes_and_missing_files(stack, session_id, path, status):
    # Dot segments are percent-encoded: an HTTP client would otherwise normalise them away
    # before the request is sent, and the escape would never reach the server.
    episode = stack.new_episode(session_id)
    resp = stack.controller.get(f"/api/episodes/{episode.id}/assets/{path}")
    assert resp.status_code == status, resp.text


@pytest.mark.int_id("INT-106")
@pytest.mark.parametrize(
    ("name", "content", "mime"),
    [
        ("data.json", '{"a": 1}', "application/json"),
        ("notes.txt", "hi", "text/plain; charset=utf-8"),
        ("page.html", "<p>x</p>", "text/html; charset=utf-8"),
        ("circuit.cir", "t\n.op\n", "application/octet-stream"),
    ],
)
def test_int_106_assets_have_the_right_mime_type(stack, session_id, name, content, mime):
    episode = stack.new_episode(session_id)
    resp = stack.controller.post(
        f"/episodes/{episode.id}/files", json={"path": name, "content": content}, headers=stack.key
    )
    assert resp.status_code == 200, resp.text
    asset = stack.controller.get(f"/api/episodes/{episode.id}/assets/{name}")
    assert asset.status_code == 200 and asset.headers["content-type"] == mime and asset.text == content


@pytest.mark.int_id("INT-107")
def test_int_107_events_cursor_returns_only_newer_events(stack, session_id):
    episode = start(stack, session_id)
    stack.wait_final(episode.id)
    events = stack.events(episode.id)
    middle = events[len(events) // 2].id
    later = stack.events(episode.id, after=middle)
    assert [e.id for e in later] == [e.id for e in events if e.id > middle]
    assert stack.events(episode.id, after=events[-1].id) == []


@pytest.mark.int_id("INT-108")
def test_int_108_list_filters_by_status(stack, session_id):
    created = stack.new_episode(session_id, "stays created")
    listed = stack.controller.get("/episodes", params={"status": "created", "limit": 500}).json()["episodes"]
    assert created.id in {e["id"] for e in listed} and {e["status"] for e in listed} == {"created"}
    completed = stack.controller.get("/episodes", params={"status": "completed", "limit": 500}).json()["episodes"]
    assert created.id not in {e["id"] for e in completed}


@pytest.mark.int_id("INT-109")
def test_int_109_second_simulate_while_active_is_409(stack, session_id):
    episode = start(stack, session_id, ENDLESS, timeout_s=20)
    again = stack.start_simulation(episode)
    assert again.status_code == 409
    running = stack.episode(episode.id).workflow_id
    assert running and running.startswith(f"episode-{episode.id}-"), running
    assert again.json()["workflow_id"] == running
    stack.controller.post(f"/episodes/{episode.id}/interrupt", headers=stack.key)
    assert stack.wait_final(episode.id).status == "interrupted"


@pytest.mark.int_id("INT-110")
def test_int_110_interrupt_of_an_idle_episode_is_409(stack, session_id):
    episode = stack.new_episode(session_id)
    resp = stack.controller.post(f"/episodes/{episode.id}/interrupt", headers=stack.key)
    assert resp.status_code == 409 and "created" in resp.json()["error"]


@pytest.mark.int_id("INT-111")
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/episodes/{id}"),
        ("get", "/episodes/{id}/events"),
        ("post", "/episodes/{id}/simulate"),
        ("post", "/episodes/{id}/interrupt"),
        ("post", "/episodes/{id}/files"),
        ("get", "/api/episodes/{id}/assets/x.png"),
    ],
)
def test_int_111_unknown_episode_is_404(stack, method, path):
    kwargs = {"headers": stack.key}
    if path.endswith("simulate"):
        kwargs["json"] = {"netlist_path": "c.cir"}
    if path.endswith("files"):
        kwargs["json"] = {"path": "a.txt", "content": "x"}
    resp = getattr(stack.controller, method)(path.format(id="f" * 32), **kwargs)
    assert resp.status_code == 404 and resp.json()["field"] == "episode_id"
