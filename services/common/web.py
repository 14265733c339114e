"""What every service's FastAPI app shares: request logging, JSON errors, health answers, and the
first line of defence against hostile requests (NUL bytes in the URL, oversized bodies)."""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_LOG = logging.getLogger("requests")
NO_NUL = r"^[^\x00]*$"  # a pydantic pattern: text a database (or a file system) can store


class BodyLimit:
    """ASGI middleware: a body over ``limit`` bytes is 413 naming the limit, declared or streamed.

    The body is read here first (the app would read it whole anyway), so an oversized one is
    refused before any handler sees it.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    def _refuse(self) -> JSONResponse:
        return error(413, f"the request body is larger than this service's limit of {self.limit} bytes", "body")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await self._refuse()(scope, receive, send)
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.limit:
                return await self._refuse()(scope, receive, send)
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def settle_imports() -> None:
    """Keep the garbage collector off what the imports made (long-lived: modules, classes).

    Besides sparing every collection a pass over them, it takes the collection at interpreter
    exit from ~0.3 s to ~0.05 s: a stop under SIGTERM is that much faster.
    """
    gc.collect()
    gc.freeze()


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


def install(app: FastAPI, service: str, *, max_body: int | None = None) -> None:
    """One log line per request, 422s that name the field instead of a pydantic dump, no NUL bytes
    in URLs, and (with ``max_body``) a cap on request bodies."""
    configure_logging(service)
    settle_imports()

    @app.middleware("http")
    async def log_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        t0 = time.perf_counter()
        try:
            if "\x00" in request.url.path or "%00" in request.url.path.lower():
                response = error(400, "the URL path contains a NUL byte", "path")
            elif "%00" in request.url.query.lower() or "\x00" in request.url.query:
                response = error(400, "the query string contains a NUL byte", "query")
            else:
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

    if max_body is not None:
        app.add_middleware(BodyLimit, limit=max_body)

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
