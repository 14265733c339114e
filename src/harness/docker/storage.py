"""Can the engine start a container with its storage driver here, and switching it to vfs.

Nested Docker (an engine inside a container whose own root is overlayfs) cannot mount overlay2;
``vfs`` works anywhere, slowly. Nothing is changed without being asked (``vfs-fix --apply``).
"""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from harness.docker.engine import docker_client
from harness.errors import HarnessError

DAEMON_JSON = Path("/etc/docker/daemon.json")
PROBE_IMAGE = "harness-storage-probe:empty"


def _probe_image(client: Any) -> str:
    """An empty image (imported from an empty tar: no registry needed) to test storage with."""
    import docker

    try:
        client.images.get(PROBE_IMAGE)
    except docker.errors.ImageNotFound:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w"):
            pass
        repo, tag = PROBE_IMAGE.split(":")
        client.api.import_image_from_data(buf.getvalue(), repository=repo, tag=tag)
    return PROBE_IMAGE


def storage_problem() -> tuple[str, str | None]:
    """(the engine's storage driver, why a container cannot start with it or None).

    The probe container's command does not exist: an "executable not found" error means the
    root filesystem was mounted (storage works); a mount error means the driver cannot work
    here, as with overlay2 inside a container whose own root is overlayfs.
    """
    import docker

    client = docker_client()
    driver = str(client.info().get("Driver", "unknown"))
    image = _probe_image(client)
    container = None
    try:
        container = client.containers.create(image, ["/harness-storage-probe"], network_mode="none")
        container.start()
    except docker.errors.APIError as exc:
        text = str(exc)
        if "harness-storage-probe" in text and ("no such file" in text or "not found" in text):
            return driver, None
        return driver, text.splitlines()[0]
    finally:
        if container is not None:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
    return driver, None


def apply_vfs(path: Path = DAEMON_JSON) -> Path:
    """Set ``storage-driver: vfs`` in the daemon's configuration, keeping every other setting.

    The previous file is kept beside it as ``daemon.json.bak``.
    """
    try:
        config = json.loads(path.read_text()) if path.exists() else {}
    except ValueError as exc:
        raise HarnessError(f"{path} is not valid JSON ({exc}); fix it by hand") from None
    if not isinstance(config, dict):
        raise HarnessError(f"{path} does not hold a JSON object; fix it by hand")
    try:
        if path.exists():
            path.with_suffix(".json.bak").write_text(path.read_text())
        config["storage-driver"] = "vfs"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=2) + "\n")
    except PermissionError:
        raise HarnessError(f"cannot write {path}: run vfs-fix --apply as root") from None
    return path
