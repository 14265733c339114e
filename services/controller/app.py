"""controller: episodes, their events and artifacts; simulations as Temporal workflows.

Mutating endpoints need ``X-API-Key`` (``CONTROLLER_API_KEY``). Assets are served through
worker_light, which enforces the workspace path rules.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
from fastapi import Depends, FastAPI, Header, Query, WebSocket, WebSocketDisconnect
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select, text

from services.common import settings, web
from services.common.web import Rejected
from services.controller import db, idempotency
from services.controller.models import ACTIVE, FINAL, Artifact, Episode, Event

SESSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$"

app = FastAPI(
    title="controller", version="1.0", description="Episodes of circuit simulations, run as Temporal workflows."
)
web.install(app, "controller")
app.add_middleware(
    CORSMiddleware,
    allow_origins=[o for o in settings.get("CONTROLLER_CORS_ORIGINS", "").split(",") if o],
    allow_methods=["*"],
    allow_headers=["*"],
)


def require_key(x_api_key: str | None = Header(None)) -> None:
    expected = settings.need("CONTROLLER_API_KEY")
    if not x_api_key:
        raise Rejected(401, "the X-API-Key header is required", "X-API-Key")
    if not hmac.compare_digest(x_api_key.encode(), expected.encode()):
        raise Rejected(401, "the X-API-Key header is wrong", "X-API-Key")


# -- models of the API ---------------------------------------------------------------------------
class EpisodeCreate(BaseModel):
    name: str = Field("episode", min_length=1, max_length=200, pattern=web.NO_NUL)
    session_id: str | None = Field(None, pattern=SESSION_PATTERN)


class Objective(BaseModel):
    measure: str = Field(min_length=1, max_length=64, pattern=web.NO_NUL)
    min: float | None = None
    max: float | None = None


class SimulateBody(BaseModel):
    netlist_path: str = Field(min_length=1, max_length=512, pattern=web.NO_NUL)
    objectives: list[Objective] = []
    cost_cap: float | None = Field(None, ge=0)
    timeout_s: float = Field(30.0, gt=0, le=600)


class FileBody(BaseModel):
    path: str = Field(min_length=1, max_length=512, pattern=web.NO_NUL)
    content: str = Field(max_length=5_000_000, pattern=web.NO_NUL)


class ArtifactOut(BaseModel):
    kind: str
    bucket: str
    key: str
    etag: str
    path: str | None


class EpisodeOut(BaseModel):
    id: str
    name: str
    session_id: str
    status: str
    reason: str | None
    workflow_id: str | None
    netlist_path: str | None
    simulations: int
    created_at: str
    updated_at: str
    artifacts: list[ArtifactOut] = []


class EventOut(BaseModel):
    id: int
    episode_id: str
    kind: str
    data: dict[str, Any]
    created_at: str


class EpisodeList(BaseModel):
    episodes: list[EpisodeOut]


class EventList(BaseModel):
    events: list[EventOut]


def episode_out(e: Episode, artifacts: list[Artifact] | None = None) -> dict[str, Any]:
    return EpisodeOut(
        id=e.id,
        name=e.name,
        session_id=e.session_id,
        status=e.status,
        reason=e.reason,
        workflow_id=e.workflow_id,
        netlist_path=e.netlist_path,
        simulations=e.simulations,
        created_at=e.created_at.isoformat(),
        updated_at=e.updated_at.isoformat(),
        artifacts=[
            {"kind": a.kind, "bucket": a.bucket, "key": a.key, "etag": a.etag, "path": a.path} for a in artifacts or []
        ],
    ).model_dump()


def event_out(ev: Event) -> dict[str, Any]:
    return EventOut(
        id=ev.id, episode_id=ev.episode_id, kind=ev.kind, data=ev.data, created_at=ev.created_at.isoformat()
    ).model_dump()


def get_episode(s: Any, episode_id: str, lock: bool = False) -> Episode:
    episode = db.locked_episode(s, episode_id) if lock else s.get(Episode, episode_id)
    if episode is None:
        raise Rejected(404, f"no episode {episode_id!r}", "episode_id")
    return episode


# -- Temporal -----------------------------------------------------------------------------------
async def _temporal_client() -> Any:
    from temporalio.client import Client

    address = settings.need("TEMPORAL_ADDRESS")
    try:
        return await asyncio.wait_for(
            Client.connect(address, namespace=settings.get("TEMPORAL_NAMESPACE", "default")), 5
        )
    except Exception as exc:
        raise RuntimeError(
            f"Temporal unavailable at {address}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from exc


async def _start(workflow_id: str, request: dict[str, Any]) -> None:
    from services.temporal_worker.workflows import WORKFLOW_NAME

    client = await _temporal_client()
    await client.start_workflow(
        WORKFLOW_NAME,
        request,
        id=workflow_id,
        task_queue=settings.get("TEMPORAL_TASK_QUEUE", "episodes"),
        execution_timeout=timedelta(minutes=30),
    )


async def _cancel(workflow_id: str) -> None:
    client = await _temporal_client()
    await client.get_workflow_handle(workflow_id).cancel()


# -- endpoints ----------------------------------------------------------------------------------
@app.get("/health")
def health() -> JSONResponse:
    def database() -> str | None:
        with db.session() as s:
            s.execute(text("SELECT 1"))
        return None

    def temporal() -> str | None:
        async def check() -> bool:
            return bool(await asyncio.wait_for((await _temporal_client()).service_client.check_health(), 5))

        return None if asyncio.run(check()) else "not serving"

    def worker(name: str) -> Any:
        def check() -> str | None:
            resp = httpx.get(f"{settings.need(name)}/health", timeout=5)
            return None if resp.status_code == 200 else f"HTTP {resp.status_code}"

        return check

    return web.health(
        {
            "postgres": database,
            "temporal": temporal,
            "worker_light": worker("WORKER_LIGHT_URL"),
            "worker_heavy": worker("WORKER_HEAVY_URL"),
        },
        service="controller",
    )


@app.post("/episodes", status_code=201, response_model=EpisodeOut, dependencies=[Depends(require_key)])
def create_episode(body: EpisodeCreate, idempotency_key: str | None = Header(None)) -> Any:
    """Create an episode; with an ``Idempotency-Key``, a repeat returns the first episode."""
    return idempotency.once(idempotency_key, "POST /episodes", body.model_dump(), lambda: (201, _create(body)))


def _create(body: EpisodeCreate) -> dict[str, Any]:
    episode_id = uuid.uuid4().hex
    with db.session() as s:
        episode = Episode(
            id=episode_id,
            name=body.name,
            session_id=body.session_id or f"ep-{episode_id[:12]}",
            status="created",
            simulations=0,
        )
        s.add(episode)
        s.flush()
        db.add_event(s, episode_id, "status", **{"from": None, "to": "created", "reason": None})
        s.flush()
        s.refresh(episode)
        return episode_out(episode)


@app.get("/episodes", response_model=EpisodeList)
def list_episodes(
    status: str | None = Query(None, max_length=16), limit: int = Query(50, ge=1, le=500)
) -> dict[str, Any]:
    with db.session() as s:
        query = select(Episode).order_by(Episode.created_at.desc()).limit(limit)
        if status:
            query = query.where(Episode.status == status)
        return {"episodes": [episode_out(e) for e in s.execute(query).scalars()]}


@app.get("/episodes/{episode_id}", response_model=EpisodeOut)
def read_episode(episode_id: str) -> dict[str, Any]:
    with db.session() as s:
        episode = get_episode(s, episode_id)
        artifacts = list(
            s.execute(select(Artifact).where(Artifact.episode_id == episode_id).order_by(Artifact.id)).scalars()
        )
        return episode_out(episode, artifacts)


@app.get("/episodes/{episode_id}/events", response_model=EventList)
def read_events(episode_id: str, after: int = Query(0, ge=0)) -> dict[str, Any]:
    with db.session() as s:
        get_episode(s, episode_id)
        events = s.execute(
            select(Event).where(Event.episode_id == episode_id, Event.id > after).order_by(Event.id)
        ).scalars()
        return {"events": [event_out(ev) for ev in events]}


# -- the live event stream --------------------------------------------------------------------------
STREAM_POLL_S = 0.1  # how often a stream looks for new events: the latency it adds at most
STREAM_BATCH = 200  # events read (and held) per look: what one slow reader can make the controller hold
CLOSE_ENDED, CLOSE_BAD_REQUEST, CLOSE_NOT_FOUND = 1000, 4400, 4404


def _status_and_events(episode_id: str, after: int) -> tuple[str | None, list[dict[str, Any]]]:
    """The episode's status, then its events after ``after`` (status first: an episode that ended
    wrote its last event with its final status, in the same transaction, so the read after sees it)."""
    with db.session() as s:
        episode = s.get(Episode, episode_id)
        if episode is None:
            return None, []
        status = episode.status
        query = select(Event).where(Event.episode_id == episode_id, Event.id > after).order_by(Event.id)
        return status, [event_out(ev) for ev in s.execute(query.limit(STREAM_BATCH)).scalars()]


@app.websocket("/episodes/{episode_id}/events/stream")
async def stream_events(ws: WebSocket, episode_id: str) -> None:
    """The episode's events as they are written, in order, each with its sequence number (``seq``,
    the event's id), as ``GET /episodes/{id}/events`` has them. ``?after=<seq>`` resumes after an
    event already received: nothing lost, nothing twice. The stream closes (1000, "episode
    <status>") once the episode has ended and every event up to its end was sent; a bad id closes
    with 4404, a bad ``after`` with 4400, each with a reason naming it. Events are read from the
    database at each reader's own pace: a slow reader holds one batch and delays only itself, and
    nothing is dropped (it gets every event, late)."""
    await ws.accept()  # before refusing: a refused handshake carries no close code or reason
    raw = ws.query_params.get("after", "0")
    if not raw.isdigit() or len(raw) > 18:
        await ws.close(CLOSE_BAD_REQUEST, f"after must be an event's sequence number (0 or more), not {raw[:40]!r}")
        return
    after = int(raw)
    status, events = await asyncio.to_thread(_status_and_events, episode_id, after)
    if status is None:
        await ws.close(CLOSE_NOT_FOUND, f"no episode {episode_id[:80]!r}")
        return
    gone = asyncio.ensure_future(ws.receive())  # the reader's only message is its going away
    try:
        while True:
            for event in events:
                await ws.send_json({"seq": event["id"], **event})
                after = event["id"]
            if status in FINAL and len(events) < STREAM_BATCH:
                await ws.close(CLOSE_ENDED, f"episode {status}")
                return
            done, _ = await asyncio.wait({gone}, timeout=0 if events else STREAM_POLL_S)
            if done:
                return  # the reader left (a disconnect, or anything it sent: this stream only talks)
            status, events = await asyncio.to_thread(_status_and_events, episode_id, after)
    except WebSocketDisconnect:
        return  # it left while an event was being sent: it resumes with ?after=<the last it got>
    finally:
        gone.cancel()


@app.post("/episodes/{episode_id}/files", dependencies=[Depends(require_key)])
def write_file(episode_id: str, body: FileBody) -> dict[str, Any]:
    """Write a file into the episode's workspace (through worker_light, with its path rules)."""
    with db.session() as s:
        session_id = get_episode(s, episode_id).session_id
    resp = httpx.post(
        f"{settings.need('WORKER_LIGHT_URL')}/fs/write",
        json=body.model_dump(),
        headers={"X-Session-ID": session_id},
        timeout=30,
    )
    if resp.status_code != 200:
        raise Rejected(resp.status_code if resp.status_code < 500 else 502, resp.json().get("error", resp.text), "path")
    with db.session() as s:
        db.add_event(s, episode_id, "file", path=body.path, size=len(body.content.encode()))
    return dict(resp.json())


@app.post("/episodes/{episode_id}/simulate", status_code=202, dependencies=[Depends(require_key)])
def simulate(episode_id: str, body: SimulateBody, idempotency_key: str | None = Header(None)) -> Any:
    """Start a simulation workflow; with an ``Idempotency-Key``, a repeat returns the first answer
    (while it runs and after it completed) and starts nothing."""
    scope = f"POST /episodes/{episode_id}/simulate"
    return idempotency.once(idempotency_key, scope, body.model_dump(), lambda: _simulate(episode_id, body))


def _simulate(episode_id: str, body: SimulateBody) -> tuple[int, Any]:
    with db.session() as s:
        episode = get_episode(s, episode_id, lock=True)
        if episode.status in ACTIVE:
            raise Rejected(409, f"episode is already {episode.status}", workflow_id=episode.workflow_id)
        episode.simulations += 1
        workflow_id = f"episode-{episode_id}-{episode.simulations}"
        episode.workflow_id, episode.netlist_path, episode.reason = workflow_id, body.netlist_path, None
        db.transition(s, episode, "queued", workflow_id=workflow_id, netlist_path=body.netlist_path)
        session_id = episode.session_id
    request = {"episode_id": episode_id, "session_id": session_id, **body.model_dump()}
    try:
        asyncio.run(_start(workflow_id, request))
    except RuntimeError as exc:
        db.finish(episode_id, "failed", str(exc))
        with db.session() as s:
            out = episode_out(get_episode(s, episode_id))
        return 503, {"error": str(exc), "episode": out}
    with db.session() as s:
        return 202, {"episode": episode_out(get_episode(s, episode_id)), "workflow_id": workflow_id}


@app.post("/episodes/{episode_id}/interrupt", dependencies=[Depends(require_key)])
def interrupt(episode_id: str) -> Any:
    with db.session() as s:
        episode = get_episode(s, episode_id)
        if episode.status not in ACTIVE:
            raise Rejected(409, f"episode is {episode.status}, nothing to interrupt", "episode_id")
        workflow_id = episode.workflow_id
    cancel_error = None
    if workflow_id:
        try:
            asyncio.run(_cancel(workflow_id))
        except Exception as exc:
            cancel_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    db.finish(episode_id, "interrupted", "interrupted on request", cancel_error=cancel_error)
    with db.session() as s:
        return {"episode": episode_out(get_episode(s, episode_id)), "cancel_error": cancel_error}


ASSET_PATH = re.compile(r"^[A-Za-z0-9_.\-/]+$")


@app.get("/api/episodes/{episode_id}/assets/{path:path}")
def asset(episode_id: str, path: str, if_none_match: str | None = Header(None)) -> Response:
    """A workspace file of the episode, with an ETag (the MD5 of its bytes, as S3's for a plain
    upload) so a viewer can revalidate: ``If-None-Match`` with the same tag is 304."""
    if not ASSET_PATH.match(path) or path.startswith("/") or ".." in path.split("/"):
        raise Rejected(403, f"asset path {path!r} is not allowed", "path")
    with db.session() as s:
        session_id = get_episode(s, episode_id).session_id
    resp = httpx.get(
        f"{settings.need('WORKER_LIGHT_URL')}/fs/raw",
        params={"path": path},
        headers={"X-Session-ID": session_id},
        timeout=30,
    )
    if resp.status_code != 200:
        detail = (
            resp.json().get("error", resp.text)
            if resp.headers.get("content-type", "").startswith("application/json")
            else resp.text
        )
        raise Rejected(resp.status_code if resp.status_code < 500 else 502, detail, "path")
    etag = f'"{hashlib.md5(resp.content, usedforsecurity=False).hexdigest()}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    media = resp.headers.get("content-type", "application/octet-stream")
    return Response(resp.content, media_type=media, headers=headers)
