"""worker_heavy: validates SPICE netlists against the parts catalog and simulates them.

One simulation at a time: a second concurrent request gets 409 with the running one's id.
Artifacts (raw output, waveform PNG drawn on the X display) go to S3; the answer carries their
bucket, key and ETag.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.common import settings, web
from services.common.storage import artifacts_bucket as bucket
from services.common.storage import s3_client as s3
from services.common.web import Rejected
from services.worker_heavy.catalog import Catalog
from services.worker_heavy.netlist import validate
from services.worker_heavy.simulate import classify, evaluate, measurements, run_ngspice

app = FastAPI(title="worker_heavy", version="1.0")
web.install(app, "worker_heavy")
MAX_BUNDLE = 50 * 1024 * 1024


class Objective(BaseModel):
    measure: str = Field(min_length=1, max_length=64)
    min: float | None = None
    max: float | None = None


class BundleRequest(BaseModel):
    bundle_base64: str = Field(min_length=1)
    netlist_path: str = Field(min_length=1, max_length=512)
    cost_cap: float | None = Field(None, ge=0)


class SimulateRequest(BundleRequest):
    objectives: list[Objective] = []
    timeout_s: float = Field(30.0, gt=0, le=600)
    session_id: str | None = Field(None, max_length=64)
    simulation_id: str | None = Field(None, pattern=r"^sim-[0-9a-f]{6,32}$")
    render: bool = True


def catalog() -> Catalog:
    return Catalog(Path(settings.need("PARTS_DB")))


def netlist_from_bundle(req: BundleRequest) -> str:
    try:
        raw = base64.b64decode(req.bundle_base64, validate=True)
    except ValueError:
        raise Rejected(422, "bundle_base64 is not valid base64", "bundle_base64") from None
    if len(raw) > MAX_BUNDLE:
        raise Rejected(413, f"bundle is larger than {MAX_BUNDLE} bytes", "bundle_base64")
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
            member = tar.getmember(req.netlist_path.lstrip("./"))
            if not member.isfile():
                raise KeyError(req.netlist_path)
            handle = tar.extractfile(member)
            assert handle is not None
            return handle.read().decode("utf-8", "replace")
    except KeyError:
        raise Rejected(404, f"netlist_path {req.netlist_path!r} is not in the bundle", "netlist_path") from None
    except (tarfile.TarError, OSError, EOFError):
        raise Rejected(422, "bundle_base64 is not a gzipped tar archive", "bundle_base64") from None


class Busy:
    """The one-at-a-time gate, and the running ngspice process (so it can be cancelled)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.cancelled: set[str] = set()

    def enter(self, sim_id: str) -> None:
        with self.lock:
            if self.running is not None:
                raise Rejected(409, f"a simulation is already running: {self.running}", running=self.running)
            self.running = sim_id

    def leave(self) -> None:
        with self.lock:
            self.running, self.proc = None, None


BUSY = Busy()


@app.get("/health")
def health() -> JSONResponse:
    def parts() -> str | None:
        return None if catalog().count() > 0 else "parts.db is empty"

    def ngspice() -> str | None:
        return None if shutil.which(settings.get("NGSPICE", "ngspice")) else "ngspice is not installed"

    def storage() -> str | None:
        s3().head_bucket(Bucket=bucket())
        return None

    def display() -> str | None:
        import socket

        value = settings.need("DISPLAY")
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(f"/tmp/.X11-unix/X{value.lstrip(':').split('.')[0]}")
        return None

    return web.health(
        {"parts_db": parts, "ngspice": ngspice, "s3": storage, "display": display}, service="worker_heavy"
    )


@app.get("/ready")
def ready() -> dict[str, Any]:
    return {"busy": BUSY.running is not None, "running": BUSY.running}


@app.get("/parts")
def parts(
    q: str = Query("", max_length=100),
    category: str | None = Query(None, max_length=32),
    limit: int = Query(20, ge=1, le=200),
) -> dict[str, Any]:
    found = catalog().search(q, category, limit)
    return {"query": q, "count": len(found), "parts": found}


@app.post("/benchmark/validate")
def validate_endpoint(req: BundleRequest) -> dict[str, Any]:
    return validate(netlist_from_bundle(req), catalog().lookup, req.cost_cap)


