"""Coverage of the services under test (``[suites.X] coverage``): measured while the tests ran.

The services start under coverage.py through the interpreter's start-up hook, so their commands
stay as written: their environment gets ``COVERAGE_PROCESS_START`` (a configuration file this
run writes, one per service) and, first on ``PYTHONPATH``, a ``sitecustomize`` that calls
``coverage.process_startup()`` (then any ``sitecustomize`` it hides). Every process of the service,
its workers and restarts included, writes its own data file when it ends: normally, on SIGTERM
(``sigterm = true``: the harness's stop and its escalation's first signal), not on SIGKILL (a
process the escalation had to kill loses what it measured; the run says which services have no
data). After the teardown the files are combined: per service (its percentage), and into the
run directory's ``coverage.xml`` and ``coverage-html/``.

What is measured: ``coverage_source`` and ``coverage_omit`` of the suite, else the project's own
coverage configuration (``.coveragerc``, ``setup.cfg``, ``tox.ini``, ``pyproject.toml``), else
coverage.py's default (the code that is neither the standard library nor an installed package).
"""

from __future__ import annotations

import dataclasses
import io
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config.schema import Suite
from harness.errors import HarnessError
from harness.plugin.protocol import COVERAGE_TESTS_VAR, selectable
from harness.runtime.plan import Plan
from harness.runtime.session import Session
from harness.suite import impact
from harness.suite.command import looks_like_selection
from harness.suite.coverage_hook import HOOK
from harness.suite.outcome import RunRecord
from harness.suite.phases import Phase

PROJECT_CONFIGS = (".coveragerc", "setup.cfg", "tox.ini", "pyproject.toml")


@dataclass(frozen=True)
class Measured:
    """The services this run measures, and where their data goes."""

    services: tuple[str, ...]
    directory: Path  # <run dir>/coverage: a configuration file and a data directory per service
    source: tuple[str, ...]
    omit: tuple[str, ...]
    hook_dir: Path  # the start-up hook: not the services' code, never measured

    def rcfile(self, service: str) -> Path:
        return self.directory / f"{service}.coveragerc"

    def data_dir(self, service: str) -> Path:
        return self.directory / "data" / service

    @property
    def tests_dir(self) -> Path:
        """Where the plugin names the running test(s) and the services acknowledge (``running_test.py``)."""
        return self.directory / "tests"


def require() -> None:
    """coverage.py importable by the harness (it combines and reports), or a clear error."""
    try:
        import coverage  # noqa: F401
    except ImportError:
        raise HarnessError(
            "coverage is on for this suite, and coverage.py is not installed for the harness: "
            "pip install 'stack-harness[coverage]' (the services' interpreter needs it too)"
        ) from None


def for_run(plan: Plan, suite_name: str, asked: bool, *, reuse: bool, keep: bool) -> list[str]:
    """The services a run measures (``asked``: ``--coverage``); refused where they would not be."""
    covered = services_of(plan, suite_name, asked)
    if covered:
        require()
    if covered and (reuse or keep):
        raise HarnessError(
            f"{'--reuse' if reuse else '--keep'}: suites.{suite_name}.coverage measures the services this run "
            f"starts and stops (they save their data when they stop); run without it, or set coverage = false"
        )
    return covered


NARROWING = (
    "-k",
    "-m",
    "--lf",
    "--last-failed",
    "--deselect",
    "--ignore",
    "--sw",
    "--stepwise",
    "--maxfail",
    "-x",
    "--exitfirst",
)


def narrows(pytest_args: Sequence[str], cwd: Path) -> bool:
    """The arguments choose some of the suite's tests (by name, -k, -m, --lf, -x...); what an
    ``addopts`` deselects is seen after the run (its record's deselected tests)."""
    return any(
        looks_like_selection(a, cwd)
        or a.startswith(NARROWING)
        or (a.startswith("-") and not a.startswith("--") and "x" in a[1:])  # -xvs
        for a in pytest_args
    )


