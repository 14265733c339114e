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
import os
import warnings
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


@pytest.hookimpl(trylast=True)  # after pytest-xdist's own, which adds the `@group` suffix
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Grouped tests that ``--dist loadgroup`` will not keep together are said, not left silent.

    pytest-xdist groups by the ``@group`` suffix it writes into each node id, which pytest 9.2
    ignores (pytest-dev/pytest-xdist#1386): the tests then run side by side as if ungrouped.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER") or not getattr(config.option, "loadgroup", False):
        return
    lost = [i.nodeid for i in items if i.get_closest_marker("xdist_group") is not None and "@" not in i.nodeid]
    if lost and os.environ["PYTEST_XDIST_WORKER"] == "gw0":  # once, not once per worker
        warnings.warn(
            pytest.PytestWarning(
                f"{len(lost)} tests marked xdist_group run ungrouped (e.g. {lost[0]}): this pytest-xdist does not "
                f"group under pytest {pytest.__version__} (pytest-dev/pytest-xdist#1386); use pytest < 9.2 or a "
                "pytest-xdist that fixes it"
            ),
            stacklevel=1,
        )


def pytest_deselected(items: list[pytest.Item]) -> None:
    _deselected.extend(i.nodeid for i in items if i.get_closest_marker(DISRUPTIVE) is not None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = PluginConfig.current()
    if config.run_dir and config.phase == PARALLEL:
        who = getattr(session.config, "workerinput", {}).get("workerid", "main")
        (Path(config.run_dir) / disruptive_part(who)).write_text(json.dumps(sorted(set(_deselected))))
