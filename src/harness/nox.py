"""Kept so ``from harness.nox import suite_sessions`` in older noxfiles still works.

The nox front door lives in :mod:`harness.cli.nox_sessions`.
"""

import warnings

from harness.cli.nox_sessions import run_suite, suite_sessions

warnings.warn("harness.nox is now harness.cli.nox_sessions", DeprecationWarning, stacklevel=2)

__all__ = ["run_suite", "suite_sessions"]
