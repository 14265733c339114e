"""A container node's supervised process: ``python -m harness.docker.follow CONTAINER GRACE``.

The harness supervises this process exactly as it does a native service's: its own process
group, its output appended to the service's log, the run's owner tag. It copies the container's
output (from the container's start: the engine keeps it), exits with the container's own exit
status when the container stops, and on SIGTERM or SIGINT stops the container through the
engine (its STOPSIGNAL, then KILL after GRACE seconds) and keeps copying what it still says.

Stopping through the engine, not by signalling a ``docker run`` client, matters: a client
signalled while it is still starting a container loses the signal and leaves the container
running. The handlers are installed before the docker SDK is imported (0.2 s), so a stop asked
for meanwhile is kept and carried out as soon as the container is known.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any

_asked = threading.Event()
_container: list[Any] = []  # set once the container is looked up


def _stop(grace: float) -> None:
    _asked.set()
    for container in _container:  # off the main thread: the output keeps being copied meanwhile
        threading.Thread(target=container.stop, kwargs={"timeout": int(grace)}, daemon=True).start()


def main(argv: list[str]) -> int:
    name, grace = argv[0], float(argv[1]) if len(argv) > 1 else 10.0

    def on_signal(signum: int, frame: FrameType | None) -> None:
        _stop(grace)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    import docker

    client = docker.from_env(timeout=None)  # a followed stream has no end but the container's
    try:
        container = client.containers.get(name)
    except docker.errors.NotFound:
        sys.stderr.write(f"harness: container {name} is gone\n")
        return 1
    _container.append(container)
    if _asked.is_set():
        _stop(grace)
    out = sys.stdout.buffer
    for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
        out.write(chunk)
        out.flush()
    status = container.wait()  # it has stopped: returns at once
    return int(status.get("StatusCode", 1)) & 0xFF


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
