from __future__ import annotations

import textwrap
import threading

import pytest

from harness.errors import StepFailed
from harness.steps import run_step

from .helpers import plan_of


def build(tmp_path, run: str, extra: str = ""):
    (tmp_path / "src.txt").write_text("v1")
    (tmp_path / "stack.toml").write_text(
        textwrap.dedent(f"""
    [steps.build]
    run = "{run}"
    shell = true
    inputs = ["src.txt"]
    outputs = ["out.txt"]
    {extra}
    """)
    )
    return plan_of(tmp_path / "stack.toml", 0, environ={"PATH": "/usr/bin:/bin"})


def go(plan, cached=None, marker=""):
    return run_step(
        plan.node("build"),
        plan.root,
        cached_digest=cached,
        cancel=threading.Event(),
        on_spawn=lambda rec: None,
        marker=marker,
    )


def test_cached_step_runs_once_until_inputs_change(tmp_path):
    inst = build(tmp_path, "cat src.txt >> out.txt")
    outcome, digest = go(inst)
    assert outcome == "ran"
    assert go(inst, digest) == ("up to date", digest)
    assert (tmp_path / "out.txt").read_text() == "v1"
    (tmp_path / "src.txt").write_text("v2")
    outcome, digest2 = go(inst, digest)
    assert outcome == "ran" and digest2 != digest
    (tmp_path / "out.txt").unlink()
    assert go(inst, digest2)[0] == "ran", "a missing output forces a rebuild"


def test_failing_step_names_command_and_shows_log(tmp_path):
    inst = build(tmp_path, "echo broken-input >&2; exit 7")
    with pytest.raises(StepFailed) as info:
        go(inst)
    assert "build: `echo broken-input >&2; exit 7` exited with 7" in str(info.value)
    assert "broken-input" in info.value.log_tail


def test_callable_step_gets_context(tmp_path):
    (tmp_path / "mystep.py").write_text(
        textwrap.dedent("""
        def make(ctx):
            (ctx.root / "out.txt").write_text(ctx.args["word"] + ctx.env["PATH"][:4])
    """)
    )
    (tmp_path / "stack.toml").write_text('[steps.build]\ncall = "mystep:make"\nargs = { word = "hi" }\n')
    inst = plan_of(tmp_path / "stack.toml", 0, environ={"PATH": "/usr/bin:/bin"})
    assert go(inst)[0] == "ran"
    assert (tmp_path / "out.txt").read_text() == "hi" + inst.node("build").env["PATH"][:4]


def test_command_steps_carry_the_run_marker(tmp_path):
    inst = build(tmp_path, "printenv HARNESS_OWNER > out.txt")
    outcome, _ = go(inst, marker="/state/0#run1")
    assert outcome == "ran"
    assert (tmp_path / "out.txt").read_text() == "/state/0#run1\n"
