"""Invoke tasks over the harness: its commands (up, down, status, logs...) and one task per
lifecycle step of stack.toml (``task =`` names and steps: ``invoke migrate``, ``invoke frontend``).

Settings live under ``harness`` (stack file, instance), overridable from ``invoke.yaml`` or
``INVOKE_HARNESS_STACK``; otherwise ``$HARNESS_STACK`` and ``$HARNESS_INSTANCE`` apply.
"""

from harness.cli.invoke_tasks import namespace

ns = namespace()
