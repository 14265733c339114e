"""Steps that ship with the harness, for ``call = "harness.runtime.step_library:..."`` in stack.toml."""

from __future__ import annotations

import os
import shutil
import subprocess

from harness.errors import StepFailed
from harness.runtime.steps import StepContext


def ensure_binary(ctx: StepContext) -> None:
    """Make sure ``args.binary`` is on PATH; as root, install ``args.apt`` with apt-get if not.

    Anyone else gets a message naming the package to install, since installing needs root.
    """
    binary = str(ctx.args.get("binary", ctx.name))
    package = str(ctx.args.get("apt", binary))
    if shutil.which(binary, path=ctx.env.get("PATH")):
        ctx.say(f"{binary}: found at {shutil.which(binary, path=ctx.env.get('PATH'))}")
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise StepFailed(
            ctx.name,
            f"'{binary}' is not installed; install the Debian package '{package}' (sudo apt-get install -y {package})",
        )
    ctx.say(f"{binary}: not found; running apt-get install -y {package}")
    env = {**ctx.env, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "install", "-y", "-q", package],
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", package],
    ):
        res = subprocess.run(argv, stdout=ctx.log, stderr=subprocess.STDOUT, env=env, check=False)
        if res.returncode == 0 and argv[1] == "install":
            break
    if not shutil.which(binary, path=ctx.env.get("PATH")):
        raise StepFailed(ctx.name, f"apt-get could not install '{package}'; see {ctx.log_path}")
