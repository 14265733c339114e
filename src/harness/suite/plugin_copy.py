"""The pytest plugin as a suite's Python sees it: ``plugin/`` copied whole onto its ``PYTHONPATH``.

So a project's own venv runs its suite with nothing of the harness installed (and nothing of the
harness's dependencies pulled in): the plugin needs only pytest (httpx for ``service_client``).
The folder is copied as it is, no file list: ``tests/unit/test_layout.py`` checks that nothing in
it imports the rest of the harness.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from harness import plugin

PACKAGE = "harness_suite_plugin"
MODULE = f"{PACKAGE}.pytest_plugin"


def plugin_dir(state_dir: Path) -> Path:
    """``<state dir>/suite-plugin``, holding ``harness_suite_plugin/``: this harness's ``plugin/``, fresh."""
    root = state_dir / "suite-plugin"
    package = root / PACKAGE
    shutil.rmtree(package, ignore_errors=True)  # no module left over from another harness version
    shutil.copytree(Path(plugin.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root
