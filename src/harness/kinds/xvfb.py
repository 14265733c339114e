"""A virtual X display; ``-displayfd`` tells us the moment it accepts clients.

The display number shifts with the instance like a port does, and ``DISPLAY`` is exported to
every process and test.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field

from harness.config.endpoints import Endpoint
from harness.config.models import ServiceModel
from harness.errors import PortInUseError
from harness.host.probes import AllOf, Probe
from harness.kinds.base import Kind, Launch, ServiceContext, which


class XvfbService(ServiceModel):
    kind: Literal["xvfb"] = "xvfb"
    display: int = Field(99, ge=1, le=5000)
    screen: str = "1280x1024x24"


@dataclass(frozen=True)
class XvfbEndpoint(Endpoint):
    display_number: int = 0
    display: str = ""


Ctx = ServiceContext[XvfbService, XvfbEndpoint]


@dataclass
class DisplayProbe:
    """An X server completes the X11 connection handshake on its local socket."""

    display: int

    @property
    def what(self) -> str:
        return f"X display :{self.display}"

    def check(self, timeout: float) -> str | None:
        path = f"/tmp/.X11-unix/X{self.display}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(path)
                # Connection setup, little-endian, protocol 11.0, no authorization.
                sock.sendall(b"l\x00\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00")
                reply = sock.recv(8)
            except OSError as exc:
                return f"{path}: {exc.strerror or exc}"
        if not reply:
            return f"{path}: closed without answering the X11 handshake"
        if reply[0] != 1:
            return f"{path}: X server refused the connection (status {reply[0]})"
        return None


@dataclass
class DisplayFdProbe:
    """Xvfb writes its display number to ``-displayfd`` once it accepts clients (here, a file)."""

    path: Path
    display: int

    @property
    def what(self) -> str:
        return f"Xvfb to report display :{self.display} on -displayfd"

    def check(self, timeout: float) -> str | None:
        try:
            reported = self.path.read_text().strip()
        except OSError as exc:
            return f"{self.path}: {exc.strerror or exc}"
        if not reported:
            return "no display number reported yet"
        if reported != str(self.display):
            return f"Xvfb reported display :{reported}, expected :{self.display}"
        return None


def display_holder(number: int) -> int | None:
    """The pid in ``/tmp/.X<n>-lock``, when another X server claims the display."""
    try:
        pid = int(Path(f"/tmp/.X{number}-lock").read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


class XvfbKind(Kind[XvfbService, XvfbEndpoint]):
    name = "xvfb"
    starter = ("display", None)
    model = XvfbService

    def endpoint(self, svc: XvfbService, base: Endpoint, instance: int) -> XvfbEndpoint:
        number = svc.display + instance
        return XvfbEndpoint.extend(base, url=f":{number}", display_number=number, display=f":{number}")

    def exports(self, prefix: str, ep: XvfbEndpoint) -> dict[str, str]:
        return {"DISPLAY": ep.display}

    def pre_start(self, ctx: Ctx) -> None:
        from harness.host.processes import describe

        number = ctx.endpoint.display_number
        pid = display_holder(number)
        if pid is not None:
            raise PortInUseError(
                f"{ctx.name}: display :{number} is already held by {describe(pid)} "
                f"(/tmp/.X{number}-lock); stop it or use another instance"
            )

    def launch(self, ctx: Ctx) -> Launch:
        binary = which("Xvfb", ctx.env, ctx.name, "install the Debian package 'xvfb' (apt-get install xvfb)")
        number = ctx.endpoint.display_number
        # -displayfd writes to a file rather than a pipe: a pipe's read end closed early (or a
        # stray SIGPIPE) kills Xvfb with "Cannot write display number"; a file cannot.
        ctx.data_dir.mkdir(parents=True, exist_ok=True)
        report = ctx.data_dir / "displayfd"
        write_fd = os.open(report, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)

        def close_write_end() -> None:
            os.close(write_fd)

        argv = [binary, f":{number}", "-displayfd", str(write_fd), "-screen", "0", ctx.svc.screen, "-nolisten", "tcp"]
        return Launch(
            argv=argv,
            pass_fds=(write_fd,),
            startup_probe=AllOf([DisplayFdProbe(report, number), DisplayProbe(number)]),
            after_spawn=close_write_end,
        )

    def probe(self, ctx: Ctx) -> Probe | None:
        return DisplayProbe(ctx.endpoint.display_number)


XVFB = XvfbKind()
