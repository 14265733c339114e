"""Stand-ins for actions/upload-artifact@v4 and actions/download-artifact@v4 under `act`.

`act` cannot clone the real actions here (no network but the package registries), and their
code may not be copied into this repository. ``scripts/act_workflows.py`` maps both actions to
composite stand-ins (``.github/act/*/action.yml``, ``act --local-repository``) that run this
file: the artifacts v4 protocol (the results service's twirp API, which act's artifact server
implements) with the standard library, and the inputs and outputs the workflows use, with the
real actions' meaning:

- upload: ``path`` (lines of files, directories or globs; ``!`` excludes), files stored relative
  to the paths' least common ancestor, hidden files left out unless ``include-hidden-files``,
  ``if-no-files-found`` (warn, error, ignore), a name already uploaded in the run is an error
  unless ``overwrite``; output ``artifact-id``.
- download: ``name`` (into ``path`` itself), else every artifact matching ``pattern`` (all when
  empty), each into ``path/<name>/`` unless ``merge-multiple``; output ``download-path``.

Inputs arrive as ``INPUT_<NAME>`` environment variables, dashes as underscores (set by the action.yml files).
"""

from __future__ import annotations

import base64
import fnmatch
import glob
import hashlib
import http.client
import io
import json
import os
import re
import sys
import urllib.request
import zipfile
from pathlib import Path

SERVICE = "twirp/github.actions.results.api.v1.ArtifactService"


def say(line: str) -> None:
    print(line, flush=True)


def fail(message: str) -> None:
    say(f"::error::{message}")
    sys.exit(1)


def value(name: str, default: str = "") -> str:
    return os.environ.get(f"INPUT_{name.upper().replace('-', '_')}", "").strip() or default


def flag(name: str) -> bool:
    return value(name, "false").lower() == "true"


def backend_ids() -> tuple[str, str]:
    """The run's and the job's ids, from the runtime token's ``scp`` claim (as @actions/artifact reads them)."""
    token = os.environ.get("ACTIONS_RUNTIME_TOKEN", "")
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        fail("ACTIONS_RUNTIME_TOKEN is missing or not a JWT: is act's artifact server on (--artifact-server-path)?")
    for scope in str(claims.get("scp", "")).split():
        parts = scope.split(":")
        if parts[0] == "Actions.Results" and len(parts) == 3:
            return parts[1], parts[2]
    fail(f"no Actions.Results scope in the runtime token's claims: {claims}")
    raise AssertionError  # fail() exits


