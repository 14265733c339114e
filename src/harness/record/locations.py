"""Paths in a record made relative, so the record means the same on another machine.

The plugin gives a failed test's location as an absolute path, or relative to pytest's rootdir,
and the rootdir itself absolute: true only on the machine that ran the tests. A record is read
elsewhere (a CI merge job, a developer's checkout rerunning what failed in CI), so results.json
keeps locations relative to the repository (a CI annotation's ``file=`` is) and the rootdir
relative to the stack's directory (a rerun finds the tests from there).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def repository_root(path: Path) -> Path:
    """The checkout ``path`` is in (the nearest directory holding ``.git``), else ``path``."""
    here = Path(os.path.realpath(path))
    return next((d for d in (here, *here.parents) if (d / ".git").exists()), here)


def relocated(cases: Sequence[Mapping[str, Any]], rootdir: str, repo: Path) -> list[dict[str, Any]]:
    """The cases, each failure's ``location.file`` relative to ``repo`` (absolute if outside it)."""
    out = []
    for case in cases:
        where = case.get("location")
        if rootdir and where and where.get("file"):
            full = os.path.realpath(os.path.join(rootdir, where["file"]))
            case = {**case, "location": {**where, "file": _inside(full, repo)}}
        out.append(dict(case))
    return out


def relative_rootdir(rootdir: str, stack_root: Path) -> str:
    """pytest's rootdir relative to the stack's directory ("" when the plugin did not say)."""
    return Path(os.path.relpath(os.path.realpath(rootdir), os.path.realpath(stack_root))).as_posix() if rootdir else ""


def _inside(path: str, repo: Path) -> str:
    try:
        return Path(path).relative_to(repo).as_posix()
    except ValueError:
        return path
