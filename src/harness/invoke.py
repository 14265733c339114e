"""Kept so ``from harness.invoke import namespace`` in older tasks.py files still works.

The Invoke front door lives in :mod:`harness.cli.invoke_tasks`.
"""

import warnings

from harness.cli.invoke_tasks import make_task, namespace

warnings.warn("harness.invoke is now harness.cli.invoke_tasks", DeprecationWarning, stacklevel=2)

__all__ = ["make_task", "namespace"]
