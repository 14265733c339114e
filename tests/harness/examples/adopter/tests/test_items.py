"""The team's own API tests: plain pytest and urllib, nothing of the harness imported."""

import json
import os
import urllib.request

import pytest

API = os.environ["APP_URL"]


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(API + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


@pytest.mark.parametrize("n", range(19))
def test_item_round_trip(n):
    status, created = call("POST", "/items", {"name": f"item {n}"})
    assert status == 201
    assert call("GET", f"/items/{created['id']}") == (200, {"id": created["id"], "name": f"item {n}"})


@pytest.mark.allow_backend_errors(r"ERROR deliberate: the /boom endpoint always logs this")
def test_boom_logs_an_error_on_purpose():
    assert call("GET", "/boom") == (200, {"logged": True})
