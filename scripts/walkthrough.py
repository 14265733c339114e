"""A walkthrough of the reference stack over HTTP only, printed step by step.

    invoke up
    python scripts/walkthrough.py                 # the happy path: an RC filter, simulated
    python scripts/walkthrough.py --scenario unknown-part
    python scripts/walkthrough.py --scenario infinite-loop
    python scripts/walkthrough.py --scenario temporal-down   # stops and restarts temporal

URLs and the API key come from the environment the harness derives (``--instance N`` picks
the instance); the script never imports service code. Exit 0 when the scenario behaved as
expected, 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

NETLISTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "netlists")
with open(os.path.join(NETLISTS, "rc_filter.cir")) as fh:
    RC_FILTER = fh.read()
UNKNOWN_PART = RC_FILTER.replace("R-0603-1k", "R-0603-NOPE-42")


def stack_env(instance: str | None) -> dict[str, str]:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
    from harness.config.settings import resolve_settings
    from harness.runtime.plan import load_plan

    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    return dict(load_plan(resolve_settings(stack=os.path.join(root, "stack.toml"), instance=instance)).derived_env)


class Walk:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.http = httpx.Client(timeout=60)
        self.controller = env["CONTROLLER_URL"]
        self.light = env["WORKER_LIGHT_URL"]
        self.heavy = env["WORKER_HEAVY_URL"]
        self.key = {"X-API-Key": env["CONTROLLER_API_KEY"]}
        self.n = 0

    def step(self, text: str) -> None:
        self.n += 1
        print(f"[{self.n}] {text}", flush=True)

    def ok(self, text: str) -> None:
        print(f"    ok: {text}", flush=True)

    def expect(self, resp: httpx.Response, status: int) -> Any:
        if resp.status_code != status:
            raise SystemExit(
                f"    FAILED: {resp.request.method} {resp.request.url} -> {resp.status_code}, "
                f"wanted {status}: {resp.text[:500]}"
            )
        return resp.json() if resp.headers.get("content-type", "").startswith("application/json") else resp.content

    def episode(self, name: str) -> dict[str, Any]:
        self.step(f"create an episode ({name})")
        session = f"WALK-{uuid.uuid4().hex[:8]}"
        ep = self.expect(
            self.http.post(f"{self.controller}/episodes", headers=self.key, json={"name": name, "session_id": session}),
            201,
        )
        self.ok(f"episode {ep['id']} in session {ep['session_id']}, status {ep['status']}")
        return dict(ep)

    def write(self, session: str, path: str, content: str) -> None:
        self.step(f"write {path} into the workspace")
        out = self.expect(
            self.http.post(
                f"{self.light}/fs/write", headers={"X-Session-ID": session}, json={"path": path, "content": content}
            ),
            200,
        )
        self.ok(f"{out['size']} bytes")

    def validate(self, session: str, path: str) -> dict[str, Any]:
        self.step("bundle the workspace and validate the netlist on worker_heavy")
        bundle = self.expect(self.http.post(f"{self.light}/fs/bundle", headers={"X-Session-ID": session}), 200)
        checked = self.expect(
            self.http.post(
                f"{self.heavy}/benchmark/validate",
                json={"bundle_base64": base64.b64encode(bundle).decode(), "netlist_path": path},
            ),
            200,
        )
        self.ok(f"valid={checked['valid']} cost={checked['total_cost']} problems={checked['problems']}")
        return dict(checked)

    def simulate(self, ep: dict[str, Any], path: str, expect_status: int = 202) -> Any:
        self.step("simulate through the controller (a Temporal workflow)")
        out = self.expect(
            self.http.post(
                f"{self.controller}/episodes/{ep['id']}/simulate",
                headers=self.key,
                json={"netlist_path": path, "objectives": [{"measure": "vout_max", "min": 0.9}]},
            ),
            expect_status,
        )
        self.ok(f"episode status {out['episode']['status']}")
        return out

    def wait_final(self, ep: dict[str, Any], timeout: float = 90) -> dict[str, Any]:
        self.step("poll the episode's events until it ends")
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            events = self.expect(
                self.http.get(f"{self.controller}/episodes/{ep['id']}/events", params={"after": seen}), 200
            )["events"]
            for ev in events:
                seen = ev["id"]
                detail = {k: v for k, v in ev["data"].items() if k in ("to", "reason", "outcome", "kind", "key")}
                print(f"    {ev['created_at']}  {ev['kind']:<10} {detail}", flush=True)
            current = self.expect(self.http.get(f"{self.controller}/episodes/{ep['id']}"), 200)
            if current["status"] in ("completed", "failed", "interrupted"):
                self.ok(f"episode ended {current['status']}" + (f": {current['reason']}" if current["reason"] else ""))
                return dict(current)
            time.sleep(0.25)
        raise SystemExit(f"    FAILED: episode {ep['id']} did not end within {timeout:.0f} s")


def happy(w: Walk) -> None:
    ep = w.episode("rc filter walkthrough")
    w.write(ep["session_id"], "circuits/rc.cir", RC_FILTER)
    if not w.validate(ep["session_id"], "circuits/rc.cir")["valid"]:
        raise SystemExit("    FAILED: the RC filter should validate")
    w.simulate(ep, "circuits/rc.cir")
    final = w.wait_final(ep)
    if final["status"] != "completed":
        raise SystemExit(f"    FAILED: expected completed, got {final['status']}")
    waveform = next(a for a in final["artifacts"] if a["kind"] == "waveform")
    w.step(f"fetch the waveform through the assets endpoint ({waveform['path']})")
    resp = w.http.get(f"{w.controller}/api/episodes/{ep['id']}/assets/{waveform['path']}")
    png = w.expect(resp, 200)
    if resp.headers["content-type"] != "image/png" or not png.startswith(b"\x89PNG"):
        raise SystemExit(f"    FAILED: not a PNG ({resp.headers['content-type']})")
    w.ok(f"{len(png)} bytes of image/png")
    w.step(f"find the same object in S3: s3://{waveform['bucket']}/{waveform['key']}")
    from harness.kinds.s3 import s3_client

    s3 = s3_client(w.env["S3_ENDPOINT"], w.env["S3_ACCESS_KEY"], w.env["S3_SECRET_KEY"], w.env["S3_REGION"], 30)
    obj = s3.get_object(Bucket=waveform["bucket"], Key=waveform["key"])
    body = obj["Body"].read()
    if body != png or obj["ETag"].strip('"') != waveform["etag"]:
        raise SystemExit("    FAILED: the S3 object differs from the served asset")
    w.ok(f"same bytes, ETag {waveform['etag']}")


def unknown_part(w: Walk) -> None:
    ep = w.episode("unknown part walkthrough")
    w.write(ep["session_id"], "circuits/rc.cir", UNKNOWN_PART)
    w.simulate(ep, "circuits/rc.cir")
    final = w.wait_final(ep)
    if final["status"] != "failed" or "R-0603-NOPE-42" not in (final["reason"] or ""):
        raise SystemExit(f"    FAILED: expected failed naming the part, got {final['status']}: {final['reason']}")


def infinite_loop(w: Walk) -> None:
    session = f"WALK-{uuid.uuid4().hex[:8]}"
    w.step("run `while True: pass` with a 2 s timeout")
    t0 = time.monotonic()
    out = w.expect(
        w.http.post(
            f"{w.light}/runtime/execute",
            headers={"X-Session-ID": session},
            json={"code": "while True:\n    pass\n", "timeout_s": 2},
        ),
        200,
    )
    took = time.monotonic() - t0
    if not out["timed_out"] or took > 10:
        raise SystemExit(f"    FAILED: expected a clean timeout, got {out} after {took:.1f} s")
    w.ok(f"timed_out=true after {took:.1f} s, exit_code={out['exit_code']}")


def temporal_down(w: Walk, instance: str | None) -> None:
    harness = [sys.executable, "-m", "harness", *(["--instance", instance] if instance else [])]
    ep = w.episode("temporal down walkthrough")
    w.write(ep["session_id"], "circuits/rc.cir", RC_FILTER)
    w.step("stop only the temporal service through the harness")
    subprocess.run([*harness, "stop", "temporal"], check=True)
    try:
        out = w.simulate(ep, "circuits/rc.cir", expect_status=503)
        if out["episode"]["status"] != "failed" or "Temporal unavailable" not in (out["episode"]["reason"] or ""):
            raise SystemExit(f"    FAILED: expected failed with the reason, got {out['episode']}")
        w.ok(f"reason: {out['episode']['reason']}")
    finally:
        w.step("start temporal again")
        subprocess.run([*harness, "up", "temporal"], check=True)


SCENARIOS: dict[str, Callable[..., None]] = {
    "happy": happy,
    "unknown-part": unknown_part,
    "infinite-loop": infinite_loop,
    "temporal-down": temporal_down,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="happy")
    parser.add_argument("--instance", help="harness instance (default: $HARNESS_INSTANCE or 0)")
    args = parser.parse_args()
    walk = Walk(stack_env(args.instance))
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    for name in names:
        print(f"== scenario: {name}")
        if name == "temporal-down":
            temporal_down(walk, args.instance)
        else:
            SCENARIOS[name](walk)
    print("walkthrough: all steps behaved as expected")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
