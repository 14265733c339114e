"""The controller's OpenAPI schema, written from the app without starting a server.

The frontend's API types are generated from this file (``openapi-typescript``), so a change to a
response model changes the types the UI compiles against, and a change that breaks the UI fails
the frontend build (``tsc --noEmit``) naming the field, before any browser starts.

    python -m services.controller.openapi frontend/openapi.json
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any


def schema() -> dict[str, Any]:
    from services.controller.app import app

    return app.openapi()


def write(target: Path) -> Path:
    """Write the schema atomically; unchanged content keeps the file (and its mtime) as it is."""
    text = json.dumps(schema(), indent=2, sort_keys=True) + "\n"
    if target.exists() and target.read_text() == text:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, target)
    return target


def write_step(ctx: Any) -> None:
    """The harness step: target from ``args.target`` (relative to the stack root)."""
    target = write(ctx.root / ctx.args.get("target", "frontend/openapi.json"))
    ctx.say(f"openapi: wrote {target}")


if __name__ == "__main__":
    print(write(Path(sys.argv[1] if len(sys.argv) > 1 else "frontend/openapi.json")))
