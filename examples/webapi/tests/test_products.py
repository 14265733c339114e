"""The shop API's tests: the seeded catalog, creating, reading, and the refusals."""

import json
import os
import urllib.error
import urllib.request
import uuid

API = os.environ["API_URL"]


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(API + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_seed_step_ran():
    status, products = call("GET", "/products")
    assert status == 200
    assert {"kettle", "teapot", "mug"} <= {p["name"] for p in products}


def test_create_then_read():
    name = f"spoon-{uuid.uuid4().hex[:6]}"
    status, created = call("POST", "/products", {"name": name, "price_cents": 250})
    assert status == 201
    assert call("GET", f"/products/{created['id']}") == (200, {"id": created["id"], "name": name, "price_cents": 250})


def test_a_duplicate_name_is_409():
    assert call("POST", "/products", {"name": "kettle", "price_cents": 1})[0] == 409


def test_a_negative_price_is_422():
    assert call("POST", "/products", {"name": "free lunch", "price_cents": -1})[0] == 422


def test_a_missing_product_is_404():
    assert call("GET", "/products/999999")[0] == 404