@app.post("/benchmark/cancel/{sim_id}")
def cancel(sim_id: str) -> dict[str, Any]:
    with BUSY.lock:
        if BUSY.running != sim_id or BUSY.proc is None:
            return {"cancelled": False, "running": BUSY.running}
        BUSY.cancelled.add(sim_id)
        import os
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.killpg(BUSY.proc.pid, signal.SIGKILL)
    return {"cancelled": True, "running": sim_id}


def upload(client: Any, key: str, data: bytes, content_type: str) -> dict[str, str]:
    resp = client.put_object(Bucket=bucket(), Key=key, Body=data, ContentType=content_type)
    return {"bucket": bucket(), "key": key, "etag": resp["ETag"].strip('"'), "size": str(len(data))}


def render(vectors: dict[str, list[float]], title: str, workdir: Path) -> bytes:
    names = [n for n in vectors if n not in ("time", "frequency")]
    x_name = "time" if "time" in vectors else ("frequency" if "frequency" in vectors else names[0])
    series = {n: vectors[n] for n in names if n.startswith("v(")} or {n: vectors[n] for n in names[:3]}
    src = workdir / "vectors.json"
    src.write_text(
        json.dumps(
            {"x": vectors[x_name], "x_name": "s" if x_name == "time" else x_name, "series": series, "title": title}
        )
    )
    out = workdir / "waveform.png"
    res = subprocess.run(
        [sys.executable, "-m", "services.worker_heavy.render", str(src), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if res.returncode:
        raise Rejected(500, f"rendering the waveform failed: {res.stderr.strip() or res.stdout.strip()}")
    return out.read_bytes()


@app.post("/benchmark/simulate")
def simulate(req: SimulateRequest) -> dict[str, Any]:
    sim_id = req.simulation_id or f"sim-{uuid.uuid4().hex[:12]}"
    text = netlist_from_bundle(req)  # a malformed request is refused (4xx) whether or not it is busy
    BUSY.enter(sim_id)
    try:
        return _simulate(req, sim_id, text)
    finally:
        BUSY.leave()


def _simulate(req: SimulateRequest, sim_id: str, text: str) -> dict[str, Any]:
    checked = validate(text, catalog().lookup, req.cost_cap)
    result: dict[str, Any] = {
        "simulation_id": sim_id,
        "validation": checked,
        "measurements": {},
        "objectives": [],
        "artifacts": {},
    }
    if not checked["valid"]:
        first = checked["problems"][0]
        return {
            **result,
            "outcome": "invalid_netlist",
            "reason": f"line {first['line']}: {first['message']}",
            "duration_s": 0.0,
        }
    with tempfile.TemporaryDirectory(prefix=f"{sim_id}-") as tmp:
        workdir = Path(tmp)

        def started(proc: subprocess.Popen[bytes]) -> None:
            BUSY.proc = proc

        run = run_ngspice(text, workdir, req.timeout_s, settings.get("NGSPICE", "ngspice"), on_start=started)
        if sim_id in BUSY.cancelled:
            BUSY.cancelled.discard(sim_id)
            return {**result, "outcome": "cancelled", "reason": "cancelled on request", "duration_s": run.duration_s}
        found, failed = measurements(run.output, checked["measures"])
        objectives = evaluate([o.model_dump() for o in req.objectives], found)
        outcome, reason = classify(run, objectives)
        result.update(
            outcome=outcome,
            reason=reason,
            measurements=found,
            failed_measures=failed,
            objectives=objectives,
            duration_s=run.duration_s,
        )
        prefix = f"simulations/{req.session_id or 'anonymous'}/{sim_id}"
        client = s3()
        result["artifacts"]["log"] = upload(client, f"{prefix}/ngspice.log", run.output.encode(), "text/plain")
        if run.raw_path.exists():
            result["artifacts"]["raw"] = upload(
                client, f"{prefix}/output.raw", run.raw_path.read_bytes(), "application/octet-stream"
            )
        if req.render and run.vectors and outcome in ("success", "objective_failed"):
            t0 = time.monotonic()
            png = render(run.vectors, checked["title"], workdir)
            result["artifacts"]["waveform"] = upload(client, f"{prefix}/waveform.png", png, "image/png")
            result["render_s"] = round(time.monotonic() - t0, 3)
    return result
