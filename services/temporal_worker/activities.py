"""Activities of the simulation workflow: HTTP to the workers, rows in Postgres, objects in S3."""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from services.common import settings
from services.common.storage import artifacts_bucket, s3_client
from services.controller import db
from services.controller.models import Artifact

HTTP_TIMEOUT = httpx.Timeout(60.0, connect=5.0)


def _worker(name: str) -> str:
    return settings.need({"light": "WORKER_LIGHT_URL", "heavy": "WORKER_HEAVY_URL"}[name])


def _event(episode_id: str, kind: str, /, **data: Any) -> None:
    with db.session() as s:
        db.add_event(s, episode_id, kind, **data)


@activity.defn(name="set_running")
def set_running(episode_id: str) -> bool:
    with db.session() as s:
        episode = db.locked_episode(s, episode_id)
        if episode is None:
            raise ApplicationError(f"episode {episode_id} does not exist", non_retryable=True)
        return db.transition(s, episode, "running", only_from=("queued",), workflow_id=activity.info().workflow_id)


@activity.defn(name="bundle_workspace")
def bundle_workspace(req: dict[str, Any]) -> dict[str, Any]:
    """Fetch the workspace bundle from worker_light and park it in S3 (workflow payloads stay small)."""
    resp = httpx.post(
        f"{_worker('light')}/fs/bundle", headers={"X-Session-ID": req["session_id"]}, timeout=HTTP_TIMEOUT
    )
    if resp.status_code != 200:
        raise ApplicationError(f"worker_light /fs/bundle answered {resp.status_code}: {resp.text[:200]}")
    bucket = artifacts_bucket()
    key = f"bundles/{req['episode_id']}/{uuid.uuid4().hex[:8]}.tar.gz"
    etag = s3_client().put_object(Bucket=bucket, Key=key, Body=resp.content)["ETag"].strip('"')
    _event(req["episode_id"], "bundled", bucket=bucket, key=key, etag=etag, size=len(resp.content))
    return {"bundle_bucket": bucket, "bundle_key": key}


def _bundle_b64(req: dict[str, Any]) -> str:
    body = s3_client().get_object(Bucket=req["bundle_bucket"], Key=req["bundle_key"])["Body"].read()
    return base64.b64encode(body).decode()


@activity.defn(name="validate_netlist")
def validate_netlist(req: dict[str, Any]) -> dict[str, Any]:
    resp = httpx.post(
        f"{_worker('heavy')}/benchmark/validate",
        timeout=HTTP_TIMEOUT,
        json={"bundle_base64": _bundle_b64(req), "netlist_path": req["netlist_path"], "cost_cap": req.get("cost_cap")},
    )
    if resp.status_code == 404:
        checked = {"valid": False, "problems": [{"line": 0, "kind": "missing", "message": resp.json()["error"]}]}
    elif resp.status_code != 200:
        raise ApplicationError(f"worker_heavy /benchmark/validate answered {resp.status_code}: {resp.text[:200]}")
    else:
        checked = resp.json()
    _event(
        req["episode_id"],
        "validated",
        valid=checked["valid"],
        problems=checked["problems"],
        total_cost=checked.get("total_cost"),
    )
    return checked


@activity.defn(name="run_simulation")
async def run_simulation(req: dict[str, Any]) -> dict[str, Any]:
    """Ask worker_heavy to simulate, heartbeating so an interrupt reaches us; on cancel, cancel there."""
    sim_id = f"sim-{uuid.uuid4().hex[:12]}"
    body = {
        "bundle_base64": await asyncio.to_thread(_bundle_b64, req),
        "netlist_path": req["netlist_path"],
        "objectives": req.get("objectives") or [],
        "timeout_s": req.get("timeout_s", 30),
        "cost_cap": req.get("cost_cap"),
        "session_id": req["session_id"],
        "simulation_id": sim_id,
    }
    heavy = _worker("heavy")
    async with httpx.AsyncClient(timeout=httpx.Timeout(float(body["timeout_s"]) + 90, connect=5.0)) as client:
        pause = 0.2
        while True:  # worker_heavy runs one simulation at a time: wait our turn, heartbeating
            task = asyncio.ensure_future(client.post(f"{heavy}/benchmark/simulate", json=body))
            try:
                while not task.done():
                    activity.heartbeat()
                    await asyncio.wait({task}, timeout=1.0)
            except asyncio.CancelledError:
                await client.post(f"{heavy}/benchmark/cancel/{sim_id}")
                task.cancel()
                raise
            resp = task.result()
            if resp.status_code != 409:
                break
            activity.heartbeat()
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, 2.0)
    if resp.status_code != 200:
        raise ApplicationError(
            f"worker_heavy /benchmark/simulate answered {resp.status_code}: {resp.text[:300]}",
            type="SimulationFailed",
            non_retryable=True,
        )
    result: dict[str, Any] = resp.json()
    await asyncio.to_thread(
        _event,
        req["episode_id"],
        "simulated",
        simulation_id=result["simulation_id"],
        outcome=result["outcome"],
        reason=result.get("reason"),
        measurements=result.get("measurements"),
        objectives=result.get("objectives"),
    )
    return result


@activity.defn(name="record_artifacts")
def record_artifacts(req: dict[str, Any]) -> int:
    """An event and a row per artifact; the waveform is also copied into the workspace for the UI."""
    result = req["result"]
    count = 0
    for kind, art in result.get("artifacts", {}).items():
        path = None
        if kind == "waveform":
            data = s3_client().get_object(Bucket=art["bucket"], Key=art["key"])["Body"].read()
            path = f"artifacts/{result['simulation_id']}/waveform.png"
            resp = httpx.post(
                f"{_worker('light')}/fs/write",
                headers={"X-Session-ID": req["session_id"]},
                json={"path": path, "content": base64.b64encode(data).decode(), "encoding": "base64"},
                timeout=HTTP_TIMEOUT,
            )
            if resp.status_code != 200:
                raise ApplicationError(f"worker_light /fs/write answered {resp.status_code}: {resp.text[:200]}")
        with db.session() as s:
            s.add(
                Artifact(
                    episode_id=req["episode_id"],
                    kind=kind,
                    bucket=art["bucket"],
                    key=art["key"],
                    etag=art["etag"],
                    path=path,
                )
            )
            db.add_event(
                s,
                req["episode_id"],
                "artifact",
                kind=kind,
                bucket=art["bucket"],
                key=art["key"],
                etag=art["etag"],
                path=path,
            )
        count += 1
    return count


@activity.defn(name="finish")
def finish(req: dict[str, Any]) -> bool:
    extra = {"outcome": req["outcome"]} if req.get("outcome") else {}
    return db.finish(req["episode_id"], req["status"], req.get("reason"), **extra)


ALL = [set_running, bundle_workspace, validate_netlist, run_simulation, record_artifacts, finish]
