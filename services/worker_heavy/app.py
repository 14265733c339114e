"""worker_heavy: validates SPICE netlists against the parts catalog and simulates them.

One simulation at a time: a second concurrent request gets 409 with the running one's id.
Artifacts (raw output, waveform PNG drawn on the X display) go to S3; the answer carries their
bucket, key and ETag.

Bundles are untrusted: a netlist that would make ngspice run commands or read files outside its
bundle is ``invalid_netlist`` before ngspice starts (``netlist.validate``), and ngspice itself
runs, when the service is root, as an unprivileged uid in a sandbox (``simulate.run_ngspice``).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import posixpath
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

from services.common import sandbox, settings, web
from services.common.storage import artifacts_bucket as bucket
from services.common.storage import s3_client as s3
from services.common.web import Rejected
from services.worker_heavy.catalog import Catalog
from services.worker_heavy.netlist import validate
from services.worker_heavy.simulate import classify, evaluate, measurements, run_ngspice

app = FastAPI(title="worker_heavy", version="1.0")
web.install(app, "worker_heavy")
MAX_BUNDLE = 50 * 1024 * 1024
MAX_NETLIST = 8 * 1024 * 1024  # the netlist, or one file it includes
# ngspice runs as this uid when the service is root: unprivileged, no account uses it (worker_light's
# session uids are 200000 and up).
SIM_UID = int(settings.get("WORKER_HEAVY_SIM_UID", "199999"))


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


class Bundle:
    """A gzipped tar's regular files, by normalised path (symlinks, links, devices and paths that
    leave it are not files of the bundle); each read on demand, as text."""

    def __init__(self, encoded: str) -> None:
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise Rejected(422, "bundle_base64 is not valid base64", "bundle_base64") from None
        if len(raw) > MAX_BUNDLE:
            raise Rejected(413, f"bundle is larger than {MAX_BUNDLE} bytes", "bundle_base64")
        try:
            self.tar = tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz")  # noqa: SIM115 (in memory)
            members = self.tar.getmembers()
        except (tarfile.TarError, OSError, EOFError):
            raise Rejected(422, "bundle_base64 is not a gzipped tar archive", "bundle_base64") from None
        self.members: dict[str, tarfile.TarInfo] = {}
        for member in members:
            name = self.normalise(member.name)
            if name is not None and member.isreg():
                self.members[name] = member
        self.read: dict[str, str] = {}  # what was read, for the run

    @staticmethod
    def normalise(name: str) -> str | None:
        path = posixpath.normpath(name)
        if path.startswith(("/", "../")) or path in ("..", ".") or "\0" in path:
            return None
        return path

    def text(self, name: str) -> str | None:
        member = self.members.get(name)
        if member is None:
            return None
        if member.size > MAX_NETLIST:
            raise Rejected(413, f"{name} is larger than {MAX_NETLIST} bytes", "bundle_base64")
        if name not in self.read:
            try:
                handle = self.tar.extractfile(member)
                assert handle is not None
                self.read[name] = handle.read().decode("utf-8", "replace")
            except (tarfile.TarError, OSError, EOFError):
                raise Rejected(422, "bundle_base64 is not a gzipped tar archive", "bundle_base64") from None
        return self.read[name]


def netlist_from_bundle(req: BundleRequest) -> tuple[Bundle, str, str]:
    """The bundle, the netlist's normalised path in it and its text (404 when it is not there)."""
    bundle = Bundle(req.bundle_base64)
    path = Bundle.normalise(req.netlist_path.lstrip("/"))  # "/x.cir": x.cir at the bundle's top
    text = bundle.text(path) if path is not None else None
    if path is None or text is None:
        raise Rejected(404, f"netlist_path {req.netlist_path!r} is not in the bundle", "netlist_path")
    return bundle, path, text


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
        {"parts_db": parts, "ngspice": ngspice, "s3": storage, "display": display, "sandbox": sandbox_works},
        service="worker_heavy",
    )


_SANDBOX_OK: list[bool] = []


def sim_uid() -> int | None:
    """ngspice's uid: SIM_UID when the service is root (and may hand it out), else its own."""
    return SIM_UID if os.geteuid() == 0 else None


def sandbox_works() -> str | None:
    """ngspice starts in its sandbox here (checked once, then remembered)."""
    if _SANDBOX_OK:
        return None
    executable = shutil.which(settings.get("NGSPICE", "ngspice"))
    if executable is None:
        return "ngspice is not installed"
    with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as tmp:
        try:
            proc = sandbox.start(
                [os.path.realpath(executable), "--version"],
                uid=sim_uid(),
                env={"PATH": "/usr/bin:/bin", "HOME": tmp},
                cwd=tmp,
                binds={tmp: False},
                limits={},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        except sandbox.SandboxError as exc:
            return f"ngspice cannot be isolated here: {exc}"
        out, _ = proc.communicate(timeout=30)
    if proc.returncode or b"ngspice" not in out:
        return f"ngspice failed in its sandbox: {out.decode(errors='replace')[-300:]}"
    _SANDBOX_OK.append(True)
    return None


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
    bundle, path, text = netlist_from_bundle(req)
    return validate(text, catalog().lookup, req.cost_cap, path=path, load=bundle.text)


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
    bundle, path, text = netlist_from_bundle(req)  # a malformed request is 4xx whether or not it is busy
    BUSY.enter(sim_id)
    try:
        return _simulate(req, sim_id, bundle, path, text)
    finally:
        BUSY.leave()


def _simulate(req: SimulateRequest, sim_id: str, bundle: Bundle, path: str, text: str) -> dict[str, Any]:
    checked = validate(text, catalog().lookup, req.cost_cap, path=path, load=bundle.text)
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

        files = {name: bundle.read[name] for name in checked["includes"]}
        try:
            run = run_ngspice(
                text,
                workdir,
                req.timeout_s,
                settings.get("NGSPICE", "ngspice"),
                on_start=started,
                path=path,
                files=files,
                uid=sim_uid(),
            )
        except sandbox.SandboxError as exc:
            raise Rejected(503, f"ngspice cannot be isolated here, so it is not run: {exc}") from None
        except OSError as exc:  # the bundle's paths do not fit on a file system (a file where a directory is)
            raise Rejected(422, f"the bundle's files cannot be laid out: {exc}", "bundle_base64") from None
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
