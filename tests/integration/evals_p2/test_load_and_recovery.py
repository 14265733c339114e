"""P2: sustained concurrency, recovery after a worker restart, large bundles, latency budget."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import os
import re
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.support import RC_FILTER

pytestmark = pytest.mark.integration_p2
SESSIONS = 20


@pytest.mark.int_id("INT-201")
def test_int_201_twenty_sessions_in_parallel_lose_nothing(stack, session_id):
    def work(i: int) -> dict[str, str]:
        session = f"{session_id}-{i:02d}"
        files = {f"file{j}.txt": f"{session}:{j}:" + "x" * (i * 37 + j) for j in range(8)}
        for path, content in files.items():
            stack.write(session, path, content)
        with tarfile.open(fileobj=io.BytesIO(stack.bundle(session)), mode="r:gz") as tar:
            got = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
        assert got == files, session
        return got

    with ThreadPoolExecutor(max_workers=SESSIONS) as pool:
        results = list(pool.map(work, range(SESSIONS)))
    assert len(results) == SESSIONS and all(len(r) == 8 for r in results)


SIM_LINE = re.compile(
    r"^(?P<at>\S+ \S+) worker_heavy INFO requests: POST /benchmark/simulate (?P<status>\d+) (?P<ms>[\d.]+)ms"
)


@pytest.mark.int_id("INT-202")
@pytest.mark.disruptive  # alone: it counts every simulation worker_heavy runs, other tests' included
def test_int_202_concurrent_episodes_all_complete_with_every_event(stack, session_id):
    heavy_log = Path(stack.env["WORKER_HEAVY_LOG"])
    offset = heavy_log.stat().st_size
    episodes = []
    for i in range(6):
        session = f"{session_id}-{i}"
        episode = stack.new_episode(session, f"load {i}")
        stack.write(session, "circuit.cir", RC_FILTER)
        episodes.append(episode)
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(stack.start_simulation, episodes))
    assert [r.status_code for r in responses] == [202] * 6
    finals = [stack.wait_final(e.id, timeout=240) for e in episodes]
    assert [f.status for f in finals] == ["completed"] * 6, [f.reason for f in finals]
    for final in finals:
        events = stack.events(final.id)
        kinds = [e.kind for e in events]
        assert kinds.count("bundled") == kinds.count("validated") == kinds.count("simulated") == 1
        assert kinds.count("artifact") == 3
        assert [e.data["to"] for e in events if e.kind == "status"] == ["created", "queued", "running", "completed"]
    with stack.db() as conn:
        count = conn.execute(
            "SELECT count(*) FROM episode_artifacts WHERE episode_id = ANY(%s)", ([e.id for e in episodes],)
        ).fetchone()[0]
    assert count == 18
    # Queued on worker_heavy: it refused the ones that came while busy (409, retried), and the six
    # simulations it ran never overlapped.
    with open(heavy_log, "rb") as fh:
        fh.seek(offset)
        lines = fh.read().decode(errors="replace").splitlines()
    done = [SIM_LINE.search(ln) for ln in lines]
    runs = [m for m in done if m and m["status"] == "200"]
    assert len(runs) == 6 and any(m and m["status"] == "409" for m in done), lines[-20:]
    spans = sorted(
        (end - dt.timedelta(milliseconds=float(m["ms"])), end)
        for m in runs
        for end in [dt.datetime.strptime(m["at"], "%Y-%m-%d %H:%M:%S,%f")]
    )
    tolerance = dt.timedelta(milliseconds=50)  # the log's clock and the duration are taken apart
    assert all(a_end <= b_start + tolerance for (_, a_end), (b_start, _) in itertools.pairwise(spans)), spans


@pytest.mark.int_id("INT-203")
@pytest.mark.disruptive
@pytest.mark.allow_backend_errors(r"worker_light", service="controller")  # its calls while the worker is down
def test_int_203_worker_restart_mid_suite_recovers(stack, session_id, harness_cli):
    stack.write(session_id, "before.txt", "written before the restart")
    old = stack.light.get("/health").json()
    harness_cli("stop", "worker_light")
    try:
        down = stack.controller.get("/health")
        assert down.status_code == 503 and "worker_light" in down.json()["failing"]
    finally:  # whatever failed above, the later tests get their worker back
        harness_cli("up", "worker_light")
    stack.wait_controller_healthy("the controller to see worker_light again")
    read = stack.light.post("/fs/read", json={"path": "before.txt"}, headers={"X-Session-ID": session_id})
    assert read.status_code == 200 and read.json()["content"] == "written before the restart"
    assert old["status"] == "healthy"
    episode = stack.new_episode(session_id, "after restart")
    stack.write(session_id, "circuit.cir", RC_FILTER)
    assert stack.start_simulation(episode).status_code == 202
    assert stack.wait_final(episode.id).status == "completed"


@pytest.mark.int_id("INT-204")
def test_int_204_large_bundle_round_trips_and_validates(stack, session_id):
    blob = os.urandom(12 * 1024 * 1024)
    stack.write(session_id, "data/big.bin", blob)
    stack.write(session_id, "circuit.cir", RC_FILTER)
    bundle = stack.bundle(session_id)
    with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
        assert tar.extractfile("data/big.bin").read() == blob
    from tests.integration.support import b64

    resp = stack.heavy.post("/benchmark/validate", json={"bundle_base64": b64(bundle), "netlist_path": "circuit.cir"})
    assert resp.status_code == 200 and resp.json()["valid"] is True


@pytest.mark.int_id("INT-205")
def test_int_205_light_endpoints_stay_under_500ms_at_p99(stack, session_id, latency_log):
    from harness.plugin.latency import summarize

    before = len(latency_log.calls)
    headers = {"X-Session-ID": session_id}
    statuses = []
    for i in range(60):
        statuses.append(
            stack.light.post("/fs/write", json={"path": f"n{i % 5}.txt", "content": "y" * 2048}, headers=headers)
        )
        statuses.append(stack.light.post("/fs/read", json={"path": f"n{i % 5}.txt"}, headers=headers))
        statuses.append(stack.light.get("/fs/list", headers=headers))
    assert {r.status_code for r in statuses} == {200}, "fast errors would meet any latency budget"
    summary = summarize(latency_log.calls[before:])
    light = {k: v for k, v in summary["endpoints"].items() if k.startswith("worker_light ")}
    assert set(light) == {"worker_light POST /fs/write", "worker_light POST /fs/read", "worker_light GET /fs/list"}
    assert all(v["count"] == 60 for v in light.values())
    assert [k for k in summary["slow_endpoints"] if k in light] == [], light
