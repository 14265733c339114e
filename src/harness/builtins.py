"""Kept so ``call = "harness.builtins:ensure_binary"`` in older stack files still works.

The steps that ship with the harness live in :mod:`harness.runtime.step_library`.
"""

import warnings

from harness.runtime.step_library import ensure_binary

warnings.warn(
    "harness.builtins is now harness.runtime.step_library; update `call =` in your stack.toml",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["ensure_binary"]