def services_of(plan: Plan, suite_name: str, asked: bool = False) -> list[str]:
    """The suite's ``coverage`` setting as service names (``true``, or ``asked`` by ``--coverage``
    where the suite names none: every Python service of the profile)."""
    suite = plan.stack.suites[suite_name]
    if suite.coverage is False and not asked:
        return []
    profile = [n for n in plan.profile_nodes(suite.profile) if plan.node(n).is_service]
    if not isinstance(suite.coverage, list):
        return [n for n in profile if _runs_python(plan, n)]
    for i, name in enumerate(suite.coverage):
        if not _runs_python(plan, name):
            raise HarnessError(
                f"{plan.file}: suites.{suite_name}.coverage[{i}]: '{name}' is not a Python program "
                f"(coverage.py measures Python services: a command that starts an interpreter or a Python script)"
            )
    return list(suite.coverage)


def _runs_python(plan: Plan, name: str) -> bool:
    node = plan.node(name)
    return node.kind.runs_python(node.model, node.rendered)


def prepare(
    plan: Plan, suite_name: str, services: Sequence[str], run_dir: Path, state_dir: Path
) -> tuple[Plan, Measured]:
    """Configuration files and the start-up hook written; the plan whose covered services start under them."""
    suite = plan.stack.suites[suite_name]
    source, omit = _what(plan, suite)
    hook_dir = state_dir / "coverage-hook"
    measured = Measured(tuple(services), run_dir / "coverage", tuple(source), tuple(omit), hook_dir)
    hook_dir.mkdir(parents=True, exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(HOOK)
    measured.tests_dir.mkdir(parents=True, exist_ok=True)
    nodes = dict(plan.nodes)
    for name in services:
        measured.data_dir(name).mkdir(parents=True, exist_ok=True)
        measured.rcfile(name).write_text(_rc(measured, name))
        node = plan.node(name)
        env = dict(node.env)
        env["COVERAGE_PROCESS_START"] = str(measured.rcfile(name))
        env[COVERAGE_TESTS_VAR] = str(measured.tests_dir)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(hook_dir), env.get("PYTHONPATH", "")) if p)
        nodes[name] = dataclasses.replace(node, env=env)
    return dataclasses.replace(plan, nodes=nodes), measured


def _what(plan: Plan, suite: Suite) -> tuple[list[str], list[str]]:
    """(source, omit): the suite's, else the project's coverage configuration's."""
    if suite.coverage_source or suite.coverage_omit:
        return [str(plan.root / s) for s in suite.coverage_source], list(suite.coverage_omit)
    import coverage

    for name in PROJECT_CONFIGS:
        path = plan.root / name
        if not path.is_file():
            continue
        try:
            config = coverage.Coverage(config_file=str(path))
            source, omit = config.get_option("run:source"), config.get_option("run:omit")
        except coverage.exceptions.CoverageException as exc:
            raise HarnessError(f"{path}: coverage.py cannot read it: {exc}") from None
        source = source if isinstance(source, list) else []
        omit = omit if isinstance(omit, list) else []
        if source or omit:
            return [str(plan.root / s) for s in source], list(omit)
    return [], []


def _rc(measured: Measured, service: str) -> str:
    lines = [
        "[run]",
        f"data_file = {measured.data_dir(service) / '.coverage'}",
        "parallel = true",  # every process its own file (workers, restarts)
        "sigterm = true",  # the harness stops services with SIGTERM: save then
    ]
    if measured.source:
        lines += ["source =", *(f"    {s}" for s in measured.source)]
    lines += ["omit =", *(f"    {s}" for s in (*measured.omit, f"{measured.hook_dir}/*"))]
    lines += ["[report]", "ignore_errors = true"]  # a measured file gone since (a test's temporary module)
    return "\n".join(lines) + "\n"


