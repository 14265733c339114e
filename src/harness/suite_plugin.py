"""The pytest plugin as a suite's Python sees it: a directory holding only the plugin and its
pure-Python helpers, put on the suite's ``PYTHONPATH``.

So a project's own venv runs its suite with nothing of the harness installed (and nothing of the
harness's dependencies pulled in): the plugin needs only pytest (httpx for ``service_client``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

PACKAGE = "harness_suite_plugin"
MODULE = f"{PACKAGE}.pytest_plugin"
FILES = (
    "pytest_plugin.py",
    "fixtures.py",
    "cases.py",
    "latency.py",
    "names.py",
    "shards.py",
    "liveness.py",
    "backend_errors.py",
    "browser.py",
    "gate.py",
    "run_order.py",
)


def plugin_dir(state_dir: Path) -> Path:
    """``<state dir>/suite-plugin``, holding ``harness_suite_plugin/`` freshly copied from this harness."""
    root = state_dir / "suite-plugin"
    package = root / PACKAGE
    package.mkdir(parents=True, exist_ok=True)
    here = Path(__file__).parent
    for name in FILES:
        shutil.copyfile(here / name, package / name)
    (package / "__init__.py").write_text('"""The harness\'s pytest plugin, for a suite\'s own Python."""\n')
    return root
