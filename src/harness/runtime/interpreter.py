"""The project's interpreter: ``[stack] python``, rendered, made absolute, and checked to exist.

A typo here used to run silently with whatever ``python`` came first on PATH (the harness's own),
and the user saw another problem entirely (an unknown pytest option, a missing module). Now the
key and the path are named at load.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from harness.config.schema import Stack
from harness.config.templates import render
from harness.errors import ConfigError


def project_python(stack: Stack, ctx: Mapping[str, Any]) -> str:
    """``{python}``: ``[stack] python`` (placeholders allowed), else the harness's own interpreter.

    Absolute but not resolved: a venv's ``bin/python`` is a link to the base interpreter, and
    following it would run the base interpreter without the venv's packages.
    """
    if not stack.stack.python:
        return sys.executable
    fname = str(stack.file)
    value = render(stack.stack.python, ctx, stack.file, "stack.python")
    path = os.path.abspath(stack.root / os.path.expanduser(value))
    if not os.path.exists(path):
        gone = f" (a link to {os.readlink(path)}, which does not exist)" if os.path.islink(path) else ""
        raise ConfigError(fname, "stack.python", f"{path} does not exist{gone}; give the project's interpreter")
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise ConfigError(fname, "stack.python", f"{path} is not an executable file; give the project's interpreter")
    return path
