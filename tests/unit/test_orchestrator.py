"""The orchestrator, session and ledger driven with fake services: no real process starts.

Each fake records what was done to it in one shared journal, so ordering, cancellation, the
cleanup trap, reaping and the typed reports are checked exactly and fast.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import threading
import time
from dataclasses import dataclass, field

import pytest
from rich.console import Console

from harness.errors import HarnessError, Interrupted, LockedError, ServiceFailed
from harness.host.processes import ProcessEntry
from harness.runtime.inspection import status
from harness.runtime.ledger import Ledger
from harness.runtime.orchestrator import Orchestrator
from harness.runtime.outcomes import StatusRow, StopReport
from harness.runtime.session import Session

from .helpers import plan_of

# a <- b <- c (c needs b, b needs a); d stands alone; e needs a and d.
STACK = """
[services.a]
command = "serve a"

[services.b]
command = "serve b"
after = ["a"]

[services.c]
command = "serve c"
after = ["b"]

[services.d]
command = "serve d"

[services.e]
command = "serve e"
after = ["a", "d"]
"""


@dataclass
class World:
    """What the fakes did, in order, and how they are told to behave."""

    journal: list[tuple[str, str]] = field(default_factory=list)
    running: set[str] = field(default_factory=set)
    fail: set[str] = field(default_factory=set)  # wait_ready raises ServiceFailed
    interrupt: set[str] = field(default_factory=set)  # wait_ready raises KeyboardInterrupt
    slow: set[str] = field(default_factory=set)  # wait_ready waits until cancelled
    unhealthy: set[str] = field(default_factory=set)
    stop_times: dict[str, tuple[float, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: str, name: str) -> None:
        with self.lock:
            self.journal.append((what, name))

    def order(self, what: str) -> list[str]:
        return [n for w, n in self.journal if w == what]


@dataclass
class FakeService:
    name: str
    world: World
    entry: ProcessEntry | None = None
    fingerprint: str = "fp"

    def pre_start(self) -> None:
        self.world.note("check", self.name)

    def start(self, owner, entries, cancel) -> None:
        self.world.note("start", self.name)
        self.entry = ProcessEntry(
            self.name, 0, 0.0, ["serve", self.name], f"/logs/{self.name}.log", time.time(), fingerprint=self.fingerprint
        )
        entries.add(self.entry)
        with self.world.lock:
            self.world.running.add(self.name)

    def wait_ready(self, cancel) -> None:
        if self.name in self.world.fail:
            raise ServiceFailed(self.name, "exited while waiting (exit 3)")
        if self.name in self.world.interrupt:
            raise KeyboardInterrupt
        if self.name in self.world.slow:
            assert cancel.wait(5), "the slow service was never cancelled"
            raise Interrupted(f"{self.name}: cancelled")
        self.world.note("ready", self.name)

    def stop(self) -> StopReport:
        t0 = time.monotonic()
        time.sleep(0.05)
        with self.world.lock:
            was = self.name in self.world.running
            self.world.running.discard(self.name)
            self.world.stop_times[self.name] = (t0, time.monotonic())
        self.world.note("stop", self.name)
        return StopReport((f"{self.name} (pid 0)",) if was else ())

    def running(self) -> bool:
        return self.name in self.world.running

    def healthy(self, timeout: float = 3.0) -> str | None:
        return "HTTP 503" if self.name in self.world.unhealthy else None


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def make(tmp_path, world):
    path = tmp_path / "stack.toml"
    path.write_text(textwrap.dedent(STACK))

    def orchestrator() -> Orchestrator:
        plan = plan_of(path, 0)
        return Orchestrator(
            plan,
            Console(file=open(os.devnull, "w"), width=200),
            backend="native",
            supervise=lambda name, rec: FakeService(name, world, rec),
        )

    return orchestrator


def test_up_starts_each_service_after_its_dependencies(make, world):
    orch = make()
    with Session(orch, "up") as session:
        session.up(["c", "e"])
    started = world.order("start")
    assert set(started) == {"a", "b", "c", "d", "e"}
    for dep, dependent in [("a", "b"), ("b", "c"), ("a", "e"), ("d", "e")]:
        assert started.index(dep) < started.index(dependent), started
        assert world.journal.index(("ready", dep)) < world.journal.index(("start", dependent))
    assert set(orch.ledger.entries()) == {"a", "b", "c", "d", "e"}
    assert orch.ledger.read(lambda s: s.complete), "the run is recorded as complete"
    assert [s.name for s in session.run.timeline.stages if s.status == "ok"] != []


def test_a_failure_cancels_the_rest_and_the_trap_stops_what_started(make, world):
    world.fail.add("b")
    world.slow.add("d")
    orch = make()
    with Session(orch, "up") as session, pytest.raises(ServiceFailed, match="b: exited while waiting"):
        session.up(["c", "e"])
    assert "c" not in world.order("start"), "nothing is started after a failure"
    assert "e" not in world.order("start")
    assert world.running == set(), "the trap stopped everything this run started"
    assert set(world.order("stop")) >= {"a", "b", "d"}
    assert orch.ledger.entries() == {}
    statuses = {s.name: s.status for s in session.run.timeline.stages}
    assert statuses["b"] == "failed" and statuses["d"] == "cancelled"


def test_ctrl_c_runs_the_trap_and_says_interrupted(make, world):
    world.interrupt.add("b")
    orch = make()
    with Session(orch, "up") as session, pytest.raises(Interrupted, match="interrupted"):
        session.up(["c"])
    assert world.running == set()
    assert orch.ledger.entries() == {}


def test_keep_on_failure_leaves_started_services_up(make, world):
    world.fail.add("c")
    orch = make()
    with Session(orch, "up") as session, pytest.raises(ServiceFailed):
        session.up(["c"], keep_on_failure=True)
    assert world.order("stop") == []
    assert {"a", "b", "c"} <= world.running
    assert {"a", "b", "c"} <= set(orch.ledger.entries())


def test_down_stops_each_service_as_soon_as_its_dependents_are_gone(make, world):
    orch = make()
    with Session(orch, "up") as session:
        session.up(["c", "e"])
    with Session(orch, "down"):
        report = orch.down()
    assert isinstance(report, StopReport)
    assert sorted(report.processes) == sorted(f"{n} (pid 0)" for n in "abcde")
    t = world.stop_times
    # c <- b <- a and e <- {a, d}: what depends on a service has stopped before it starts stopping...
    assert t["c"][1] <= t["b"][0] and t["b"][1] <= t["a"][0] and t["e"][1] <= min(t["a"][0], t["d"][0])
    # ...and nothing waits for more: c and e stop together, and d does not wait for b (a level).
    assert t["c"][0] < t["e"][1] and t["e"][0] < t["c"][1]
    assert t["d"][0] < t["b"][1]
    assert orch.ledger.entries() == {}


def test_a_second_up_keeps_healthy_services_and_replaces_unhealthy_ones(make, world):
    orch = make()
    with Session(orch, "up") as session:
        session.up(["b"])
    world.unhealthy.add("b")
    with Session(make(), "up") as session:
        session.up(["b"])
    assert world.order("start") == ["a", "b", "b"], "a kept, b restarted"
    assert world.order("stop") == ["b"]


def test_teardown_stops_only_what_the_session_started(make, world):
    orch = make()
    with Session(orch, "up") as session:
        session.up(["a"])
    orch = make()
    with Session(orch, "suite") as session:
        session.up(["c"])
        session.teardown()
        assert session.preexisting() == []  # fakes run no real pid, so none counts as running
    assert world.order("stop") == ["c", "b"], "dependents first"
    assert "a" in world.running and set(orch.ledger.entries()) == {"a"}


def test_a_killed_run_is_reaped_when_the_next_session_starts(make, world, tmp_path):
    orch = make()
    with Session(orch, "up") as session:
        session.up(["b"])
    # Make it look as if the harness that started them died mid-run.
    dead = subprocess.Popen(["true"])
    dead.wait()
    state = json.loads(orch.ledger.path.read_text())
    state.update(owner_pid=dead.pid, owner_create_time=1.0, complete=False)
    orch.ledger.path.write_text(json.dumps(state))
    console = Console(record=True, width=200)
    again = make()
    again.console = console
    with Session(again, "status"):
        pass
    assert sorted(world.order("stop")) == ["a", "b"]
    assert "reaped 2 process(es)" in console.export_text()
    assert again.ledger.entries() == {} and again.ledger.read(lambda s: s.complete)


@pytest.mark.parametrize(
    "content",
    ["[]", '{"processes": null}', '{"owner_pid": "abc", "complete": false}', '{"processes": {"a": {"pid": 1}}}', ""],
)
def test_an_unreadable_state_file_is_named_and_status_does_not_stop_anything(make, world, content):
    orch = make()
    with Session(orch, "up") as session:
        session.up(["a"])
    orch.ledger.path.write_text(content)
    looker = make()
    with Session(looker, "status", reap_unreadable=False):
        pass
    assert looker.ledger.problem and str(looker.ledger.path) in looker.ledger.problem
    assert world.order("stop") == [], "status only looks"
    rows = status(looker)
    assert all(isinstance(r, StatusRow) for r in rows)
    assert {r.state for r in rows} == {"unknown"}


def test_down_without_a_readable_state_file_says_so(make, world):
    orch = make()
    with Session(orch, "up") as session:
        session.up(["a"])
    orch.ledger.path.unlink()
    orch.ledger.path.mkdir()  # replaced by a directory
    again = make()
    with Session(again, "down", reap_unreadable=False):
        report = again.down()
    assert report.without_state and "is a directory" in report.without_state
    assert again.ledger.path.is_file(), "the ledger writes a good state file again"


def test_one_session_at_a_time_per_instance(make):
    first = make()
    with Session(first, "up"), pytest.raises(LockedError, match="instance 0 is busy"), Session(make(), "down"):
        pass


def test_sigterm_and_sighup_raise_the_same_interrupt_as_ctrl_c(make):
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    for sig in before:
        with Session(make(), "up"), pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), sig)
            time.sleep(1)
    assert {sig: signal.getsignal(sig) for sig in before} == before, "the session restores the handlers"


def test_ledger_is_the_only_writer_and_survives_concurrent_records(tmp_path):
    ledger = Ledger(tmp_path, 0)
    recs = [ProcessEntry(f"s{i}", i, 0.0, ["x"], "/l", 0.0) for i in range(40)]
    threads = [threading.Thread(target=ledger.add, args=(r,)) for r in recs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(Ledger(tmp_path, 0).entries()) == {r.name for r in recs}


@pytest.mark.parametrize("made_by_harness", [True, False])
def test_down_clean_outside_the_project_deletes_only_where_the_harness_made_the_dir(tmp_path, world, made_by_harness):
    outside = tmp_path / "elsewhere"
    path = tmp_path / "project" / "stack.toml"
    path.parent.mkdir()
    path.write_text(f'[stack]\nstate_dir = "{outside}"\n' + textwrap.dedent(STACK))
    if not made_by_harness:
        (outside / "0").mkdir(parents=True)  # the user's own directory, there before the harness

    def orchestrator() -> Orchestrator:
        return Orchestrator(plan_of(path, 0), backend="native", supervise=lambda n, r: FakeService(n, world, r))

    with Session(orchestrator(), "up") as session:
        session.up(["a"])
    data = outside / "0" / "precious.txt"
    data.write_text("x")
    with Session(orchestrator(), "down") as session:
        if made_by_harness:
            session.orch.down(clean=True)
        else:
            with pytest.raises(HarnessError, match=r"outside the project and has no \.harness-instance file"):
                session.orch.down(clean=True)
    assert data.exists() != made_by_harness


def test_a_service_whose_cwd_is_missing_is_named_as_such(tmp_path):
    from harness.runtime.orchestrator import Orchestrator as Real

    path = tmp_path / "stack.toml"
    path.write_text('[services.api]\ncommand = "true"\ncwd = "not-there"\n')
    orch = Real(plan_of(path, 0), backend="native")
    with pytest.raises(ServiceFailed, match=r"api: its cwd .*not-there does not exist \(services.api.cwd\)"):
        orch.supervisor("api").start("x#y", None, threading.Event())  # type: ignore[arg-type]


def test_ctrl_c_after_the_stack_came_up_says_it_is_up(make, world, monkeypatch):
    import argparse

    from harness.cli import commands
    from harness.cli import terminal as ui
    from harness.config.settings import resolve_settings

    orch = make()
    console = Console(record=True, width=200)
    orch.console = console
    app = commands.App(resolve_settings(stack=str(orch.plan.file)), console)
    app.__dict__.update(plan=orch.plan, orch=orch)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ui, "service_table", interrupted)
    code = commands.up(app, argparse.Namespace(nodes=["a"], profile=None, keep_on_failure=False, fresh=False))
    assert code == 130
    assert "interrupted after the stack came up: it is running on instance 0; `harness down` stops it" in (
        console.export_text().replace("\n", " ")
    )
    assert "a" in world.running, "nothing was torn down: the stack is up, and said to be"


def test_ledgers_of_two_processes_see_each_others_records(tmp_path):
    """A harness command run by a suite's tests writes the same state file as the suite."""
    outer, nested = Ledger(tmp_path, 0), Ledger(tmp_path, 0)
    outer.add(ProcessEntry("api", 1, 0.0, ["x"], "/l", 0.0))
    nested.forget("api")
    nested.add(ProcessEntry("api", 2, 0.0, ["x"], "/l", 0.0))
    assert outer.entries()["api"].pid == 2, "the outer run stops what the nested command started"
    outer.add(ProcessEntry("db", 3, 0.0, ["x"], "/l", 0.0))
    assert set(nested.entries()) == {"api", "db"}
