"""The orders API's tests: an order is charged by the payments container and stored in MariaDB."""

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


def test_an_order_is_charged_by_the_payments_container():
    item = f"teapot-{uuid.uuid4().hex[:6]}"
    status, order = call("POST", "/orders", {"item": item, "qty": 2})
    assert status == 201, order
    assert order["payment"] == f"payments /charge/{item}", "the receipt came from the container"


def test_orders_are_kept_in_mariadb():
    item = f"mug-{uuid.uuid4().hex[:6]}"
    assert call("POST", "/orders", {"item": item, "qty": 1})[0] == 201
    status, orders = call("GET", "/orders")
    assert status == 200
    assert [o["qty"] for o in orders if o["item"] == item] == [1]


def test_a_bad_order_is_refused_and_nothing_is_stored():
    status, answer = call("POST", "/orders", {"item": "", "qty": 0})
    assert status == 422 and "item" in answer["error"]
    assert all(o["item"] for o in call("GET", "/orders")[1])


def test_the_payments_service_is_reachable_from_the_test_too():
    with urllib.request.urlopen(os.environ["PAYMENTS_URL"] + "/healthz", timeout=5) as resp:
        assert resp.status == 200