def combine(measured: Measured, not_started: Sequence[str]) -> dict[str, Any]:
    """The services' data combined after they stopped: each one's percentage, the total, the reports.

    ``not_started``: covered services this run did not start (they were up already), so not measured.
    """
    import coverage

    percent: dict[str, float] = {}
    missing: dict[str, str] = {s: "it was running before this run, not under coverage" for s in not_started}
    combined: list[str] = []
    for service in measured.services:
        if service in missing:
            continue
        data = measured.data_dir(service)
        if not any(data.glob(".coverage.*")):
            missing[service] = "no data: it never started, was killed (SIGKILL), or coverage is not installed for it"
            continue
        cov = coverage.Coverage(data_file=str(data / ".coverage"), config_file=str(measured.rcfile(service)))
        cov.combine([str(data)], keep=True)
        cov.save()
        try:
            percent[service] = round(cov.report(file=io.StringIO()), 2)
        except coverage.exceptions.NoDataError:
            missing[service] = "no data: none of its measured code ran"
            continue
        combined.append(str(data / ".coverage"))
    out: dict[str, Any] = {"services": percent, "missing": missing, "total": None, "xml": None, "html": None}
    if not combined:
        return out
    run_dir = measured.directory.parent
    total = coverage.Coverage(data_file=str(measured.directory / ".coverage"), config_file=False)
    total.set_option("report:ignore_errors", True)
    total.combine(combined, keep=True)
    total.save()
    out["total"] = round(total.report(file=io.StringIO()), 2)
    total.xml_report(outfile=str(run_dir / "coverage.xml"))
    total.html_report(directory=str(run_dir / "coverage-html"), show_contexts=True)
    out["xml"], out["html"] = "coverage.xml", "coverage-html/index.html"
    return out


def finish(record: RunRecord, measured: Measured, session: Session, phases: Sequence[Phase], *, full: bool) -> None:
    """The covered services' data combined into the record, now that the teardown stopped them;
    after a ``full`` run (no test chosen), the suite's test impact map made anew from it and the
    plugin's results (``record.pytest``, read before this runs)."""
    t0 = time.monotonic()
    try:
        record.coverage = combine(measured, not_started=session.preexisting())
    except Exception as exc:
        session.run.timeline.add("coverage", "failed", t0, str(exc))
        session.orch.console.print(f"[yellow]coverage: {exc}[/yellow]", highlight=False)
        return
    workers = max((p.workers for p in phases), default=0)
    record.coverage["contexts"] = (
        f"approximate: {workers} workers ran tests side by side; a line is attributed to its test and to "
        "every test running beside it"
        if workers
        else "exact: one test at a time, each service switched to it before it ran"
    )
    session.run.timeline.add("coverage", "ok", t0, summary_line(record.coverage))
    session.orch.console.print(summary_line(record.coverage), highlight=False)
    if full and record.coverage.get("total") is not None and _complete(record):
        _refresh_map(record, measured, session)


def _complete(record: RunRecord) -> bool:
    """Every test of the suite ran to its verdict: the map may list them all (one that did not run
    would never be chosen by ``--changed`` again). ``record.pytest``: what the plugin wrote."""
    if record.status not in ("passed", "failed"):  # interrupted, a configuration error, the stack failed
        return False
    cases = record.pytest.get("tests", [])
    return bool(cases) and not record.pytest.get("deselected") and all(c.get("outcome") != "not_run" for c in cases)


def _refresh_map(record: RunRecord, measured: Measured, session: Session) -> None:
    plan = session.orch.plan
    tests = [selectable(c["nodeid"]) for c in record.pytest.get("tests", []) if c.get("outcome") != "not_run"]
    rootdir = os.path.relpath(record.pytest.get("rootdir") or plan.root, plan.root)
    suite = plan.stack.suites[record.suite]
    paths = [os.path.relpath(plan.suites[record.suite].cwd / p, plan.root) for p in suite.paths] or ["."]
    try:
        made = impact.make_map(measured.directory / ".coverage", tests, rootdir, paths, plan.root)
        made["profile"] = suite.profile  # --changed on another profile cannot trust it
    except Exception as exc:
        session.orch.console.print(f"[yellow]test impact map not made: {exc}[/yellow]", highlight=False)
        return
    where = impact.map_path(plan.runs_dir.parent, record.suite)
    impact.save_map(where, made)
    if record.coverage is not None:
        record.coverage["impact_map"] = os.path.relpath(where, plan.root)


def summary_line(result: Mapping[str, Any]) -> str:
    """``coverage: 81.5% (controller 80.1%, worker 84.0%)``, and the services without data."""
    per = ", ".join(f"{s} {p:.1f}%" for s, p in result.get("services", {}).items())
    total = result.get("total")
    line = f"coverage: {total:.1f}%" + (f" ({per})" if per else "") if total is not None else "coverage: no data"
    missing = result.get("missing") or {}
    if missing:
        line += "; not measured: " + "; ".join(f"{s} ({why})" for s, why in missing.items())
    return line
