"""API key enforcement, request validation and the OpenAPI contract."""

from __future__ import annotations

import re

import httpx
import pytest

pytestmark = pytest.mark.integration_p0

MUTATING = [
    ("post", "/episodes", {"name": "x"}),
    ("post", "/episodes/{id}/simulate", {"netlist_path": "c.cir"}),
    ("post", "/episodes/{id}/interrupt", None),
    ("post", "/episodes/{id}/files", {"path": "a.txt", "content": "x"}),
]


@pytest.mark.int_id("INT-023")
@pytest.mark.parametrize(("method", "path", "body"), MUTATING)
@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_int_023_mutating_endpoints_need_the_api_key(stack, session_id, method, path, body, key):
    episode = stack.new_episode(session_id)
    headers = {"X-API-Key": key} if key else {}
    if path == "/episodes":
        body = {**body, "session_id": session_id}
    # This test's own episodes only: tests on other pytest-xdist workers create theirs meanwhile.
    mine = "SELECT count(*) FROM episodes WHERE session_id = %s"
    with stack.db() as conn:
        before = conn.execute(mine, (session_id,)).fetchone()[0]
    resp = getattr(stack.controller, method)(path.format(id=episode.id), json=body, headers=headers)
    assert resp.status_code == 401, resp.text
    assert resp.json()["field"] == "X-API-Key"
    # Nothing changed: no episode created, no workflow started, no status moved, no file written.
    with stack.db() as conn:
        assert conn.execute(mine, (session_id,)).fetchone()[0] == before
        events = conn.execute("SELECT kind FROM episode_events WHERE episode_id = %s", (episode.id,)).fetchall()
    assert events == [("status",)], "only the creation's own status event"
    after = stack.episode(episode.id)
    assert after.status == "created" and after.workflow_id is None
    files = stack.light.get("/fs/list", headers={"X-Session-ID": session_id}).json()["files"]
    assert files == []
    assert stack.controller.get(f"/episodes/{episode.id}").status_code == 200  # reads need no key


@pytest.mark.int_id("INT-024")
@pytest.mark.parametrize(
    ("client", "path", "body", "field"),
    [
        ("controller", "/episodes", {"name": ""}, "name"),
        ("controller", "/episodes", {"name": "x", "session_id": "bad id!"}, "session_id"),
        ("controller", "/episodes/{id}/simulate", {"netlist_path": "c.cir", "timeout_s": -1}, "timeout_s"),
        ("controller", "/episodes/{id}/simulate", {"objectives": []}, "netlist_path"),
        ("worker_light", "/runtime/execute", {"code": "print(1)", "timeout_s": "soon"}, "timeout_s"),
        ("worker_light", "/fs/write", {"path": "a.txt"}, "content"),
        ("worker_heavy", "/benchmark/validate", {"netlist_path": "c.cir"}, "bundle_base64"),
        ("worker_heavy", "/benchmark/simulate", {"bundle_base64": "!!!", "netlist_path": "c.cir"}, "bundle_base64"),
    ],
)
def test_int_024_bad_requests_are_4xx_naming_the_field(stack, session_id, service_client, client, path, body, field):
    episode = stack.new_episode(session_id)
    headers = {**stack.key, "X-Session-ID": session_id}
    resp = service_client(client).post(path.format(id=episode.id), json=body, headers=headers)
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.json()["field"] == field, resp.json()


@pytest.mark.int_id("INT-025")
def test_int_025_openapi_is_valid_and_responses_match_it(stack, session_id):
    spec = stack.controller.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {
        "/episodes",
        "/episodes/{episode_id}",
        "/episodes/{episode_id}/events",
        "/episodes/{episode_id}/files",
        "/episodes/{episode_id}/simulate",
        "/episodes/{episode_id}/interrupt",
        "/api/episodes/{episode_id}/assets/{path}",
        "/health",
    }
    from jsonschema import Draft202012Validator
    from openapi_spec_validator import validate

    validate(spec)

    def check(response: httpx.Response, status: str = "200") -> None:
        """The response against the schema the spec gives for this operation and status."""
        route = next(p for p in spec["paths"] if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", p), response.url.path))
        operation = spec["paths"][route][response.request.method.lower()]
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        Draft202012Validator({**schema, "components": spec["components"]}).validate(response.json())

    created = stack.controller.post("/episodes", json={"name": "contract", "session_id": session_id}, headers=stack.key)
    check(created, "201")
    episode_id = created.json()["id"]
    assert created.json()["workflow_id"] is None and created.json()["reason"] is None, "nullable fields, checked too"
    check(stack.controller.get(f"/episodes/{episode_id}"))
    check(stack.controller.get(f"/episodes/{episode_id}/events"))
    check(stack.controller.get("/episodes", params={"limit": 5}))
    wrong = {**created.json(), "simulations": "many"}
    with pytest.raises(Exception, match="is not of type 'integer'"):
        schema = spec["paths"]["/episodes/{episode_id}"]["get"]["responses"]["200"]["content"]["application/json"]
        Draft202012Validator({**schema["schema"], "components": spec["components"]}).validate(wrong)
