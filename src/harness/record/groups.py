"""The group id of shards run without a CI to name their run: derived from what they ran.

Two shards started by hand (``--shard 1/2``, then ``--shard 2/2``) at the same code get the same
id, so ``harness merge`` takes them as one run's shards; a change to the code between them (a
new commit, an edit) gives the second another id, and the merge refuses to mix them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from harness.record.results import git_changes, git_commit


def local_group_id(root: Path, own_dirs: Sequence[Path], suite: str, shards: int) -> str:
    """``local-<commit>-<digest>``: the digest of the commit, the uncommitted changes (the
    harness's own state and logs left out), the suite and the number of shards."""
    commit = git_commit(root)
    tree = git_changes(root, own_dirs)["tree"]
    digest = hashlib.sha256("\0".join([commit, tree, suite, str(shards)]).encode()).hexdigest()[:8]
    return f"local-{commit[:12]}-{digest}"
