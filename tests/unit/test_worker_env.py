"""Each xdist worker's variables for its own copies: rendered again from the copies' endpoints
(``plan.rebound_env``), and applied in the worker only (``plugin/worker_env.py``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness.plugin import worker_env
from harness.plugin.protocol import WORKER_ENV_VAR
from harness.suite.isolation import rebound_env

from .helpers import plan_of

STACK = """
[services.db]
kind = "postgres"
port = 25432
password = "pw"

[services.web]
command = "python -m http.server {port}"
port = 28000

[profiles.all]
services = ["db", "web"]

[env]
DATABASE_URL = "postgresql+psycopg://{db.user}@{db.host}:{db.port}/{db.database}"
PLAIN = "unchanged"

[suites.s]
profile = "all"
env = { ITEMS_DSN = "{db.dsn}", WEB = "{web.url}" }
"""


def test_a_copy_changes_its_exports_and_every_value_rendered_from_it(tmp_path: Path) -> None:
    (tmp_path / "stack.toml").write_text(STACK)
    plan = plan_of(tmp_path / "stack.toml")
    ep = plan.node("db").endpoint
    copy = dataclasses.replace(ep, database="app_iso_gw0", dsn="postgresql://app:pw@127.0.0.1:25432/app_iso_gw0")
    assert rebound_env(plan, "s", {"db": copy}) == {
        "DB_DB": "app_iso_gw0",
        "DB_DSN": "postgresql://app:pw@127.0.0.1:25432/app_iso_gw0",
        "DATABASE_URL": "postgresql+psycopg://app@127.0.0.1:25432/app_iso_gw0",
        "ITEMS_DSN": "postgresql://app:pw@127.0.0.1:25432/app_iso_gw0",
    }
    assert rebound_env(plan, "s", {}) == {}


def test_a_worker_applies_only_its_own_variables(tmp_path: Path) -> None:
    path = tmp_path / "worker-env.json"
    path.write_text(json.dumps({"gw0": {"DB_DSN": "zero"}, "gw1": {"DB_DSN": "one"}}))
    env = {WORKER_ENV_VAR: str(path), "PYTEST_XDIST_WORKER": "gw1", "DB_DSN": "shared"}
    assert worker_env.apply(env) == {"DB_DSN": "one"} and env["DB_DSN"] == "one"
    controller = {WORKER_ENV_VAR: str(path), "DB_DSN": "shared"}  # not a worker: the shared data
    assert worker_env.apply(controller) == {} and controller["DB_DSN"] == "shared"
    with pytest.raises(worker_env.WorkerEnvError, match="no copies for worker gw2 \\(made for gw0, gw1\\)"):
        worker_env.apply({WORKER_ENV_VAR: str(path), "PYTEST_XDIST_WORKER": "gw2"})
    with pytest.raises(worker_env.WorkerEnvError, match="cannot read the workers' copies"):
        worker_env.apply({WORKER_ENV_VAR: str(tmp_path / "gone.json"), "PYTEST_XDIST_WORKER": "gw0"})
