"""Building a plan the way the CLI does: settings from flags and the environment, then the plan."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.config.settings import resolve_settings
from harness.runtime.plan import Plan, load_plan


def plan_of(path: Path, instance: int | str | None = 0, environ: dict[str, str] | None = None, **flags: Any) -> Plan:
    env = dict(os.environ) if environ is None else environ
    return load_plan(resolve_settings(stack=str(path), instance=instance, environ=env, **flags))
