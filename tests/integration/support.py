"""Helpers the integration tests share: polling with a deadline, netlists, response models.

Responses are parsed into the pydantic models below (defined for the tests, not imported from
the services), then asserted on.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


def poll(
    fetch: Callable[[], T],
    until: Callable[[T], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    max_interval: float = 1.0,
) -> T:
    """Call ``fetch`` until ``until(value)``; fail after ``timeout`` with the last value seen."""
    deadline = time.monotonic() + timeout
    value = fetch()
    while not until(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last value: {value!r}")
        time.sleep(interval)
        interval = min(interval * 1.5, max_interval)
        value = fetch()
    return value


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Episode(Model):
    id: str
    name: str
    session_id: str
    status: str
    reason: str | None
    workflow_id: str | None
    simulations: int
    created_at: str
    artifacts: list[dict[str, Any]] = []


class Event(Model):
    id: int
    episode_id: str
    kind: str
    data: dict[str, Any]
    created_at: str


class Problem(Model):
    line: int
    kind: str
    message: str


class Validation(Model):
    valid: bool
    problems: list[Problem]
    bom: list[dict[str, Any]]
    total_cost: float
    measures: list[str]


class S3Ref(Model):
    bucket: str
    key: str
    etag: str


class Simulation(Model):
    simulation_id: str
    outcome: str
    reason: str = ""
    measurements: dict[str, float] = {}
    objectives: list[dict[str, Any]] = []
    artifacts: dict[str, S3Ref] = {}
    duration_s: float = 0.0


class Execution(Model):
    exit_code: int | None
    timed_out: bool
    stdout: str
    stderr: str
    duration_s: float


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


NETLISTS = Path(__file__).resolve().parents[2] / "examples" / "netlists"
RC_FILTER = (NETLISTS / "rc_filter.cir").read_text()
# Conflicting ideal sources on one node: the solver gives up ("timestep too small").
NON_CONVERGENT = (NETLISTS / "non_convergent.cir").read_text()
# A transient with picosecond steps over seconds: far beyond any test's time limit.
ENDLESS = (NETLISTS / "endless.cir").read_text()
BAD_SYNTAX = (NETLISTS / "bad_syntax.cir").read_text()
UNDEFINED_MODEL = (NETLISTS / "undefined_model.cir").read_text()


class Stack:
    """The running stack as the tests see it: clients per service and a few conveniences."""

    def __init__(self, client: Callable[..., httpx.Client], env: dict[str, str]) -> None:
        self.controller = client("controller")
        self.light = client("worker_light")
        self.heavy = client("worker_heavy", timeout=120.0)
        self.temporal_worker = client("temporal_worker")
        self.env = env
        self.key = {"X-API-Key": env["CONTROLLER_API_KEY"]}

    def write(self, session: str, path: str, content: str | bytes) -> dict[str, Any]:
        body = (
            {"path": path, "content": content}
            if isinstance(content, str)
            else {"path": path, "content": b64(content), "encoding": "base64"}
        )
        resp = self.light.post("/fs/write", json=body, headers={"X-Session-ID": session})
        assert resp.status_code == 200, resp.text
        written: dict[str, Any] = resp.json()
        return written

    def bundle(self, session: str) -> bytes:
        resp = self.light.post("/fs/bundle", headers={"X-Session-ID": session})
        assert resp.status_code == 200, resp.text
        return resp.content

    def bundle_with(self, session: str, netlist: str, path: str = "circuit.cir") -> str:
        self.write(session, path, netlist)
        return b64(self.bundle(session))

    def validate(self, session: str, netlist: str, **extra: Any) -> Validation:
        resp = self.heavy.post(
            "/benchmark/validate",
            json={"bundle_base64": self.bundle_with(session, netlist), "netlist_path": "circuit.cir", **extra},
        )
        assert resp.status_code == 200, resp.text
        return Validation.model_validate(resp.json())

    def simulate(self, session: str, netlist: str, **extra: Any) -> Simulation:
        body = {
            "bundle_base64": self.bundle_with(session, netlist),
            "netlist_path": "circuit.cir",
            "session_id": session,
            **extra,
        }
        resp = poll(
            lambda: self.heavy.post("/benchmark/simulate", json=body),
            lambda r: r.status_code != 409,
            timeout=120,
            what="worker_heavy to be free",
            max_interval=0.2,  # it runs one simulation at a time: take the turn as soon as it is free
        )
        assert resp.status_code == 200, resp.text
        return Simulation.model_validate(resp.json())

    def new_episode(self, session: str, name: str = "test episode") -> Episode:
        resp = self.controller.post("/episodes", json={"name": name, "session_id": session}, headers=self.key)
        assert resp.status_code == 201, resp.text
        return Episode.model_validate(resp.json())

    def episode(self, episode_id: str) -> Episode:
        resp = self.controller.get(f"/episodes/{episode_id}")
        assert resp.status_code == 200, resp.text
        return Episode.model_validate(resp.json())

    def events(self, episode_id: str, after: int = 0) -> list[Event]:
        resp = self.controller.get(f"/episodes/{episode_id}/events", params={"after": after})
        assert resp.status_code == 200, resp.text
        return [Event.model_validate(e) for e in resp.json()["events"]]

    def start_simulation(self, episode: Episode, path: str = "circuit.cir", **extra: Any) -> httpx.Response:
        return self.controller.post(
            f"/episodes/{episode.id}/simulate", json={"netlist_path": path, **extra}, headers=self.key
        )

    def wait_final(self, episode_id: str, timeout: float = 120) -> Episode:
        return poll(
            lambda: self.episode(episode_id),
            lambda e: e.status in ("completed", "failed", "interrupted"),
            timeout=timeout,
            what=f"episode {episode_id} to end",
            max_interval=0.25,  # an episode ends within a second or two: notice it soon after
        )

    def wait_controller_healthy(self, what: str, timeout: float = 60) -> None:
        """After a service came back: poll until the controller's /health says 200 again."""
        poll(
            lambda: self.controller.get("/health").status_code,
            lambda c: c == 200,
            timeout=timeout,
            what=what,
        )

    def s3(self) -> Any:
        from harness.kinds.s3 import s3_client

        env = self.env
        return s3_client(env["S3_ENDPOINT"], env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"], env["S3_REGION"], 30)

    def db(self) -> Any:
        import psycopg

        return psycopg.connect(self.env["POSTGRES_DSN"])
