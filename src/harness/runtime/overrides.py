"""A suite's settings changed for one run from the command line (``--profile``, ``--isolate``).

The changed suite is checked exactly as stack.toml's suites are, so a switch cannot make a run
that the file could not declare; its errors name the switch, not a key of the file.
"""

from __future__ import annotations

import dataclasses

from harness.config.checks import check_stack
from harness.errors import ConfigError, HarnessError
from harness.kinds import KINDS
from harness.runtime.plan import Plan


def isolate_list(value: str) -> list[str]:
    """``--isolate a,b`` as service names; ``none`` (or nothing) isolates none."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    return [] if names == ["none"] else names


def with_suite(plan: Plan, suite_name: str, *, profile: str | None, isolate: str | None) -> Plan:
    """The plan with suite ``suite_name`` running ``profile`` and isolating ``isolate`` (where given)."""
    changes: dict[str, object] = {}
    switches = []
    if profile is not None:
        changes["profile"], switches = profile, [f"--profile {profile}"]
    if isolate is not None:
        changes["isolate"] = isolate_list(isolate)
        switches.append(f"--isolate {isolate}")
    if not changes:
        return plan
    suite = plan.stack.suites[suite_name].model_copy(update=changes)
    stack = plan.stack.model_copy(update={"suites": {**plan.stack.suites, suite_name: suite}})
    try:
        check_stack(stack, str(plan.file), KINDS)
    except ConfigError as exc:
        raise HarnessError(f"{' '.join(switches)}: {exc.problem}") from None
    return dataclasses.replace(plan, stack=stack)
