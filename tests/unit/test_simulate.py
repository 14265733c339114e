"""services.worker_heavy.simulate: raw files, measurements, objectives and the outcome taxonomy."""

from __future__ import annotations

from pathlib import Path

from services.worker_heavy.simulate import (
    Run,
    classify,
    evaluate,
    layout,
    measurements,
    read_ascii_raw,
    spinit,
    with_control,
)

RAW = """Title: t
Date: now
Plotname: Transient Analysis
Flags: real
No. Variables: 2
No. Points: 3
Variables:
\t0\ttime\ttime
\t1\tv(out)\tvoltage
Values:
0\t\t0.0
\t0.5
1\t\t1e-3
\t0.75
2\t\t2e-3
\t1.0
"""


def run(output: str, vectors=None, timed_out=False, code=0) -> Run:
    return Run(
        output,
        None if timed_out else code,
        timed_out,
        Path("/nonexistent"),
        1.0,
        {"time": [0.0]} if vectors is None else vectors,
    )


def test_read_ascii_raw(tmp_path):
    path = tmp_path / "out.raw"
    path.write_text(RAW)
    assert read_ascii_raw(path) == {"time": [0.0, 1e-3, 2e-3], "v(out)": [0.5, 0.75, 1.0]}


def test_control_block_replaces_end():
    text = with_control("t\nR1 a 0 1k\n.op\n.end\n", "o.raw")
    assert text.count(".end\n") == 1 and "write o.raw" in text and text.index(".control") < text.index(".end\n")


def test_measurements_only_for_declared_names():
    output = "vmax = 1.0e+00 at= 2e-03\nstack = 0 bytes\nmeas tran tr failed!\n"
    found, failed = measurements(output, ["vmax", "tr"])
    assert found == {"vmax": 1.0} and failed == ["tr"]


def test_objectives():
    res = evaluate(
        [{"measure": "vmax", "min": 0.9}, {"measure": "vmax", "max": 0.5}, {"measure": "gone"}], {"vmax": 1.0}
    )
    assert [r["passed"] for r in res] == [True, False, False]
    assert res[2]["reason"] == "not measured"


def test_taxonomy():
    assert classify(run("", timed_out=True), [])[0] == "timeout"
    assert classify(run("doAnalyses: TRAN:  Timestep too small"), [])[0] == "non_convergence"
    assert classify(run("Error on line 3: unknown model"), [])[0] == "invalid_netlist"
    assert classify(run("fine", vectors={}), [])[0] == "invalid_netlist"
    undefined = "Error on line 6 or its substitute:\n  d1 out 0 nosuchmodel\ncould not find a valid modelname\n"
    outcome, reason = classify(run(undefined + "    Simulation interrupted due to error!\n"), [])
    assert outcome == "invalid_netlist" and "nosuchmodel" in reason and "could not find a valid modelname" in reason
    assert "interrupted" not in reason
    assert classify(run("fine"), [{"measure": "m", "passed": False, "reason": "x"}]) == ("objective_failed", "m: x")
    assert classify(run("fine"), [{"measure": "m", "passed": True, "reason": ""}]) == ("success", "")


def test_the_start_up_file_only_loads_code_models():
    text = spinit()
    commands = [ln.split()[0] for ln in text.splitlines() if ln.strip() and not ln.startswith("*")]
    assert set(commands) <= {"alias", "unset", "if", "end", "codemodel"}, commands
    assert "unset sourcepath" in text
    assert all(ln.split()[1].startswith("/usr/lib/") for ln in text.splitlines() if ln.strip().startswith("codemodel"))


def test_layout_places_the_netlist_among_its_includes(tmp_path):
    where = layout(tmp_path, "t\n.include m.lib\n.op\n.end\n", "sim/top.cir", {"sim/m.lib": ".model d D\n"}, None)
    assert where["netlist"] == tmp_path / "bundle" / "sim" / "top.cir"
    run_text = where["netlist"].read_text()
    assert run_text.count(".control") == 1 and f"write {tmp_path / 'out' / 'output.raw'}" in run_text
    assert (tmp_path / "bundle" / "sim" / "m.lib").read_text() == ".model d D\n"
    assert (tmp_path / "init" / "spinit").read_text() == spinit()
    assert sorted(p.name for p in (tmp_path / "bundle").rglob("*")) == ["m.lib", "sim", "top.cir"], "nothing else"
