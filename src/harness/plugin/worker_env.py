"""In a pytest-xdist worker, the variables that point at its own copies of the stack's data.

The harness writes them per worker (``suite/isolation.py``) to the file ``WORKER_ENV_VAR`` names;
they are applied before the worker imports any conftest, so whatever a conftest or test reads
from the environment (``DB_DSN``, ``CACHE_URL``, a suite's own ``DATABASE_URL``) is the worker's.
"""

from __future__ import annotations

import json
import os
from collections.abc import MutableMapping

from .protocol import WORKER_ENV_VAR


class WorkerEnvError(Exception):
    """The file is unreadable, or says nothing of this worker."""


def apply(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set this worker's variables (none outside a worker, or without isolation); what was set."""
    env = os.environ if environ is None else environ
    where, worker = env.get(WORKER_ENV_VAR), env.get("PYTEST_XDIST_WORKER")
    if not where or not worker:
        return {}
    try:
        every = json.loads(open(where, encoding="utf-8").read())  # noqa: SIM115 - read whole, at once
    except (OSError, ValueError) as exc:
        raise WorkerEnvError(f"{WORKER_ENV_VAR}={where}: cannot read the workers' copies ({exc})") from None
    if worker not in every:
        raise WorkerEnvError(f"{WORKER_ENV_VAR}={where}: no copies for worker {worker} (made for {', '.join(every)})")
    own = {str(k): str(v) for k, v in every[worker].items()}
    env.update(own)
    return own
