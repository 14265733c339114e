from __future__ import annotations

import textwrap
import threading

import pytest

from harness.errors import StepFailed
from harness.runtime.steps import run_step

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


def go(plan, cached=None, owner=""):
    return run_step(
        plan.node("build"),
        plan.root,
        cached_digest=cached,
        cancel=threading.Event(),
        on_spawn=lambda rec: None,
        owner=owner,
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
    outcome, _ = go(inst, owner="/state/0#run1")
    assert outcome == "ran"
    assert (tmp_path / "out.txt").read_text() == "/state/0#run1\n"


class FakeData:
    """A service's data as the snapshot hooks see it: a file the step appends to, and saved copies."""

    def __init__(self, path) -> None:
        self.path, self.snapshots, self.in_use = path, {}, ""
        path.write_text("")

    @property
    def data(self) -> str:
        return self.path.read_text()

    def has(self, tag: str) -> bool:
        return tag in self.snapshots

    def save(self, tag: str) -> str | None:
        if self.in_use:
            return self.in_use
        self.snapshots = {tag: self.data}
        return None

    def restore(self, tag: str) -> None:
        self.path.write_text(self.snapshots[tag])

    def empty(self) -> None:
        self.path.write_text("")


def data_step(tmp_path, environ=None):
    (tmp_path / "migration.sql").write_text("v1")
    (tmp_path / "stack.toml").write_text(
        textwrap.dedent("""
    [services.db]
    kind = "postgres"
    port = 25999

    [steps.migrate]
    run = "cat migration.sql >> data.txt; echo ran >> runs.txt"
    shell = true
    after = ["db"]
    inputs = ["migration.sql"]
    snapshot = "db"
    """)
    )
    return plan_of(tmp_path / "stack.toml", 0, environ={"PATH": "/usr/bin:/bin", **(environ or {})})


def run_data(plan, ledger, data, fresh=False):
    from harness.runtime.steps import run_tracked_step

    return run_tracked_step(
        plan.node("migrate"),
        plan.root,
        ledger,
        add_entry=lambda entry: None,
        cancel=threading.Event(),
        owner="",
        data=data,
        fresh=fresh,
        no_cache=plan.settings.no_cache,
    )


def test_a_data_step_is_snapshotted_then_up_to_date_restored_or_run_again(tmp_path):
    from harness.runtime.ledger import Ledger

    plan, data = data_step(tmp_path), FakeData(tmp_path / "data.txt")
    ledger = Ledger(tmp_path / "state", 0)
    assert run_data(plan, ledger, data) == "ran, snapshot saved"
    assert data.snapshots and data.data == "v1"
    data.path.write_text("v1+test rows")
    assert run_data(plan, ledger, data) == "up to date" and data.data == "v1+test rows"
    assert run_data(plan, ledger, data, fresh=True) == "restored" and data.data == "v1"
    (tmp_path / "migration.sql").write_text("v2")  # a changed migration runs again, and is snapshotted
    assert run_data(plan, ledger, data) == "ran, snapshot saved" and data.data == "v1v2"
    (tmp_path / "migration.sql").write_text("v1")  # back to v1 (another branch): its snapshot was replaced
    assert run_data(plan, ledger, data) == "ran, snapshot saved"
    data.snapshots.clear()  # a new cluster (down --clean, or data deleted by hand): nothing to trust
    assert run_data(plan, ledger, data) == "ran, snapshot saved"
    assert (tmp_path / "runs.txt").read_text().count("ran") == 4


def test_a_snapshot_of_other_inputs_is_restored_instead_of_running(tmp_path):
    from harness.runtime.ledger import Ledger

    plan, data = data_step(tmp_path), FakeData(tmp_path / "data.txt")
    ledger = Ledger(tmp_path / "state", 0)
    assert run_data(plan, ledger, data) == "ran, snapshot saved"
    ledger.set_step_hash("migrate", "set by something else since")
    data.path.write_text("other")
    assert run_data(plan, ledger, data) == "restored" and data.data == "v1"
    assert (tmp_path / "runs.txt").read_text().count("ran") == 1


def test_fresh_without_a_snapshot_empties_the_data_and_a_failed_save_is_said(tmp_path):
    from harness.runtime.ledger import Ledger

    plan, data = data_step(tmp_path), FakeData(tmp_path / "data.txt")
    ledger = Ledger(tmp_path / "state", 0)
    data.path.write_text("old rows")
    data.in_use = 'source database "app" is being accessed by other users'
    assert run_data(plan, ledger, data, fresh=True) == f"ran (no snapshot: {data.in_use})"
    assert data.data == "v1" and not data.snapshots


def test_no_cache_runs_the_step_and_restores_nothing(tmp_path):
    from harness.runtime.ledger import Ledger

    plan, data = data_step(tmp_path), FakeData(tmp_path / "data.txt")
    ledger = Ledger(tmp_path / "state", 0)
    assert run_data(plan, ledger, data).startswith("ran")
    uncached = data_step(tmp_path, {"HARNESS_NO_CACHE": "1"})
    assert run_data(uncached, ledger, data).startswith("ran") and data.data == "v1v1"
    assert run_data(uncached, ledger, data, fresh=True).startswith("ran") and data.data == "v1"
