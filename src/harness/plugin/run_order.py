"""Plugin hooks about when tests run: the gate at session start, and what a phase left for the next.

Registered by the pytest plugin (``pytest_configure``); pure Python and pytest, like it.

- Started while the stack came up (``gate.py``), a session waits at its start, before its
  header, any xdist worker or any test, until the harness says go (or why no test will run).
- In the ``parallel`` phase, the ``disruptive`` tests its marker expression deselected are
  counted (``protocol.disruptive_part`` in the run directory, read by ``suite/phases.py``), so the harness skips the
  disruptive phase, and its pytest's start, when there are none.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from . import gate
from .protocol import DISRUPTIVE, PARALLEL, PluginConfig, disruptive_part

_deselected: list[str] = []


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    reason = gate.wait_from_env()
    if reason is not None:
        pytest.exit(f"harness: no test ran: {reason}", returncode=pytest.ExitCode.INTERRUPTED)


def pytest_deselected(items: list[pytest.Item]) -> None:
    _deselected.extend(i.nodeid for i in items if i.get_closest_marker(DISRUPTIVE) is not None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = PluginConfig.current()
    if config.run_dir and config.phase == PARALLEL:
        who = getattr(session.config, "workerinput", {}).get("workerid", "main")
        (Path(config.run_dir) / disruptive_part(who)).write_text(json.dumps(sorted(set(_deselected))))