def call(method: str, body: dict[str, object]) -> dict[str, object]:
    base = os.environ.get("ACTIONS_RESULTS_URL", "")
    if not base:
        fail("ACTIONS_RESULTS_URL is not set: is act's artifact server on (--artifact-server-path)?")
    run_id, job_id = backend_ids()
    request = urllib.request.Request(
        f"{base.rstrip('/')}/{SERVICE}/{method}",
        data=json.dumps({"workflow_run_backend_id": run_id, "workflow_job_run_backend_id": job_id, **body}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {os.environ['ACTIONS_RUNTIME_TOKEN']}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"{}")  # type: ignore[no-any-return]


def listed() -> list[dict[str, object]]:
    """The run's artifacts. act's server drops the connection (a panic) when the run has none yet."""
    try:
        return list(call("ListArtifacts", {}).get("artifacts", []))  # type: ignore[call-overload]
    except http.client.RemoteDisconnected:
        return []


def output(name: str, text: str) -> None:
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(f"{name}={text}\n")


def search(lines: list[str], include_hidden: bool) -> tuple[list[Path], Path]:
    """The files the ``path`` input names (``!`` lines exclude), and the root they are stored under:
    the least common ancestor of each line's search path (the part before its first wildcard)."""
    workspace = Path(os.environ.get("GITHUB_WORKSPACE", "."))
    files: set[Path] = set()
    roots: list[Path] = []
    for line in lines:
        pattern = str(workspace / line.removeprefix("!"))  # an absolute line stays absolute
        found: set[Path] = set()
        for match in map(Path, glob.glob(pattern, recursive=True)):
            found |= {p for p in match.rglob("*") if p.is_file()} if match.is_dir() else {match}
        if line.startswith("!"):
            files -= found
            continue
        literal = Path(re.split(r"[*?[]", pattern)[0]) if glob.has_magic(pattern) else Path(pattern)
        roots.append(literal if literal.is_dir() else literal.parent)
        files |= found
    root = Path(os.path.commonpath([str(r.resolve()) for r in roots])) if roots else workspace.resolve()
    if not include_hidden:
        files = {f for f in files if not any(p.startswith(".") for p in f.resolve().relative_to(root).parts)}
    return sorted(files), root


def upload() -> None:
    name = value("name", "artifact")
    lines = [line.strip() for line in value("path").splitlines() if line.strip()]
    files, root = search(lines, flag("include-hidden-files"))
    if not files:
        where = value("path").replace("\n", ", ")
        behaviour = value("if-no-files-found", "warn")
        if behaviour == "error":
            fail(f"No files were found with the provided path: {where}. No artifacts will be uploaded.")
        if behaviour == "warn":
            say(f"::warning::No files were found with the provided path: {where}. No artifacts will be uploaded.")
        else:
            say(f"No files were found with the provided path: {where}. No artifacts will be uploaded.")
        return
    if any(a.get("name") == name for a in listed()):
        if not flag("overwrite"):
            fail(f"Failed to CreateArtifact: an artifact with this name already exists on the workflow run: {name}")
        call("DeleteArtifact", {"name": name})
    buffer = io.BytesIO()
    level = int(value("compression-level", "6"))
    method = zipfile.ZIP_DEFLATED if level else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", method, compresslevel=level or None) as zf:
        for path in files:
            zf.write(path, path.resolve().relative_to(root).as_posix())
    data = buffer.getvalue()
    created = call("CreateArtifact", {"name": name, "version": 4})
    url = str(created.get("signedUploadUrl") or created.get("signed_upload_url") or "")
    if not url:
        fail(f"CreateArtifact gave no upload URL: {created}")
    put = urllib.request.Request(
        f"{url}&comp=block", data=data, method="PUT", headers={"Content-Type": "application/octet-stream"}
    )
    urllib.request.urlopen(put, timeout=300).close()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    final = call("FinalizeArtifact", {"name": name, "size": str(len(data)), "hash": digest})
    artifact_id = str(final.get("artifactId") or final.get("artifact_id") or "")
    say(f"Artifact {name} has been successfully uploaded! Final size is {len(data)} bytes. Artifact ID: {artifact_id}")
    say(f"({len(files)} files, stored relative to {root})")
    output("artifact-id", artifact_id)


def download() -> None:
    name, pattern = value("name"), value("pattern")
    target = Path(os.environ.get("GITHUB_WORKSPACE", "."), value("path", "."))
    artifacts = listed()
    if name:
        chosen = [a for a in artifacts if a.get("name") == name]
        if not chosen:
            fail(f"Artifact not found for name: {name}")
    else:
        chosen = [a for a in artifacts if not pattern or fnmatch.fnmatchcase(str(a.get("name")), pattern)]
    into_own_dir = not name and not flag("merge-multiple")
    for artifact in sorted(chosen, key=lambda a: str(a.get("name"))):
        art = str(artifact["name"])
        signed = call("GetSignedArtifactURL", {"name": art})
        url = str(signed.get("signedUrl") or signed.get("signed_url") or "")
        with urllib.request.urlopen(url, timeout=300) as response:
            data = response.read()
        where = target / art if into_own_dir else target
        where.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            zf.extractall(where)
        say(f"Artifact {art} ({len(data)} bytes) downloaded to {where}")
    say(f"Total of {len(chosen)} artifact(s) downloaded")
    output("download-path", str(target.resolve()))


if __name__ == "__main__":
    {"upload": upload, "download": download}[sys.argv[1]]()
