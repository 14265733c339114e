"""Which backend runs the infrastructure: ``native`` processes, or ``docker`` compose.

``HARNESS_BACKEND=auto`` (the default) picks docker only when an engine answers and the stack
names a compose file; asking for docker explicitly without an engine is an error that says so.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.compose import docker_client
from harness.errors import HarnessError
from harness.plan import Plan

DAEMON_JSON = Path("/etc/docker/daemon.json")
PROBE_IMAGE = "harness-storage-probe:empty"


def engine_problem(timeout: float = 3.0) -> str | None:
    """None when a Docker engine answers (``DOCKER_HOST`` honoured), else why not."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        return f"nothing listens at {host}"  # said without importing the docker SDK (0.15 s)
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # the SDK raises several unrelated types for "no engine"
        text = str(exc)
        for needle, said in (
            ("FileNotFoundError", "nothing listens at"),
            ("No such file", "nothing listens at"),
            ("Connection refused", "connection refused at"),
            ("PermissionError", "permission denied on"),
            ("Permission denied", "permission denied on"),
        ):
            if needle in text:
                return f"{said} {host}"
        return f"{host}: {text.splitlines()[0] if text else type(exc).__name__}"
    return None


def select_backend(plan: Plan) -> str:
    """``native`` or ``docker`` for this run of the plan's stack."""
    choice = plan.settings.chosen_backend
    if choice == "native":
        return "native"
    has_compose = bool(plan.stack.stack.compose_file)
    if choice == "docker":
        if not has_compose:
            raise HarnessError(f"HARNESS_BACKEND=docker: stack.compose_file is not set in {plan.file}")
        problem = engine_problem()
        if problem:
            raise HarnessError(
                f"HARNESS_BACKEND=docker: no Docker engine answers ({problem}); "
                "start one (and set DOCKER_HOST if it listens elsewhere), or use HARNESS_BACKEND=native"
            )
        return "docker"
    return "docker" if has_compose and engine_problem() is None else "native"


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


def vfs_fix(console: Console, requested: str, *, apply: bool, daemon_json: Path = DAEMON_JSON) -> int:
    """Docker backend: can the engine start a container here, and if not, switch it to vfs."""
    if requested == "native":
        console.print("vfs-fix: HARNESS_BACKEND=native; the storage-driver fix only applies to docker: nothing to do.")
        return 0
    problem = engine_problem()
    if problem and requested == "docker":
        # `up` will refuse (exit 2) rather than fall back: say that, not "native is used".
        console.print(
            f"vfs-fix: HARNESS_BACKEND=docker but no Docker engine answers ({problem}); `up` will stop with "
            "an error until one does (start it, or set DOCKER_HOST), so there is no storage driver to check."
        )
        return 1
    if problem:
        console.print(
            f"vfs-fix: no Docker engine answers ({problem}); with HARNESS_BACKEND=auto the native backend is "
            "used, and the storage-driver fix only applies to docker: nothing to do."
        )
        return 0
    driver, failure = storage_problem()
    if failure is None:
        console.print(f"vfs-fix: the engine starts containers with storage driver '{driver}': nothing to do.")
        return 0
    console.print(f"vfs-fix: the engine cannot start a container with storage driver '{driver}': {failure}")
    if driver == "vfs":
        raise HarnessError("vfs-fix: the engine already uses vfs and still cannot start a container; see above")
    if not apply:
        console.print(
            f"vfs-fix: this happens with nested Docker; `invoke vfs-fix --apply` sets storage-driver "
            f"'vfs' in {daemon_json} (then restart the Docker daemon)."
        )
        return 1
    path = apply_vfs(daemon_json)
    console.print(f"vfs-fix: wrote storage-driver 'vfs' to {path}; restart the Docker daemon for it to apply.")
    return 0
