"""A suite's test command and what its pytest is told: the argv, and the plugin's config.

The argv is the suite's command, its marker expression (or its phase's), xdist workers, its
paths (unless tests were named after ``--``), its own arguments, JUnit and the plugin; the
plugin's config (``protocol.PluginConfig``) carries the stack's conventions and the run's switches.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from harness.errors import HarnessError
from harness.plugin.protocol import PluginConfig
from harness.runtime.plan import Plan
from harness.suite import plugin_copy
from harness.suite.phases import Phase

PYTEST_EXIT = {
    0: "passed",
    1: "tests failed",
    2: "interrupted",
    3: "pytest internal error",
    4: "pytest usage error",
    5: "no tests were selected",
}


def looks_like_selection(arg: str, root: Path) -> bool:
    """A pytest argument naming a file, directory or node id (which replaces the suite's paths)."""
    if arg.startswith("-"):
        return False
    return "::" in arg or (root / arg).exists()


FEW_TESTS = 3  # test ids: more (a --changed or --failed-from selection, say) run on the suite's workers


def few_tests(args: Sequence[str], root: Path) -> bool:
    """The arguments select a few tests: one file, or up to ``FEW_TESTS`` test ids (no directory)."""
    chosen = [a for a in args if looks_like_selection(a, root)]
    if not chosen or not all("::" in a or (root / a).is_file() for a in chosen):
        return False
    files = [a for a in chosen if "::" not in a]
    return (len(files), len(chosen)) == (1, 1) or (not files and len(chosen) <= FEW_TESTS)


def test_command(
    plan: Plan, suite_name: str, pytest_args: Sequence[str], junit: Path, phase: Phase | None = None
) -> list[str]:
    suite = plan.stack.suites[suite_name]
    argv = list(plan.suites[suite_name].argv)
    # The interpreter as it will be found, in full: shown in the echoed command and the record.
    path = os.pathsep.join([*plan.suites[suite_name].path, plan.env.get("PATH", os.defpath)])
    found = shutil.which(argv[0], path=path)
    if found is None:
        raise HarnessError(
            f"suites.{suite_name}.command: {argv[0]!r} is not found on the suite's PATH ({plan.file}); "
            "give a full path, or {python} for the stack's interpreter"
        )
    argv[0] = found
    markers = phase.markers if phase is not None else suite.markers
    if markers:
        argv += ["-m", markers]
    if phase is not None and phase.workers:
        argv += ["-n", str(phase.workers)]
    # Paths after `--` are the suite's own (relative to its cwd), and replace its configured ones.
    if not any(looks_like_selection(a, plan.suites[suite_name].cwd) for a in pytest_args):
        argv += list(suite.paths)
    argv += [*suite.args, f"--junitxml={junit}", *(["-p", plugin_copy.MODULE] if suite.plugin else []), *pytest_args]
    return argv


def plugin_config(plan: Plan, suite_name: str | None = None, **run: object) -> PluginConfig:
    """How the plugin reads this stack's tests (id marker, tiers, endpoint folding, allowances),
    and, for a suite, its switches; ``run`` adds the run's own fields (run_dir, run_id, shard...)."""
    tests = plan.stack.tests
    suite = plan.stack.suites[suite_name] if suite_name else None
    return PluginConfig(
        id_marker=tests.id_marker,
        id_pattern=tests.id_pattern,
        tier_prefix=tests.tier_prefix,
        routes=tuple((r.pattern, r.replace) for r in tests.routes),
        # Services whose log lines are not checked for errors (`backend_errors = false`).
        backend_errors_ignore=tuple(n for n, s in plan.stack.services.items() if not s.backend_errors),
        allowed_errors=tuple((a.pattern, a.service) for a in tests.allow_backend_errors),
        backend_errors=suite.backend_errors if suite else True,
        watch=suite.watch if suite else True,
        stop_on_backend_error=suite.stop_on_backend_error if suite else False,
        stop_on_death=plan.settings.chosen_stop_on_death(suite.stop_on_death if suite else None),
        **run,  # type: ignore[arg-type]
    )
