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
    """``--isolate a,b`` as service names, each once; ``none`` (or nothing) isolates none."""
    names = list(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    return [] if names == ["none"] else names


def with_suite(plan: Plan, suite_name: str, *, profile: str | None, isolate: str | None) -> Plan:
    """The plan with suite ``suite_name`` running ``profile`` and isolating ``isolate`` (where given)."""
    changes: dict[str, object] = {}
    switches: dict[str, str] = {}  # the suite's key: the switch that set it
    if profile is not None:
        if profile not in plan.stack.profiles:
            known = ", ".join(plan.stack.profiles) or "none"
            raise HarnessError(f"--profile {profile}: unknown profile (profiles in {plan.file}: {known})")
        changes["profile"], switches["profile"] = profile, f"--profile {profile}"
    if isolate is not None:
        changes["isolate"], switches["isolate"] = isolate_list(isolate), f"--isolate {isolate}"
    if not changes:
        return plan
    suite = plan.stack.suites[suite_name].model_copy(update=changes)
    stack = plan.stack.model_copy(update={"suites": {**plan.stack.suites, suite_name: suite}})
    try:
        check_stack(stack, str(plan.file), KINDS)
    except ConfigError as exc:
        prefix = f"suites.{suite_name}."
        key = exc.key.removeprefix(prefix).split("[")[0].split(".")[0] if exc.key.startswith(prefix) else ""
        if key in switches:  # the switch's own value is at fault
            raise HarnessError(f"{switches[key]}: {exc.problem}") from None
        # A setting of the file that the switches make wrong (an isolate or coverage list naming a
        # service the other profile lacks): named where it is, and what would fix it.
        fix = " (or --isolate with services of that profile, or none)" if key == "isolate" else ""
        raise HarnessError(
            f"{' '.join(switches.values())}: {exc.file}: {exc.key}: {exc.problem}; "
            f"change it there or run without the switch{fix}"
        ) from None
    return dataclasses.replace(plan, stack=stack)
