"""Bounds on what one HTTP client can make a service hold (ARCHITECTURE §9): the size of a request's head
and the time to send it, enforced by the HTTP protocol uvicorn runs (`http_protocol`, used by
`sandbox serve`), and the size of its body and the time to send it (`BodyLimitMiddleware`).

uvicorn runs httptools, which accumulates a head of any size (`h11_max_incomplete_event_size` only
applies to h11, which is about three times slower) and neither protocol times out a client that sends
its head slowly. Defaults below; each can be set with the `SANDBOX_HTTP_*` environment variable named
beside it.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, fields
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

ENV_PREFIX = "SANDBOX_HTTP_"


@dataclass(frozen=True)
class HTTPLimits:
    max_header_bytes: int = 64 * 1024  # SANDBOX_HTTP_MAX_HEADER_BYTES: request line and headers
    header_seconds: float = 10.0  # SANDBOX_HTTP_HEADER_SECONDS: from a request's first byte to its last header
    body_seconds: float = 30.0  # SANDBOX_HTTP_BODY_SECONDS: from the request's start to its body's last byte
    keep_alive_seconds: int = 5  # SANDBOX_HTTP_KEEP_ALIVE_SECONDS: an idle connection is closed after this
    max_connections: int = 1000  # SANDBOX_HTTP_MAX_CONNECTIONS: beyond this, new requests are answered 503

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> HTTPLimits:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = environ.get(ENV_PREFIX + field.name.upper())
            if raw is not None:
                values[field.name] = type(field.default)(raw)
        return cls(**values)

    def uvicorn_options(self) -> dict[str, Any]:
        """Keyword arguments of `uvicorn.run` / `uvicorn.Config` that apply these limits."""
        return {
            "http": http_protocol(self),
            "h11_max_incomplete_event_size": self.max_header_bytes,  # the same bound should h11 be chosen
            "timeout_keep_alive": self.keep_alive_seconds,
            "limit_concurrency": self.max_connections,
        }


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request head is too large or too slow."""

    max_head_bytes = HTTPLimits.max_header_bytes
    head_seconds = HTTPLimits.header_seconds

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._in_head, self._head_bytes = True, 0
        self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(self.head_seconds, self._head_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(self.head_seconds, self._head_too_slow)
        super().data_received(data)
        # Checked after parsing: the chunk that completes a head may carry body bytes beyond it.
        if self._in_head and self._head_bytes > self.max_head_bytes and not self.transport.is_closing():
            self._close_with(431, "Request Header Fields Too Large", "request head too large")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_timer()
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is not None and self.cycle is not previous:
            _send_head_with_body(self.cycle)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0  # the timer starts with the next request's first byte

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a pipelined head behind a response in progress: that response decides
        self._close_with(408, "Request Timeout", "request head not received in time")

    def _close_with(self, status: int, reason: str, message: str) -> None:
        body = message.encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, reason.encode(), len(body), body)
        )
        self.transport.close()


class HeadHoldingTransport:
    """A response cycle's view of the connection that holds the response head until the first body bytes, so
    a small answer leaves in one write (one send, one segment) instead of two: uvicorn writes them apart, and
    those sends were a fifth of the CPU of a cheap request. Interim 1xx heads (100 Continue) pass at once."""

    __slots__ = ("_transport", "_head", "_head_seen")

    def __init__(self, transport: asyncio.Transport):
        self._transport = transport
        self._head: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes) -> None:
        if not self._head_seen and data.startswith(b"HTTP/") and data[9:10] != b"1":
            self._head, self._head_seen = data, True
            return
        if self._head is not None:
            data, self._head = self._head + data, None
        self._transport.write(data)

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _send_head_with_body(cycle: Any) -> None:
    """Gives uvicorn's cycle a head-holding transport, flushed when its response completes (a HEAD request's
    head has no body to travel with)."""
    transport = HeadHoldingTransport(cycle.transport)
    cycle.transport = transport
    completed = cycle.on_response

    def on_response() -> None:
        transport.flush()
        completed()

    cycle.on_response = on_response


def http_protocol(limits: HTTPLimits) -> type[asyncio.Protocol]:
    """The protocol class for uvicorn's `http=` option, bounded by `limits`."""
    return type(
        "BoundedHttpToolsProtocol",
        (BoundedHttpToolsProtocol,),
        {"max_head_bytes": limits.max_header_bytes, "head_seconds": limits.header_seconds},
    )


class BodyLimitMiddleware:
    """Answers 413 to a body larger than `max_bytes` and 408 to one not received within `seconds` of the
    request's start, in the service's error shape, whoever reads the body (a route or another middleware).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, seconds: float | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.seconds = HTTPLimits.from_env().body_seconds if seconds is None else seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            return await _refusal(scope, 413, self.too_large)(scope, receive, send)
        await _BoundedExchange(self, scope, receive, send).run()

    @property
    def too_large(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"


class NulRefusalMiddleware:
    """Answers 400 to a path or query with a NUL character (`%00`): no identifier holds one, PostgreSQL's text
    cannot store one, and a service would otherwise fail on it."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("\x00" in scope["path"] or b"%00" in scope["query_string"]):
            return await _refusal(scope, 400, "a NUL character (%00) is not allowed in a path or query")(
                scope, receive, send
            )
        await self.app(scope, receive, send)


class _BoundedExchange:
    """One request: its body read under the bounds; after a refusal the app sees a disconnect and its own
    answer is dropped."""

    def __init__(self, limits: BodyLimitMiddleware, scope: Scope, receive: Receive, send: Send):
        self.limits, self.scope, self._receive, self._send = limits, scope, receive, send
        self.deadline = time.monotonic() + limits.seconds
        self.received = 0
        self.body_done = False
        self.response_started = False
        self.refused = False

    async def run(self) -> None:
        await self.limits.app(self.scope, self.receive, self.send)

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        if self.body_done:  # e.g. a streaming response listening for the client's disconnect
            return await self._receive()
        try:
            message = await asyncio.wait_for(self._receive(), max(self.deadline - time.monotonic(), 0))
        except TimeoutError:
            return await self._refuse(408, f"request body not received within {self.limits.seconds:g} s")
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limits.max_bytes:
                return await self._refuse(413, self.limits.too_large)
            self.body_done = not message.get("more_body", False)
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        self.response_started = True
        await self._send(message)

    async def _refuse(self, status: int, message: str) -> Message:
        if not self.response_started:
            self.refused = True
            await _refusal(self.scope, status, message)(self.scope, self._receive, self._send)
        return {"type": "http.disconnect"}


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _refusal(scope: Scope, status: int, message: str) -> Response:
    """The error in the service's own shape (`install_error_handlers`), with the connection closed: the
    rest of the body is not read."""
    request = Request(scope)
    app = scope.get("app")
    renderer = getattr(getattr(app, "state", None), "error_renderer", None)
    response = renderer(request)(request, status, message, []) if renderer else JSONResponse({"error": message}, status)
    response.headers["Connection"] = "close"
    return response
