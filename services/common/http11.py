"""uvicorn's h11 protocol, answering requests it cannot parse instead of resetting the connection.

uvicorn answers a request h11 refuses (headers over its 16 KiB buffer, a malformed request line)
with a bare 400 and closes the socket at once; with the client still sending, the unread bytes
make the kernel reset the connection, so the client sees a reset, not the answer. Here the status
is h11's own hint (431 for headers too large, 400 otherwise), the body a JSON error like every
other refusal of the services, and the connection is closed gracefully: the answer is sent, the
sending side shut, and what the client still sends is read and dropped (up to a bound, for a few
seconds) before the socket is closed.

    uvicorn services.controller.app:app --http services.common.http11:Protocol
"""

from __future__ import annotations

import json
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

DRAIN_BYTES = 4 * 1024 * 1024
DRAIN_SECONDS = 5.0
log = logging.getLogger("uvicorn.error")


class Protocol(H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._error: h11.RemoteProtocolError | None = None
        self._draining: int | None = None  # bytes dropped since the answer, once answering
        next_event = self.conn.next_event

        def remember_errors() -> Any:
            try:
                return next_event()
            except h11.RemoteProtocolError as exc:
                self._error = exc
                raise

        self.conn.next_event = remember_errors  # type: ignore[method-assign]

    def data_received(self, data: bytes) -> None:
        if self._draining is None:
            return super().data_received(data)
        self._draining += len(data)
        if self._draining > DRAIN_BYTES:
            self.transport.close()

    def eof_received(self) -> bool | None:
        if self._draining is not None:
            self.transport.close()
            return False
        return super().eof_received()  # type: ignore[no-any-return]

    def send_400_response(self, msg: str) -> None:
        status = getattr(self._error, "error_status_hint", 400) or 400
        if status == 431:
            message = "the request's headers are larger than this server accepts"
        else:
            message = f"the request cannot be parsed: {self._error or msg}"
        body = json.dumps({"error": message}).encode()
        head = (
            f"HTTP/1.1 {status} {'Request Header Fields Too Large' if status == 431 else 'Bad Request'}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        log.info("refused an unparsable request with %d: %s", status, self._error or msg)
        self.transport.write(head.encode() + body)
        self._draining = 0
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(DRAIN_SECONDS, self.transport.close)
