"""What every service's FastAPI app shares: request logging, JSON errors, health answers."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

REQUEST_LOG = logging.getLogger("requests")


def configure_logging(service: str) -> None:
    logging.basicConfig(
        stream=sys.stdout,
        level=logging.INFO,
        format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.getLogger("uvicorn.access").disabled = True  # our own line per request replaces it


class Rejected(Exception):
    """A request refused with a status, a message and the field at fault (a JSON 4xx)."""

    def __init__(self, status: int, message: str, field: str | None = None, **extra: object) -> None:
        super().__init__(message)
        self.status, self.message, self.field, self.extra = status, message, field, extra


def error(status: int, message: str, field: str | None = None, **extra: object) -> JSONResponse:
    body: dict[str, object] = {"error": message, **extra}
    if field:
        body["field"] = field
    return JSONResponse(body, status_code=status)


def install(app: FastAPI, service: str) -> None:
    """One log line per request, and 422s that name the field instead of a pydantic dump."""
    configure_logging(service)

    @app.middleware("http")
    async def log_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        t0 = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            logging.getLogger(service).exception("unhandled error on %s %s", request.method, request.url.path)
            response = error(500, "internal error")
        ms = (time.perf_counter() - t0) * 1000
        session = request.headers.get("x-session-id", "-")
        REQUEST_LOG.info(
            "%s %s %s %.1fms session=%s", request.method, request.url.path, response.status_code, ms, session
        )
        return response

    @app.exception_handler(Rejected)
    async def rejected(request: Request, exc: Rejected) -> JSONResponse:
        return error(exc.status, exc.message, exc.field, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body",)]
        field = ".".join(loc) or "body"
        return error(
            422,
            f"{field}: {first.get('msg', 'invalid')}",
            field=field,
            problems=[
                {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": e.get("msg", "")}
                for e in exc.errors()
            ],
        )


def health(checks: dict[str, Callable[[], str | None]], **info: object) -> JSONResponse:
    """200 ``{"status": "healthy"}`` when every check passes, else 503 naming the failing ones."""
    failing = {}
    for name, check in checks.items():
        try:
            problem = check()
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            failing[name] = problem
    if failing:
        return JSONResponse({"status": "unhealthy", "failing": failing, **info}, status_code=503)
    return JSONResponse({"status": "healthy", "checks": sorted(checks), **info})
