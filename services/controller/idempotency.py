"""``Idempotency-Key``: a command repeated with the same key returns its first result, once.

The first request with a key claims it (an insert that only one of any number of concurrent
requests wins), runs, and stores its answer; the others wait for that answer and return it. The
same key with a different body is 409 naming the key. A request that was refused (4xx) or failed
frees its key, so it can be sent again.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert

from services.common.web import Rejected
from services.controller import db
from services.controller.models import IdempotencyKey

HEADER = "Idempotency-Key"
KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
WAIT_S = 60.0


def once(key: str | None, scope: str, body: Any, action: Callable[[], tuple[int, Any]]) -> JSONResponse:
    """``action()`` -> (status, payload), run at most once per (scope, key)."""
    if key is None:
        status, payload = action()
        return JSONResponse(jsonable_encoder(payload), status_code=status)
    if not KEY.match(key):
        raise Rejected(422, f"{HEADER} must be 1-128 letters, digits or '_.:-'", HEADER)
    digest = hashlib.sha256(json.dumps(jsonable_encoder(body), sort_keys=True).encode()).hexdigest()
    with db.session() as s:
        claimed = s.execute(
            insert(IdempotencyKey)
            .values(scope=scope, key=key, request_hash=digest)
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.key)
        ).first()
    if claimed is None:
        return _replay(key, scope, digest)
    try:
        status, payload = action()
    except BaseException:
        _release(scope, key)
        raise
    payload = jsonable_encoder(payload)
    if status >= 400:
        _release(scope, key)
    else:
        with db.session() as s:
            row = s.get(IdempotencyKey, (scope, key))
            assert row is not None
            row.status_code, row.response = status, payload
    return JSONResponse(payload, status_code=status)


def _replay(key: str, scope: str, digest: str) -> JSONResponse:
    deadline = time.monotonic() + WAIT_S
    while True:
        with db.session() as s:
            row = s.get(IdempotencyKey, (scope, key))
        if row is not None and row.request_hash != digest:
            raise Rejected(409, f"{HEADER} {key!r} was already used with a different request", HEADER)
        if row is not None and row.status_code is not None:
            return JSONResponse(row.response, status_code=row.status_code, headers={"Idempotent-Replayed": "true"})
        if row is None or time.monotonic() > deadline:
            raise Rejected(409, f"{HEADER} {key!r}: the first request with it did not finish; send it again", HEADER)
        time.sleep(0.05)


def _release(scope: str, key: str) -> None:
    with db.session() as s:
        s.execute(delete(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key))
