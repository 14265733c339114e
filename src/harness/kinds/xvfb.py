"""A virtual X display; ``-displayfd`` tells us the moment it accepts clients."""

from __future__ import annotations

import os

from harness.kinds.base import Launch, LaunchContext, which
from harness.probes import AllOf, DisplayFdProbe, DisplayProbe, Probe


class XvfbKind:
    def launch(self, ctx: LaunchContext) -> Launch:
        binary = which("Xvfb", ctx.env, ctx.name, "install the Debian package 'xvfb' (apt-get install xvfb)")
        number = ctx.view.display_number
        # -displayfd writes to a file rather than a pipe: a pipe's read end closed early (or a
        # stray SIGPIPE) kills Xvfb with "Cannot write display number"; a file cannot.
        ctx.data_dir.mkdir(parents=True, exist_ok=True)
        report = ctx.data_dir / "displayfd"
        write_fd = os.open(report, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

        def close_write_end() -> None:
            os.close(write_fd)

        argv = [binary, f":{number}", "-displayfd", str(write_fd), "-screen", "0", ctx.svc.screen, "-nolisten", "tcp"]
        return Launch(
            argv=argv,
            pass_fds=(write_fd,),
            startup_probe=AllOf([DisplayFdProbe(report, number), DisplayProbe(number)]),
            after_spawn=close_write_end,
        )

    def probe(self, ctx: LaunchContext) -> Probe | None:
        return DisplayProbe(ctx.view.display_number)

    def after_ready(self, ctx: LaunchContext) -> None:
        return None


def display_holder(number: int) -> int | None:
    """The pid in ``/tmp/.X<n>-lock``, when another X server claims the display."""
    try:
        pid = int(open(f"/tmp/.X{number}-lock").read().strip())  # noqa: SIM115
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


XVFB = XvfbKind()
