"""A directory made once per key and copied afterwards: cold-start work a kind need not repeat.

The postgres kind keeps the cluster ``initdb`` made (per server binary, and the settings initdb
fixes) and copies it into a new instance instead of running initdb again. Entries live under
``$HARNESS_CACHE_DIR`` (default ``$XDG_CACHE_HOME/harness`` or ``~/.cache/harness``), are
written to a temporary name and renamed, so a half-written entry is never used, and are keyed
by a hash of everything that shaped them. ``--no-cache`` (``HARNESS_NO_CACHE=1``) ignores the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

COMPLETE = ".harness-cache-entry.json"


def cache_root(env: Mapping[str, str], *, no_cache: bool = False) -> Path | None:
    """Where entries live; None when caches are off (``no_cache``: the run's setting)."""
    if no_cache:
        return None
    if env.get("HARNESS_CACHE_DIR"):
        return Path(env["HARNESS_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(base) / "harness"


def materialize(
    kind: str, key: Mapping[str, str], target: Path, make: Callable[[Path], None], root: Path | None
) -> str:
    """Fill ``target`` from the cache entry for ``key`` under ``root``, or ``make`` it and keep a copy.

    Returns ``"restored"`` or ``"made"``. A cache that cannot be written is not an error: the
    directory was made, and the next start makes it again.
    """
    if root is None:
        make(target)
        return "made"
    digest = hashlib.sha256(json.dumps(dict(key), sort_keys=True).encode()).hexdigest()[:20]
    entry = root / kind / digest
    if (entry / COMPLETE).is_file():
        shutil.copytree(entry / "dir", target, symlinks=True)
        return "restored"
    make(target)
    tmp = root / kind / f".tmp-{uuid.uuid4().hex[:8]}"
    try:
        shutil.copytree(target, tmp / "dir", symlinks=True)
        (tmp / COMPLETE).write_text(json.dumps(dict(key), sort_keys=True))
        os.rename(tmp, entry)
    except OSError:  # read-only home, a full disk, another run that stored it first
        shutil.rmtree(tmp, ignore_errors=True)
    return "made"


def chown_tree(path: Path, uid: int, gid: int) -> None:
    """A restored copy belongs to whoever copied it; the server's user must own it."""
    os.chown(path, uid, gid)
    for parent, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(parent, name), uid, gid, follow_symlinks=False)
