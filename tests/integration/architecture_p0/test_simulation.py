"""worker_heavy: each simulation outcome of the taxonomy, objectives, artifacts in S3."""

from __future__ import annotations

import threading

import pytest

from tests.integration.support import ENDLESS, NON_CONVERGENT, RC_FILTER, UNDEFINED_MODEL, Simulation, poll

# One xdist worker runs them in turn (--dist loadgroup): worker_heavy runs one simulation at a time.
pytestmark = [pytest.mark.integration_p0, pytest.mark.xdist_group("worker_heavy")]


@pytest.mark.int_id("INT-016")
def test_int_016_success_stores_artifacts_in_s3(stack, session_id):
    sim = stack.simulate(session_id, RC_FILTER, objectives=[{"measure": "vout_max", "min": 0.9}])
    assert sim.outcome == "success", sim.reason
    assert sim.measurements["vout_max"] == pytest.approx(1.0, abs=0.01)
    assert 1e-4 < sim.measurements["t_rise"] < 3e-4  # 2.2 RC for RC = 100 us
    assert set(sim.artifacts) == {"log", "raw", "waveform"}
    s3 = stack.s3()
    for ref in sim.artifacts.values():
        head = s3.head_object(Bucket=ref.bucket, Key=ref.key)
        assert head["ETag"].strip('"') == ref.etag
        assert session_id in ref.key
    png = s3.get_object(Bucket=sim.artifacts["waveform"].bucket, Key=sim.artifacts["waveform"].key)["Body"].read()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.int_id("INT-017")
def test_int_017_objective_failed_names_the_measure(stack, session_id):
    sim = stack.simulate(session_id, RC_FILTER, objectives=[{"measure": "t_rise", "max": 1e-6}])
    assert sim.outcome == "objective_failed"
    assert "t_rise" in sim.reason
    assert sim.objectives[0]["passed"] is False and sim.objectives[0]["value"] > 1e-6


@pytest.mark.int_id("INT-018")
@pytest.mark.parametrize(
    ("netlist", "named"),
    [(RC_FILTER.replace("R-0603-1k", "R-NOT-A-PART"), "R-NOT-A-PART"), (UNDEFINED_MODEL, "nosuchmodel")],
)
def test_int_018_invalid_netlist(stack, session_id, netlist, named):
    sim = stack.simulate(session_id, netlist)
    assert sim.outcome == "invalid_netlist", sim
    assert named in sim.reason.lower() or named in sim.reason, f"the reason names the part or model: {sim.reason}"


@pytest.mark.int_id("INT-019")
def test_int_019_non_convergence(stack, session_id):
    sim = stack.simulate(session_id, NON_CONVERGENT)
    assert sim.outcome == "non_convergence", sim
    assert "timestep too small" in sim.reason.lower() or "singular" in sim.reason.lower()
    assert "waveform" not in sim.artifacts


@pytest.mark.int_id("INT-020")
def test_int_020_timeout(stack, session_id):
    sim = stack.simulate(session_id, ENDLESS, timeout_s=1.5)
    assert sim.outcome == "timeout", sim
    assert "time limit" in sim.reason
    assert 1.5 <= sim.duration_s < 4.5, f"stopped at the limit, not long after: {sim.duration_s} s"


@pytest.mark.int_id("INT-026")
def test_int_026_one_simulation_at_a_time(stack, session_id):
    body = {"bundle_base64": stack.bundle_with(session_id, ENDLESS), "netlist_path": "circuit.cir", "timeout_s": 3}
    first: dict[str, Simulation] = {}

    def run_first() -> None:
        resp = poll(
            lambda: stack.heavy.post("/benchmark/simulate", json=body),
            lambda r: r.status_code != 409,
            timeout=120,
            what="worker_heavy to be free",
            max_interval=0.2,
        )
        first["sim"] = Simulation.model_validate(resp.json())

    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        ready = poll(
            lambda: stack.heavy.get("/ready").json(),
            lambda r: r["busy"],
            timeout=60,
            what="the first simulation to start",
        )
        second = stack.heavy.post("/benchmark/simulate", json=body)
        assert second.status_code == 409, second.text  # the first runs for 3 s: ample margin
        running = second.json()["running"]
        assert running == ready["running"] and running.startswith("sim-")
        assert running in second.json()["error"]
    finally:
        thread.join(timeout=120)
    assert first["sim"].outcome == "timeout"
